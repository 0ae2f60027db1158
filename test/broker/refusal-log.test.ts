import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DeviceRegistry } from '../../broker/registry.ts';
import { Broker } from '../../broker/server.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { addDevice, testBrokerDefaults } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';
import { clientPool, subscribeGranted } from './helpers.ts';

const pool = clientPool();
const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A broker whose log lines land in an array, to check what a hostile client can make it write. */
async function loggedBroker(): Promise<{ url: string; lines: Array<Record<string, unknown>>; registry: DeviceRegistry; metrics: ReturnType<typeof createMetricsRegistry> }> {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const registry = DeviceRegistry.open(tempDir('plaza-refusal-log'));
  const metrics = createMetricsRegistry(false);
  const broker = new Broker(
    { ...testBrokerDefaults, refusalLog: { windowMs: 2000, perKey: 2, total: 100 }, lockout: { baseDelayMs: 1, maxDelayMs: 1 } },
    registry,
    createLogger('info', sink),
    metrics,
  );
  await broker.start();
  stops.push(async () => {
    await broker.stop();
    registry.close();
  });
  return { url: `mqtt://127.0.0.1:${broker.ports.tcp}`, lines, registry, metrics };
}

describe('refusal log', () => {
  it('logs a hostile client a few times per window but counts every refusal', async () => {
    const b = await loggedBroker();
    const dev = await addDevice(b.registry, { id: 'door-a' });
    const client = await pool.connect(b.url, { clientId: dev.id, username: dev.username, password: dev.password });
    for (let i = 0; i < 30; i += 1) expect(await subscribeGranted(client, ['plaza/v1/#'])).toEqual([128]);
    const refused = (): Array<Record<string, unknown>> => b.lines.filter((l) => l.msg === 'refused');
    expect(refused()).toHaveLength(2);
    expect(refused()[0]).toMatchObject({ reason: 'devices may not subscribe with wildcards', clientId: 'door-a', address: '127.0.0.1' });
    const metric = await b.metrics.getSingleMetric('plaza_broker_refusals_total')?.get();
    expect(metric?.values.find((v) => v.labels.reason === 'devices may not subscribe with wildcards')?.value).toBe(30);
    await new Promise((resolve) => setTimeout(resolve, 2100)); // the (shortened) log window passes; 2 s leaves room for a loaded machine
    await subscribeGranted(client, ['plaza/v1/#']);
    expect(refused()).toHaveLength(3);
    expect(refused()[2]).toMatchObject({ suppressedSinceLast: 28 });
  });

  it('never logs the presented secret, even when it was pasted into the username', async () => {
    const b = await loggedBroker();
    const dev = await addDevice(b.registry, { id: 'door-a' });
    await pool.connect(b.url, { clientId: dev.id, username: dev.username, password: dev.password }).then((c) => c.endAsync());
    const attempts = [
      { clientId: dev.id, username: dev.username, password: `${dev.password}0` },
      { clientId: dev.id, username: dev.password, password: dev.password },
    ];
    for (const opts of attempts) await pool.connect(b.url, opts).catch(() => undefined);
    const text = b.lines.map((l) => JSON.stringify(l)).join('\n');
    expect(b.lines.filter((l) => l.reason === 'bad credentials')).toHaveLength(2);
    expect(text.includes(dev.password)).toBe(false);
  });
});
