import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DeviceCredentials } from '../../../broker/registry.ts';
import { createLogger } from '../../../core/logger.ts';
import type { PrepareThreadOptions } from '../../../ingest/prepare/thread.ts';
import { ProbeProcessor } from '../../../ingest/probe/processor.ts';
import { deviceTopic } from '../../../protocol/topics.ts';
import { addDevice, startTestBroker, type TestBroker } from '../../support/broker.ts';
import { tempDir } from '../../support/tmp.ts';
import { hashSecret, type IngestUnderTest, startIngest, TestDevice } from '../harness.ts';
import { probeBatches } from './batches.ts';

async function counter(run: IngestUnderTest, name: string, label?: string): Promise<number> {
  const metric = (await run.metrics.getSingleMetric(name)?.get())?.values ?? [];
  return metric.filter((v) => label === undefined || Object.values(v.labels).includes(label)).reduce((sum, v) => sum + v.value, 0);
}

interface RunResult {
  stored: string[];
  preparedOnThread: number;
  preparedOnEventLoop: number;
  fallbacks: number;
  commits: number;
}

/**
 * The probe path end to end with a real aedes broker and SQLite, with and without the prepare thread. Whatever
 * prepares the batches, the stored figures must be the same, every message exactly once.
 */
const stores = ['store-1', 'store-2', 'store-3'];
const batchesPerProbe = 20;

describe('probe batches prepared on the prepare thread', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let service: { username: string; password: string };
  const devices: DeviceCredentials[] = [];
  const baseMs = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;
  let reference: RunResult;

  beforeAll(async () => {
    broker = await startTestBroker({ dataDir: tempDir('prepare-broker') });
    service = await broker.registry.addService('ingest');
    for (const store of stores) devices.push(await addDevice(broker.registry, { mall: 'mall-1', store, kind: 'probe' }));
    reference = await run('off');
  });

  afterAll(async () => {
    await broker?.stop();
  });

  async function run(prepareThread: 'on' | 'off', prepareThreadOptions?: Partial<PrepareThreadOptions>): Promise<RunResult> {
    const ingest = await startIngest({ dataDir: tempDir('prepare-ingest'), registry: broker.registry, mqtt: { url: broker.url, ...service }, prepareThread, prepareThreadOptions });
    const probes = await Promise.all(devices.map((creds) => TestDevice.connect(broker.url, creds)));
    try {
      // Everything in flight at once, so ingest's turns hold several probe messages each.
      await Promise.all(probes.flatMap((probe, i) => probeBatches(i, baseMs, batchesPerProbe).map((body) => probe.raw('probe', body))));
      const total = devices.length * batchesPerProbe;
      await vi.waitFor(async () => expect(await counter(ingest, 'plaza_ingest_messages_received_total', 'probe')).toBe(total), { timeout: 30_000, interval: 50 });
      await ingest.ingest.flush();
      const rows = [];
      for (const measurement of ['presence', 'devices_daily']) {
        const found = await ingest.store.query({ measurement, fields: ['devices', 'visitors', 'unclustered'], aggregate: 'none', where: { mall: 'mall-1' }, fromMs: baseMs - 86_400_000, toMs: Date.now() + 60_000 });
        for (const row of found) rows.push(`${measurement} ${row.tags.store} ${row.tsMs} ${JSON.stringify(row.values)}`);
      }
      const commitCount = (await ingest.metrics.getSingleMetric('plaza_ingest_commit_messages')?.get())?.values.find((v) => (v as { metricName?: string }).metricName === 'plaza_ingest_commit_messages_count')?.value ?? 0;
      return {
        stored: rows.sort(),
        preparedOnThread: await counter(ingest, 'plaza_ingest_probe_prepared_total', 'thread'),
        preparedOnEventLoop: await counter(ingest, 'plaza_ingest_probe_prepared_total', 'event_loop'),
        fallbacks: await counter(ingest, 'plaza_ingest_prepare_fallbacks_total'),
        commits: commitCount,
      };
    } finally {
      for (const probe of probes) await probe.close();
      await ingest.stop();
    }
  }

  it('stores what the event loop alone stores, every batch prepared on the thread', async () => {
    const total = devices.length * batchesPerProbe;
    expect(reference.preparedOnEventLoop).toBe(total);
    expect(reference.preparedOnThread).toBe(0);
    expect(reference.stored.filter((row) => row.startsWith('presence')).length).toBeGreaterThan(stores.length * 20);
    expect(reference.stored.filter((row) => row.startsWith('devices_daily')).length).toBeGreaterThanOrEqual(stores.length);

    const threaded = await run('on');
    expect(threaded.preparedOnThread).toBe(total);
    expect(threaded.preparedOnEventLoop).toBe(0);
    expect(threaded.fallbacks).toBe(0);
    // Turns held several messages: deferring within a turn was exercised.
    expect(threaded.commits).toBeLessThan(total);
    expect(threaded.stored).toEqual(reference.stored);
  });

  it('loses and doubles nothing when the thread dies mid-stream', async () => {
    const crashing = await run('on', { workerUrl: new URL('./fixtures/dying-worker.mjs', import.meta.url), replyTimeoutMs: 500, restartDelayMs: 200 });
    expect(crashing.fallbacks).toBeGreaterThan(0);
    expect(crashing.preparedOnThread).toBeGreaterThanOrEqual(2);
    expect(crashing.preparedOnThread + crashing.preparedOnEventLoop).toBe(devices.length * batchesPerProbe);
    expect(crashing.stored).toEqual(reference.stored);
  });

  it('rolls the whole turn back when a deferred message fails in a tick that runs inside the turn', async () => {
    // A tick can run while a turn is open (timers come before the turn's setImmediate). Here it applies the
    // deferred messages and the second one fails the way a full disk would; the tick logs and returns, so only
    // the turn's commit can stop the PUBACKs of the messages deferred with it.
    const failing = new Set([2]);
    const logger = createLogger('silent');
    const run = await startIngest({
      dataDir: tempDir('prepare-poison'),
      registry: broker.registry,
      mqtt: { url: broker.url, ...service },
      instance: 'poison',
      prepareThread: 'on',
      probe: (settings, members, optOuts) => new FailingProbe(failing, { masterSecret: hashSecret, settings, logger, members, optOuts }),
    });
    try {
      const ingest = run.ingest as unknown as { beginTurn(): void; commitTurn(): void; onMessage(t: string, p: Buffer, r: number): void; tick(): void };
      const creds = devices[0];
      if (creds === undefined) throw new Error('no device');
      const topic = deviceTopic({ mall: creds.mall, store: creds.store, device: creds.id }, 'probe');
      const bodies = probeBatches(0, baseMs, 3);
      const nowMs = Date.now();
      ingest.beginTurn();
      for (const body of bodies) ingest.onMessage(topic, Buffer.from(body), nowMs);
      ingest.tick();
      expect(() => ingest.commitTurn()).toThrow(/rolled back/);
      // Nothing of the turn was committed: seq 1 was applied before the failure but is not marked as processed.
      const db = new Database(path.join(run.config.dataDir, 'ingest.sqlite'), { readonly: true });
      try {
        expect(db.prepare('SELECT count(*) FROM probe_msg').pluck().get()).toBe(0);
      } finally {
        db.close();
      }
      // Redelivered in the next turn, every message is applied once.
      failing.clear();
      ingest.beginTurn();
      for (const body of bodies) ingest.onMessage(topic, Buffer.from(body), nowMs);
      ingest.commitTurn();
      const probe = (run.ingest as unknown as { probe: ProbeProcessor }).probe;
      expect(probe.stats.duplicateMessages).toBe(0);
      expect(probe.stats.sightings).toBe(40 + 3 * 40); // the first attempt's seq 1 (rolled back), then all three
    } finally {
      await run.stop();
    }
  });
});

/** Fails to apply the batches with the given seq numbers, as a state database that hit a full disk would. */
class FailingProbe extends ProbeProcessor {
  constructor(
    private readonly failing: Set<number>,
    options: ConstructorParameters<typeof ProbeProcessor>[0],
  ) {
    super(options);
  }

  override processPrepared(...args: Parameters<ProbeProcessor['processPrepared']>): ReturnType<ProbeProcessor['processPrepared']> {
    if (this.failing.has(args[1].seq)) throw new Error('SQLITE_FULL: database or disk is full');
    return super.processPrepared(...args);
  }
}
