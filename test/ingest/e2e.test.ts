import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ServiceCredentials } from '../../broker/registry.ts';
import { posTopics } from '../../protocol/pos.ts';
import { addDevice, connectClient, startTestBroker, type TestBroker } from '../support/broker.ts';
import { type InfluxHandle, startInfluxd } from '../support/influxd.ts';
import { type MosquittoHandle, startMosquitto } from '../support/mosquitto.ts';
import { tempDir } from '../support/tmp.ts';
import { expectTotals, type IngestUnderTest, startIngest, TestDevice } from './harness.ts';

const mall = 'mall-1';

/**
 * Publishes a script of door readings with a duplicate, a gap, a late (reordered) reading, a reboot and a
 * counter reset; returns the exact totals a correct ingest must store.
 */
async function publishScript(devices: { a: TestDevice; b: TestDevice; c: TestDevice }, baseMs: number): Promise<Record<string, { entries: number; exits: number }>> {
  const { a, b, c } = devices;
  const at = (minute: number, seconds = 0): number => baseMs + minute * 60_000 + seconds * 1000;
  await a.door(1, at(0, 5), 5, 1, 'a1');
  await a.door(1, at(0, 5), 5, 1, 'a1'); // duplicate
  await a.door(4, at(3, 1), 12, 4, 'a1'); // seq 2 lost; seq 3 comes late
  await a.door(3, at(2, 30), 9, 2, 'a1');
  await a.door(1, at(5, 0), 3, 3, 'a2'); // reboot: new boot id, totals from zero
  await a.door(2, at(6, 0), 6, 4, 'a2');
  await b.door(1, at(0, 10), 2, 0, 'b1');
  await b.door(2, at(1, 10), 4, 1, 'b1');
  await b.door(3, at(2, 10), 1, 0, 'b1'); // falling totals: counter reset within the boot
  await b.door(4, at(3, 10), 3, 2, 'b1');
  for (let i = 0; i < 3; i += 1) await c.door(1, at(1, 0), 10, 10, 'c1');
  return { 'store-1': { entries: 18 + 7, exits: 8 + 3 }, 'store-2': { entries: 10, exits: 10 } };
}

async function connectDevices(url: string, creds: Awaited<ReturnType<typeof addDevice>>[]): Promise<{ a: TestDevice; b: TestDevice; c: TestDevice }> {
  const [a, b, c] = await Promise.all(creds.map((cred) => TestDevice.connect(url, cred)));
  return { a: a as TestDevice, b: b as TestDevice, c: c as TestDevice };
}

describe.each([
  { name: 'embedded SQLite store', influx: false },
  { name: 'real InfluxDB', influx: true },
])('ingest with the embedded aedes broker and the $name', { timeout: 120_000 }, ({ influx }) => {
  let broker: TestBroker;
  let influxd: InfluxHandle | undefined;
  let service: ServiceCredentials;
  let devices: { a: TestDevice; b: TestDevice; c: TestDevice };
  let run: IngestUnderTest;
  const dataDir = tempDir('ingest-e2e');

  beforeAll(async () => {
    broker = await startTestBroker({ dataDir });
    if (influx) influxd = await startInfluxd();
    service = await broker.registry.addService('ingest');
    const creds = await Promise.all([
      addDevice(broker.registry, { mall, store: 'store-1', id: 'door-a' }),
      addDevice(broker.registry, { mall, store: 'store-1', id: 'door-b' }),
      addDevice(broker.registry, { mall, store: 'store-2', id: 'door-c' }),
    ]);
    devices = await connectDevices(broker.url, creds);
    run = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: broker.url, ...service }, ...(influxd ? { influxUrl: influxd.url } : {}) });
  });

  afterAll(async () => {
    await Promise.all(Object.values(devices ?? {}).map((d) => d.close()));
    await run?.stop();
    await broker?.stop();
    await influxd?.stop();
  });

  it('stores exact entries and exits despite duplicates, gaps, reordering, reboots and resets', async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
    const expected = await publishScript(devices, base);
    await expectTotals(() => run.ingest.flush(), run.store, mall, base - 60_000, base + 3_600_000, expected);
    // Totals can be right before the last repeat is processed: a repeat changes nothing, which is the point.
    await vi.waitFor(() => expect(run.ingest.doorStats?.duplicates).toBe(3), { timeout: 30_000, interval: 50 });
  });

  it('delivers readings published while ingest was down (persistent session)', async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 120 * 60_000;
    await run.stop();
    await devices.c.door(1, base, 4, 0, 'offline-boot');
    await devices.c.door(2, base + 60_000, 9, 2, 'offline-boot');
    run = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: broker.url, ...service }, ...(influxd ? { influxUrl: influxd.url } : {}) });
    await expectTotals(() => run.ingest.flush(), run.store, mall, base, base + 10 * 60_000, { 'store-2': { entries: 9, exits: 2 } });
  });

  it('dead-letters malformed and hostile payloads and keeps going', async () => {
    const hostile: (string | Buffer)[] = [
      'not json',
      '{"v":1,"boot":"x","seq":"1","ts":1,"in":1,"out":1}',
      '{"v":1,"boot":"x","seq":1,"ts":NaN,"in":1,"out":1}',
      JSON.stringify({ v: 1, boot: 'x', seq: 1, ts: Date.now(), in: 'many', out: 1 }),
      `${'['.repeat(50_000)}${']'.repeat(50_000)}`,
      JSON.stringify({ v: 1, boot: 'x', seq: 1, ts: Date.now(), in: 1, out: 1, extra: 'junk' }),
      Buffer.from([0xff, 0xfe, 0x00, 0x01]),
    ];
    for (const payload of hostile) await devices.b.raw('door', payload);
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 200 * 60_000;
    await devices.b.door(1, base, 3, 1, 'after-junk');
    await expectTotals(() => run.ingest.flush(), run.store, mall, base, base + 60_000, { 'store-1': { entries: 3, exits: 1 } });
    const metrics = await run.metrics.getSingleMetricAsString('plaza_ingest_messages_invalid_total');
    const invalid = [...metrics.matchAll(/kind="invalid"\} (\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(invalid).toBeGreaterThanOrEqual(hostile.length);
  });
});

describe('point-of-sale counts over MQTT', { timeout: 120_000 }, () => {
  it('reach the store through the pos service account, and overlapping reports are refused', async () => {
    const dataDir = tempDir('ingest-pos');
    const broker = await startTestBroker({ dataDir });
    const run = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: broker.url, ...(await broker.registry.addService('ingest')) } });
    const pos = await broker.registry.addService('pos', 'till-bridge');
    const client = await connectClient(broker.url, { clientId: `${pos.username}-1`, username: pos.username, password: pos.password });
    try {
      const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 3_600_000;
      const report = (transactions: number, startMs: number, endMs: number) =>
        JSON.stringify({ v: 1, mall, intervals: [{ store: 'store-1', startMs, endMs, transactions }] });
      const topic = posTopics.sales(mall, 'till-bridge');
      await client.publishAsync(topic, report(42, hour, hour + 3_600_000), { qos: 1 });
      await client.publishAsync(topic, report(7, hour + 1_800_000, hour + 5_400_000), { qos: 1 }); // overlaps: refused
      await client.publishAsync(topic, report(40, hour, hour + 3_600_000), { qos: 1 }); // same interval: a correction
      await vi.waitFor(
        async () => {
          await run.ingest.flush();
          const rows = await run.store.query({ measurement: 'sales', fields: ['transactions'], aggregate: 'sum', where: { mall }, fromMs: hour - 3_600_000, toMs: hour + 7_200_000 });
          expect(rows[0]?.values.transactions).toBe(40);
        },
        { timeout: 30_000, interval: 100 },
      );
      const invalid = await run.metrics.getSingleMetricAsString('plaza_ingest_messages_invalid_total');
      expect(invalid).toMatch(/kind="rejected"\} 1/);
    } finally {
      await client.endAsync();
      await run.stop();
      await broker.stop();
    }
  });
});

describe('ingest against a real Mosquitto broker', { timeout: 120_000 }, () => {
  let mosquitto: MosquittoHandle;
  let broker: TestBroker; // only for its device registry: ingest maps devices to stores through it
  let run: IngestUnderTest;
  let devices: { a: TestDevice; b: TestDevice; c: TestDevice };
  let service: ServiceCredentials;
  const dataDir = tempDir('ingest-mosquitto');

  beforeAll(async () => {
    broker = await startTestBroker({ dataDir });
    service = await broker.registry.addService('ingest');
    const creds = await Promise.all([
      addDevice(broker.registry, { mall, store: 'store-1', id: 'door-a' }),
      addDevice(broker.registry, { mall, store: 'store-1', id: 'door-b' }),
      addDevice(broker.registry, { mall, store: 'store-2', id: 'door-c' }),
    ]);
    mosquitto = await startMosquitto({ users: [service, ...creds].map((c) => ({ username: c.username, password: c.password })) });
    devices = await connectDevices(mosquitto.url, creds);
    run = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: mosquitto.url, ...service } });
  });

  afterAll(async () => {
    await Promise.all(Object.values(devices ?? {}).map((d) => d.close()));
    await run?.stop();
    await mosquitto?.stop();
    await broker?.stop();
  });

  it('stores exact totals', async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;
    const expected = await publishScript(devices, base);
    await expectTotals(() => run.ingest.flush(), run.store, mall, base - 60_000, base + 3_600_000, expected);
  });

  it('receives what was published while ingest was down', async () => {
    const base = Math.floor(Date.now() / 60_000) * 60_000 - 120 * 60_000;
    await run.stop();
    await devices.a.door(1, base, 7, 3, 'mq-offline');
    run = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: mosquitto.url, ...service } });
    await expectTotals(() => run.ingest.flush(), run.store, mall, base, base + 60_000, { 'store-1': { entries: 7, exits: 3 } });
  });
});
