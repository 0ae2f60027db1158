import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import Fastify from 'fastify';
import type { MqttClient } from 'mqtt';
import { vi } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry, type Registry } from '../../core/metrics.ts';
import { Ingest } from '../../ingest/index.ts';
import { ProbeProcessor } from '../../ingest/probe/processor.ts';
import { createStore } from '../../ingest/store/index.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import { registerPosRoutes } from '../../ops/routes/api/pos.ts';
import { platformTopics } from '../../protocol/platform.ts';
import { deviceTopic, encodePayload } from '../../protocol/topics.ts';
import { addDevice, connectClient, startTestBroker, type TestBroker } from '../support/broker.ts';
import { type InfluxHandle, startInfluxd } from '../support/influxd.ts';
import { tempDir } from '../support/tmp.ts';

export const mall = 'gmall';
export const db = 'plaza';
export const rp = 'plaza_400d';
export const stores = ['books', 'cafe', 'fashion'] as const;
export type StoreId = (typeof stores)[number];
const minuteMs = 60_000;

/** Door counts per 5-minute step: entries and exits each device adds, and how many steps it reports. */
const doorPlan: Record<StoreId, { in: number; out: number }> = { fashion: { in: 3, out: 2 }, books: { in: 2, out: 1 }, cafe: { in: 1, out: 1 } };
const doorSteps = 24;
/** The day before (the campaign baseline): one entry and one exit per 10-minute step. */
const baselineSteps = 12;
/** Phones seen by each store's probe: visitors stay 9 minutes close by, passers-by are seen once, far away. */
const probePlan: Partial<Record<StoreId, { visitors: number; passersBy: number }>> = { fashion: { visitors: 3, passersBy: 2 }, books: { visitors: 1, passersBy: 3 } };
const portalPlan = [
  { store: 'fashion', method: 'guest', member: false },
  { store: 'fashion', method: 'member', member: true },
  { store: 'books', method: 'signup', member: true },
] as const;
/** Point-of-sale transactions per store over the two door hours. */
const salesPlan: Record<StoreId, [number, number]> = { fashion: [20, 16], books: [5, 7], cafe: [6, 0] };

/** What the input above must make every dashboard show; computed from the plan, not read back. */
export interface Expected {
  entries: Record<StoreId, number>;
  exits: Record<StoreId, number>;
  occupancy: Record<StoreId, number>;
  baselineEntries: Record<StoreId, number>;
  visitors: number;
  passersBy: number;
  logins: number;
  memberLogins: number;
  signups: number;
  transactions: Record<StoreId, number>;
  devices: number;
  devicesOnline: number;
  campaign: { name: string; startMs: number; endMs: number; stores: string };
}

function expectedFromPlan(baseMs: number): Expected {
  const per = <T>(f: (s: StoreId) => T): Record<StoreId, T> => Object.fromEntries(stores.map((s) => [s, f(s)])) as Record<StoreId, T>;
  const probes = Object.values(probePlan);
  return {
    entries: per((s) => doorSteps * doorPlan[s].in),
    exits: per((s) => doorSteps * doorPlan[s].out),
    occupancy: per((s) => doorSteps * (doorPlan[s].in - doorPlan[s].out)),
    baselineEntries: per(() => baselineSteps),
    visitors: probes.reduce((n, p) => n + p.visitors, 0),
    passersBy: probes.reduce((n, p) => n + p.passersBy, 0),
    logins: portalPlan.length,
    memberLogins: portalPlan.filter((l) => l.member).length,
    signups: portalPlan.filter((l) => l.method === 'signup').length,
    transactions: per((s) => salesPlan[s][0] + salesPlan[s][1]),
    devices: stores.length + probes.length,
    devicesOnline: stores.length + probes.length - 1,
    campaign: { name: 'Spring sale', startMs: baseMs + 30 * minuteMs, endMs: baseMs + 90 * minuteMs, stores: 'fashion,books' },
  };
}

export interface GrafanaFixture {
  influx: InfluxHandle;
  metrics: Registry;
  /** Dashboard time range covering every point written (absolute, as a saved range would be). */
  fromMs: number;
  toMs: number;
  baseMs: number;
  expected: Expected;
  stop(): Promise<void>;
}

/**
 * A real influxd filled through the real path: devices publish door, probe and status readings and the portal
 * publishes login events over a real broker into a real Ingest; point-of-sale counts go through the ops API.
 * Campaign windows are written in the documented `campaign` shape, since the campaigns API does not exist yet.
 */
export async function startGrafanaFixture(): Promise<GrafanaFixture> {
  const dataDir = tempDir('grafana-fixture');
  const nowMs = Date.now();
  const baseMs = Math.floor(nowMs / minuteMs) * minuteMs - 150 * minuteMs;
  const expected = expectedFromPlan(baseMs);
  const clients: MqttClient[] = [];
  let broker: TestBroker | undefined;
  let influx: InfluxHandle | undefined;
  let ingest: Ingest | undefined;
  let store: TimeSeriesStore | undefined;
  const logStream = createWriteStream(path.join(dataDir, 'ingest.log'));
  const stop = async (): Promise<void> => {
    await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
    await ingest?.stop();
    await store?.close();
    await broker?.stop();
    await influx?.stop();
    await new Promise<void>((resolve) => logStream.end(resolve));
  };
  try {
    broker = await startTestBroker({ dataDir });
    influx = await startInfluxd();
    // The business day resets at the next full hour, so no reset falls inside the 2.5 h of data.
    const resetHour = (new Date(nowMs).getUTCHours() + 1) % 24;
    const config = loadConfig({
      env: { PLAZA_DATA_DIR: dataDir, PLAZA_HASH_SECRET: 'grafana-test-secret-0123456789', PLAZA_INFLUX_URL: influx.url, PLAZA_INFLUX_DB: db, PLAZA_INFLUX_RP: rp, PLAZA_INGEST_FLUSH_INTERVAL_MS: '50' },
      overrides: { malls: { [mall]: { timeZone: 'UTC', dayResetHour: resetHour } } },
    });
    const logger = createLogger('info', logStream);
    const metrics = createMetricsRegistry(false);
    store = createStore(config, logger);
    const registry = broker.registry;
    const ingestCreds = await registry.addService('ingest');
    ingest = new Ingest({
      config,
      logger,
      metrics,
      store,
      directory: { lookup: (id) => registry.getDevice(id) },
      probe: (settings) => new ProbeProcessor({ masterSecret: 'grafana-test-secret-0123456789', settings, logger }),
      mqtt: { url: broker.url, ...ingestCreds },
    });
    await ingest.start();

    const publish = async (creds: { id: string; username: string; password: string }, topic: string, payload: Buffer | string): Promise<void> => {
      let client = clients.find((c) => c.options.clientId === creds.id);
      if (client === undefined) {
        client = await connectClient(broker?.url ?? '', { clientId: creds.id, username: creds.username, password: creds.password });
        clients.push(client);
      }
      await client.publishAsync(topic, payload, { qos: 1 });
    };

    for (const s of stores) {
      const door = await addDevice(registry, { mall, store: s, kind: 'door', id: `door-${s}` });
      const topic = deviceTopic({ mall, store: s, device: door.id }, 'door');
      for (let n = 1; n <= baselineSteps; n += 1) {
        await publish(door, topic, encodePayload('door', { v: 1, boot: 'day-before', seq: n, ts: baseMs - 86_400_000 + n * 10 * minuteMs, in: n, out: n }));
      }
      for (let n = 1; n <= doorSteps; n += 1) {
        const ts = baseMs + (n - 1) * 5 * minuteMs + 30_000;
        await publish(door, topic, encodePayload('door', { v: 1, boot: 'today', seq: n, ts, in: n * doorPlan[s].in, out: n * doorPlan[s].out }));
      }
      await publish(door, deviceTopic({ mall, store: s, device: door.id }, 'status'), encodePayload('status', { v: 1, online: true, boot: 'today', ts: Date.now(), fw: '1.4.2', uptimeS: 9000, dropped: 0 }));
    }
    let phone = 0;
    for (const [s, plan] of Object.entries(probePlan) as [StoreId, { visitors: number; passersBy: number }][]) {
      const probe = await addDevice(registry, { mall, store: s, kind: 'probe', id: `probe-${s}` });
      const topic = deviceTopic({ mall, store: s, device: probe.id }, 'probe');
      const visitorMacs = Array.from({ length: plan.visitors }, () => globalMac(++phone));
      const passerMacs = Array.from({ length: plan.passersBy }, () => globalMac(++phone));
      for (let minute = 0; minute < 10; minute += 1) {
        const ts = baseMs + (10 + minute) * minuteMs + 15_000;
        const obs = visitorMacs.map((mac) => ({ mac, rssi: -50, ts }));
        if (minute === 5) obs.push(...passerMacs.map((mac) => ({ mac, rssi: -85, ts })));
        await publish(probe, topic, encodePayload('probe', { v: 1, boot: 'today', seq: minute + 1, ts, obs }));
      }
      await publish(probe, deviceTopic({ mall, store: s, device: probe.id }, 'status'), encodePayload('status', { v: 1, online: true, boot: 'today', ts: Date.now(), fw: '2.0.1', uptimeS: 9000, dropped: 3 }));
    }
    // The cafe's door counter drops off: the broker publishes its offline status, so one device is down.
    const cafe = clients.findIndex((c) => c.options.clientId === 'door-cafe');
    await clients[cafe]?.endAsync();
    clients.splice(cafe, 1);

    const portal = { id: 'portal-main', ...(await registry.addService('portal')) };
    for (const [i, login] of portalPlan.entries()) {
      const event = {
        v: 1,
        eventId: randomUUID(),
        ts: baseMs + (40 + i) * minuteMs,
        mall,
        store: login.store,
        gateway: 'plain',
        method: login.method,
        member: login.member,
        macTrusted: false,
        consents: { termsVersion: '2026-01', analytics: false, marketing: false },
      };
      await publish({ ...portal, id: portal.username }, platformTopics.portalLogin(mall, 'main'), JSON.stringify(event));
    }

    // Point-of-sale counts through the real ops route (hourly, as a POS export would send them); the bearer guard
    // in front of it is the ops server's and tested there.
    const ops = Fastify();
    const salesStore = store;
    await ops.register(async (api) => registerPosRoutes(api, { store: salesStore }), { prefix: '/api' });
    const intervals = stores.flatMap((s) =>
      salesPlan[s].map((transactions, hour) => ({ store: s, startMs: baseMs + hour * 3_600_000, endMs: baseMs + (hour + 1) * 3_600_000, transactions })),
    );
    const response = await ops.inject({ method: 'POST', url: '/api/pos/sales', payload: { v: 1, mall, intervals } });
    await ops.close();
    if (response.statusCode !== 200) throw new Error(`POST /api/pos/sales: ${response.statusCode} ${response.body} (log: ${path.join(dataDir, 'ingest.log')})`);

    const c = expected.campaign;
    await store.write([{ measurement: 'campaign', tags: { mall, campaign: 'spring-sale' }, fields: { name: c.name, stores: c.stores, end_ms: { int: c.endMs }, active: { int: 1 } }, tsMs: c.startMs }]);

    await waitForStored(ingest, store, baseMs, expected);
    return { influx, metrics, fromMs: baseMs - 86_400_000 - minuteMs, toMs: Date.now() + minuteMs, baseMs, expected, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A globally administered (not randomised) MAC, so every phone is one identity. */
function globalMac(n: number): string {
  return `00:1a:2b:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

/** Waits until ingest has stored every kind of point the plan produces. */
async function waitForStored(ingest: Ingest, store: TimeSeriesStore, baseMs: number, expected: Expected): Promise<void> {
  const range = { fromMs: baseMs - 2 * 86_400_000, toMs: Date.now() + 3_600_000 };
  const total = async (measurement: string, field: string, aggregate: 'sum' | 'count' = 'sum'): Promise<number> => {
    const rows = await store.query({ measurement, fields: [field], aggregate, where: { mall }, ...range });
    return rows.reduce((n, r) => n + (r.values[field] ?? 0), 0);
  };
  const wanted: [string, string, number, ('sum' | 'count')?][] = [
    ['footfall', 'entries', Object.values(expected.entries).reduce((a, b) => a + b, 0) + Object.values(expected.baselineEntries).reduce((a, b) => a + b, 0)],
    ['visits', 'visitors', expected.visitors],
    ['visits', 'passers_by', expected.passersBy],
    ['portal_login', 'logins', expected.logins],
    ['device_status', 'uptime_s', 9000 * expected.devices],
    // A heartbeat from every device and the broker's offline notice for the one that dropped off.
    ['device_status', 'online', expected.devices + expected.devices - expected.devicesOnline, 'count'],
  ];
  await vi.waitFor(
    async () => {
      await ingest.flush();
      for (const [measurement, field, value, aggregate] of wanted) {
        const got = await total(measurement, field, aggregate);
        if (got !== value) throw new Error(`${measurement}.${field}: stored ${got}, waiting for ${value}`);
      }
    },
    { timeout: 30_000, interval: 200 },
  );
}
