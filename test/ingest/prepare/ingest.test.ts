import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DeviceCredentials } from '../../../broker/registry.ts';
import type { PrepareThreadOptions } from '../../../ingest/prepare/thread.ts';
import { addDevice, startTestBroker, type TestBroker } from '../../support/broker.ts';
import { tempDir } from '../../support/tmp.ts';
import { type IngestUnderTest, startIngest, TestDevice } from '../harness.ts';

/** Seeded PRNG (mulberry32), so every run publishes the same batches. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const stores = ['store-1', 'store-2', 'store-3'];
const batchesPerProbe = 20;
const sightingsPerBatch = 40;

/** Per probe, batches of sightings over the last 40 minutes from a pool of global, randomized (fp + sn) and associated phones. */
function batches(probeIndex: number, baseMs: number): string[] {
  const random = rng(1000 + probeIndex);
  const byte = () => Math.floor(random() * 256).toString(16).padStart(2, '0');
  const phones = Array.from({ length: 30 }, (_, i) => {
    const kind = i % 3;
    const first = kind === 0 ? '3c' : 'da'; // 0x3c: global; 0xda: locally administered (randomized)
    return { mac: `${first}:${byte()}:${byte()}:${byte()}:${byte()}:${byte()}`, kind, fp: `f${i % 4}c0ffee`, sn: Math.floor(random() * 4000) };
  });
  return Array.from({ length: batchesPerProbe }, (_, b) => {
    const obs = Array.from({ length: sightingsPerBatch }, () => {
      const phone = phones[Math.floor(random() * phones.length)] ?? phones[0];
      if (phone === undefined) throw new Error('no phone');
      phone.sn = (phone.sn + 1) % 4096;
      const ts = baseMs + b * 2 * 60_000 + Math.floor(random() * 120_000);
      const rssi = -40 - Math.floor(random() * 50);
      return phone.kind === 0 ? { mac: phone.mac, rssi, ts } : phone.kind === 1 ? { mac: phone.mac, rssi, ts, fp: phone.fp, sn: phone.sn } : { mac: phone.mac, rssi, ts, assoc: true };
    });
    return JSON.stringify({ v: 1, boot: 'p-1', seq: b + 1, ts: baseMs + (b + 1) * 2 * 60_000, obs });
  });
}

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
      await Promise.all(probes.flatMap((probe, i) => batches(i, baseMs).map((body) => probe.raw('probe', body))));
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
});
