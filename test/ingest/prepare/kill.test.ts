import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../core/logger.ts';
import { SqliteStore } from '../../../ingest/store/sqlite.ts';
import type { TimeSeriesStore } from '../../../ingest/store/types.ts';
import { addDevice, startTestBroker } from '../../support/broker.ts';
import { freePort } from '../../support/ports.ts';
import { tempDir } from '../../support/tmp.ts';
import { ingestProcessEnv, spawnIngest, startIngest, TestDevice } from '../harness.ts';
import { probeBatches } from './batches.ts';

const stores = ['store-1', 'store-2', 'store-3'];
const batchesPerProbe = 100;

/** presence and devices_daily rows, as text, for comparing two runs. */
async function probeFigures(store: TimeSeriesStore, fromMs: number): Promise<string[]> {
  const rows: string[] = [];
  for (const measurement of ['presence', 'devices_daily']) {
    const found = await store.query({ measurement, fields: ['devices', 'visitors', 'unclustered'], aggregate: 'none', where: { mall: 'mall-1' }, fromMs, toMs: Date.now() + 60_000 });
    for (const row of found) rows.push(`${measurement} ${row.tags.store} ${row.tsMs} ${JSON.stringify(row.values)}`);
  }
  return rows.sort();
}

/**
 * `plaza ingest` as its own process with the prepare thread on, killed with SIGKILL while probe batches stream in
 * (many of them deferred within turns, their PUBACKs corked), then restarted: the figures must equal those of a
 * run that was never interrupted.
 */
describe('ingest killed while the prepare thread holds batches', { timeout: 240_000 }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  it('loses and doubles no probe batch', async () => {
    const brokerDir = tempDir('prepare-kill-broker');
    const broker = await startTestBroker({ dataDir: brokerDir });
    cleanups.push(() => broker.stop());
    const service = await broker.registry.addService('ingest');
    const devices = [];
    for (const store of stores) devices.push(await addDevice(broker.registry, { mall: 'mall-1', store, kind: 'probe' }));
    const baseMs = Math.floor((Date.now() - 5 * 3_600_000) / 60_000) * 60_000;
    const payloads = devices.map((_, i) => probeBatches(i, baseMs, batchesPerProbe));

    // The reference: the same batches through an in-process ingest that is never interrupted.
    const reference = await startIngest({ dataDir: tempDir('prepare-kill-reference'), registry: broker.registry, mqtt: { url: broker.url, ...service }, instance: 'reference', prepareThread: 'off' });
    const referenceProbes = await Promise.all(devices.map((creds) => TestDevice.connect(broker.url, creds)));
    await Promise.all(referenceProbes.flatMap((probe, i) => (payloads[i] ?? []).map((body) => probe.raw('probe', body))));
    for (const probe of referenceProbes) await probe.close();
    await vi.waitFor(
      async () => {
        const received = (await reference.metrics.getSingleMetric('plaza_ingest_messages_received_total')?.get())?.values.find((v) => v.labels.channel === 'probe')?.value;
        expect(received).toBe(stores.length * batchesPerProbe);
      },
      { timeout: 60_000, interval: 100 },
    );
    await reference.ingest.flush();
    const expected = await probeFigures(reference.store, baseMs - 86_400_000);
    await reference.stop();
    expect(expected.filter((row) => row.startsWith('presence')).length).toBeGreaterThan(stores.length * 100);

    // The run under test: its own instance name, so it gets its own persistent session; its data dir is the
    // broker's, where the device registry that maps probes to stores lives.
    const dataDir = brokerDir;
    const opsPort = await freePort();
    const env = ingestProcessEnv({ dataDir, mqttUrl: broker.url, service, opsPort, extra: { PLAZA_INGEST_INSTANCE: 'killed', PLAZA_INGEST_PREPARE_THREAD: 'on' } });
    let child: ChildProcess | undefined;
    const startChild = async (): Promise<void> => {
      child = await spawnIngest(env, opsPort);
      // Batches must go through the prepare thread: wait until it is up.
      await vi.waitFor(
        async () => expect(await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text()).toMatch(/^plaza_ingest_prepare_thread_up 1$/m),
        { timeout: 60_000, interval: 100 },
      );
    };
    const preparedOnThread = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${opsPort}/metrics`)).text();
      return Number(/^plaza_ingest_probe_prepared_total\{where="thread"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    cleanups.push(async () => {
      child?.kill('SIGKILL');
    });
    await startChild();

    const probes = await Promise.all(devices.map((creds) => TestDevice.connect(broker.url, creds)));
    cleanups.push(async () => {
      for (const probe of probes) await probe.close();
    });
    let acked = 0;
    // Ten batches in flight per probe, so ingest's turns hold several and defer them to the thread.
    const publishing = Promise.all(
      probes.map(async (probe, i) => {
        const bodies = payloads[i] ?? [];
        for (let next = 0; next < bodies.length; next += 10) {
          await Promise.all(bodies.slice(next, next + 10).map((body) => probe.raw('probe', body).then(() => (acked += 1))));
        }
      }),
    );
    await vi.waitFor(() => expect(acked).toBeGreaterThan(60), { timeout: 60_000, interval: 5 });
    expect(await preparedOnThread()).toBeGreaterThan(0);
    child?.kill('SIGKILL');
    await new Promise((resolve) => child?.once('exit', resolve));
    await startChild();
    await publishing;

    const store = new SqliteStore({ dataDir }, createLogger('silent'));
    await store.open();
    cleanups.push(() => store.close());
    await vi.waitFor(async () => expect(await probeFigures(store, baseMs - 86_400_000)).toEqual(expected), { timeout: 60_000, interval: 250 });
    expect(await preparedOnThread()).toBeGreaterThan(0);
  });
});
