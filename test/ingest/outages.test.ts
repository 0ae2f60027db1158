import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import { addDevice, startTestBroker, type TestBroker } from '../support/broker.ts';
import { type InfluxHandle, startInfluxd } from '../support/influxd.ts';
import { freePort } from '../support/ports.ts';
import { tempDir } from '../support/tmp.ts';
import { expectTotals, footfallTotals, type IngestUnderTest, ingestProcessEnv, spawnIngest, startIngest, TestDevice } from './harness.ts';

const mall = 'mall-1';

// Real processes are started, killed and restarted here: generous timeouts, as CI machines may be loaded.
describe('ingest outages', { timeout: 240_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  it('keeps totals exact when InfluxDB is killed mid-stream and comes back', async () => {
    const dataDir = tempDir('influx-outage');
    const broker = await startTestBroker({ dataDir });
    cleanups.push(() => broker.stop());
    const influxd: InfluxHandle = await startInfluxd();
    cleanups.push(() => influxd.stop());
    const service = await broker.registry.addService('ingest');
    const device = await TestDevice.connect(broker.url, await addDevice(broker.registry, { mall, store: 'store-1' }));
    cleanups.push(() => device.close());
    const run: IngestUnderTest = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: broker.url, ...service }, influxUrl: influxd.url, batchSize: 50 });
    cleanups.push(() => run.stop());

    const base = Math.floor(Date.now() / 60_000) * 60_000 - 90 * 60_000;
    let total = 0;
    const publish = async (from: number, to: number): Promise<void> => {
      for (let seq = from; seq < to; seq += 1) {
        total += 1 + (seq % 3);
        await device.door(seq, base + seq * 10_000, total, Math.floor(total / 2));
      }
    };
    await publish(1, 150);
    await influxd.kill();
    await publish(150, 300);
    await vi.waitFor(() => expect(run.ingest.health().store).toBe('spooling'), { timeout: 10_000, interval: 100 });
    expect(run.ingest.health().ok).toBe(true); // spooling is healthy: nothing is lost
    expect(run.ingest.health().spoolPoints).toBeGreaterThan(0);
    await influxd.restart();
    await publish(300, 400);
    await expectTotals(() => run.ingest.flush(), run.store, mall, base, base + 3 * 3_600_000, { 'store-1': { entries: total, exits: Math.floor(total / 2) } }, 30_000);
  });

  it('loses nothing and counts nothing twice when the ingest process is killed with SIGKILL', async () => {
    const dataDir = tempDir('ingest-kill');
    const broker: TestBroker = await startTestBroker({ dataDir });
    cleanups.push(() => broker.stop());
    const service = await broker.registry.addService('ingest');
    const device = await TestDevice.connect(broker.url, await addDevice(broker.registry, { mall, store: 'store-1' }));
    cleanups.push(() => device.close());
    const opsPort = await freePort();
    const env = ingestProcessEnv({ dataDir, mqttUrl: broker.url, service, opsPort });
    let child: ChildProcess | undefined;
    const startChild = async (): Promise<void> => {
      child = await spawnIngest(env, opsPort);
    };
    cleanups.push(async () => {
      child?.kill('SIGKILL');
    });

    await startChild();
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 60 * 60_000;
    let total = 0;
    const publishing = (async () => {
      for (let seq = 1; seq <= 1500; seq += 1) {
        total += 1;
        await device.door(seq, base + seq * 2000, total, 0);
      }
    })();
    await vi.waitFor(() => expect(total).toBeGreaterThan(500), { timeout: 60_000, interval: 10 });
    child?.kill('SIGKILL');
    await new Promise((resolve) => child?.once('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await startChild();
    await publishing;

    const store = new SqliteStore({ dataDir }, createLogger('silent'));
    await store.open();
    cleanups.push(() => store.close());
    await expectTotals(async () => {}, store, mall, base, base + 2 * 3_600_000, { 'store-1': { entries: 1500, exits: 0 } }, 30_000);
  });
});

describe('scale-out by mall', { timeout: 120_000 }, () => {
  const dataDirs = [tempDir('ingest-part-1'), tempDir('ingest-part-2')];
  let broker: TestBroker;
  let runs: IngestUnderTest[] = [];

  afterAll(async () => {
    for (const run of runs) await run.stop();
    await broker?.stop();
  });

  it('splits malls between instances with no overlap and no gap', async () => {
    broker = await startTestBroker({ dataDir: tempDir('ingest-part-broker') });
    const service = await broker.registry.addService('ingest');
    const north = await TestDevice.connect(broker.url, await addDevice(broker.registry, { mall: 'north', store: 's1' }));
    const south = await TestDevice.connect(broker.url, await addDevice(broker.registry, { mall: 'south', store: 's1' }));
    runs = [
      await startIngest({ dataDir: dataDirs[0] as string, registry: broker.registry, mqtt: { url: broker.url, ...service }, malls: ['north'], instance: 'north' }),
      await startIngest({ dataDir: dataDirs[1] as string, registry: broker.registry, mqtt: { url: broker.url, ...service }, malls: ['south'], instance: 'south' }),
    ];
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
    await north.door(1, base, 4, 1);
    await south.door(1, base, 6, 2);
    const [first, second] = runs as [IngestUnderTest, IngestUnderTest];
    await expectTotals(() => first.ingest.flush(), first.store, 'north', base, base + 60_000, { s1: { entries: 4, exits: 1 } });
    await expectTotals(() => second.ingest.flush(), second.store, 'south', base, base + 60_000, { s1: { entries: 6, exits: 2 } });
    expect(await footfallTotals(first.store, 'south', base, base + 60_000)).toEqual({});
    await north.close();
    await south.close();
  });
});
