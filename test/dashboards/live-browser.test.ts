import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { LiveView } from '../../dashboards/live/live-view.ts';
import { Ingest } from '../../ingest/index.ts';
import { ProbeProcessor } from '../../ingest/probe/processor.ts';
import { createStore } from '../../ingest/store/index.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import { OpsServer } from '../../ops/server.ts';
import { alertTopics } from '../../protocol/alerts.ts';
import { type AlertEvent, alertEventSchema } from '../../protocol/payloads/alert.ts';
import { encodePayload } from '../../protocol/topics.ts';
import { hashSecret, TestDevice } from '../ingest/harness.ts';
import { addDevice, connectClient, startTestBroker, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';
import { launchChromium } from '../support/chromium.ts';

const token = 'ops-admin-token-for-the-live-test';
const minute = 60_000;

let broker: TestBroker;
let store: TimeSeriesStore;
let ingest: Ingest;
let live: LiveView;
let ops: OpsServer;
let opsPort: number;
let context: BrowserContext;
let page: Page;
let doorA: TestDevice;
let doorB: TestDevice;
let alertClient: MqttClient;
const alerts: AlertEvent[] = [];
const socketUrls: string[] = [];

const dataDir = tempDir('plaza-live-e2e');
const logStream = createWriteStream(path.join(dataDir, 'test.log'));
const logger = createLogger('debug', logStream);
// Every component reads the same configuration, as in `plaza start`: ingest's occupancy and the live view agree.
const config = configSchema.parse({
  dataDir,
  ingest: { hashSecret, flushIntervalMs: 50 },
  malls: { m1: { name: 'Plaza One', stores: { a: { name: 'Apple Store', capacity: 5 }, b: { name: 'Bakery' } } } },
});

function startOps(port: number): Promise<void> {
  ops = new OpsServer({ host: '127.0.0.1', port, token, metrics: createMetricsRegistry(false), logger, health: {}, store, live });
  return ops.start();
}

beforeAll(async () => {
  broker = await startTestBroker();
  const credsA = await addDevice(broker.registry, { mall: 'm1', store: 'a', id: 'door-a1' });
  const credsB = await addDevice(broker.registry, { mall: 'm1', store: 'b', id: 'door-b1' });
  store = createStore(config, logger);
  ingest = new Ingest({
    config,
    logger,
    metrics: createMetricsRegistry(false),
    store,
    directory: { lookup: (id) => broker.registry.getDevice(id) },
    probe: (settings) => new ProbeProcessor({ masterSecret: hashSecret, settings, logger }),
    mqtt: { url: broker.url, ...(await broker.registry.addEphemeralService('ingest')) },
  });
  live = new LiveView({ config, store, registry: broker.registry, logger, mqtt: { url: broker.url, ...(await broker.registry.addEphemeralService('ingest', 'alerts')) } });
  ingest.onCommitted((points) => live.accept(points));
  await ingest.start();
  await live.start();
  await startOps(0);
  opsPort = ops.port;

  const listener = await broker.registry.addEphemeralService('ops', 'listener');
  alertClient = await connectClient(broker.url, { username: listener.username, password: listener.password, clientId: `${listener.username}-t` });
  await alertClient.subscribeAsync(alertTopics.alertsFilter('+'), { qos: 1 });
  alertClient.on('message', (_topic, payload) => alerts.push(alertEventSchema.parse(JSON.parse(payload.toString('utf8')))));

  doorA = await TestDevice.connect(broker.url, credsA);
  doorB = await TestDevice.connect(broker.url, credsB);
  context = await launchChromium();
  page = await context.newPage();
  page.on('websocket', (ws) => socketUrls.push(ws.url()));
});

afterAll(async () => {
  await context?.close();
  await doorA?.close();
  await doorB?.close();
  await alertClient?.endAsync();
  await ops?.stop();
  await live?.stop();
  await ingest?.stop();
  await broker?.stop();
  logStream.end();
});

const card = (store: string) => page.locator(`article[data-store="${store}"]`);
const storeField = (store: string, field: string) => card(store).locator(`[data-field="${field}"]`);
const totalField = (field: string) => page.locator(`.totals [data-field="${field}"]`);
const numberOf = async (text: Promise<string | null>): Promise<number> => Number((await text)?.replace(/[^\d]/g, ''));

/** What the time-series store holds for a store: entries over the live page's 15- and 60-minute windows, and occupancy. */
async function stored(storeId: string): Promise<{ entries15: number; entries60: number; occupancy: number }> {
  await ingest.flush();
  const nowMs = Date.now();
  const current = Math.floor(nowMs / minute) * minute;
  const sum = async (minutes: number): Promise<number> => {
    const rows = await store.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', where: { mall: 'm1', store: storeId }, fromMs: current - (minutes - 1) * minute, toMs: current + minute });
    return rows[0]?.values.entries ?? 0;
  };
  const last = await store.query({ measurement: 'footfall', fields: ['occupancy'], aggregate: 'last', where: { mall: 'm1', store: storeId }, fromMs: current - 60 * minute, toMs: current + minute });
  return { entries15: await sum(15), entries60: await sum(60), occupancy: last[0]?.values.occupancy ?? 0 };
}

describe('live page in headless Chromium against a running broker, ingest and ops server', () => {
  it('asks for the token once, refuses a wrong one, then shows the mall', async () => {
    await page.goto(`http://127.0.0.1:${opsPort}/live`);
    await page.getByLabel('Ops API token').fill('wrong-token-0000000000');
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect.poll(() => page.locator('#login-error').textContent()).toContain('not accepted');
    await page.getByLabel('Ops API token').fill(token);
    await page.getByRole('button', { name: 'Connect' }).click();
    await expect.poll(() => page.locator('#mall-name').textContent()).toBe('Plaza One');
    expect(await page.locator('#login').isHidden()).toBe(true);
    expect(await card('a').locator('h3').textContent()).toBe('Apple Store');
    expect(await page.locator('#status').getAttribute('data-state')).toBe('connected');
    // The token travels in the first WebSocket message, never in a URL.
    expect(socketUrls.length).toBeGreaterThan(0);
    for (const url of socketUrls) expect(url).not.toContain(token);
  });

  it('changes the numbers as door readings arrive, and they match the store', async () => {
    const now = Date.now();
    await doorA.raw('status', encodePayload('status', { v: 1, online: true, boot: 'boot-1', ts: now, fw: '1.0.0', uptimeS: 60 }));
    await doorA.door(1, now, 3, 0);
    await doorB.door(1, now, 2, 1);
    await expect.poll(() => numberOf(storeField('a', 'entries15').textContent())).toBe(3);
    await expect.poll(() => numberOf(totalField('entries15').textContent())).toBe(5);
    await expect.poll(async () => storeField('a', 'devices').textContent()).toBe('1 / 1');
    expect(await storeField('b', 'devices').textContent()).toBe('0 / 1');

    await doorA.door(2, Date.now(), 4, 1);
    await expect.poll(() => numberOf(storeField('a', 'entries15').textContent())).toBe(4);
    expect(await numberOf(storeField('a', 'occupancy').textContent())).toBe(3);
    for (const id of ['a', 'b']) {
      const truth = await stored(id);
      expect(await numberOf(storeField(id, 'entries15').textContent())).toBe(truth.entries15);
      expect(await numberOf(storeField(id, 'entries60').textContent())).toBe(truth.entries60);
      expect(await numberOf(storeField(id, 'occupancy').textContent())).toBe(truth.occupancy);
    }
    expect(await numberOf(totalField('occupancy').textContent())).toBe((await stored('a')).occupancy + (await stored('b')).occupancy);
    // The JSON API shows the same figures as the page.
    const api = await fetch(`http://127.0.0.1:${opsPort}/api/live?mall=m1`, { headers: { authorization: `Bearer ${token}` } });
    const snapshot = (await api.json()) as { totals: { entries15: number; occupancy: number } };
    expect(snapshot.totals.entries15).toBe(await numberOf(totalField('entries15').textContent()));
  });

  it('raises an over-capacity alert live, on MQTT and in the alert API', async () => {
    await doorA.door(3, Date.now(), 10, 1); // occupancy 9 > capacity 5
    await expect.poll(() => page.locator('#alert-list li[data-kind="occupancy_over_capacity"]').count()).toBe(1);
    expect(await page.locator('#alert-list li').first().textContent()).toContain('Over capacity: 9 inside, capacity 5');
    expect(await card('a').getAttribute('class')).toContain('alerting');
    await expect.poll(() => alerts.length).toBeGreaterThan(0);
    expect(alerts[0]).toMatchObject({ event: 'raised', kind: 'occupancy_over_capacity', mall: 'm1', store: 'a', detail: { occupancy: 9, capacity: 5 } });
    const history = await fetch(`http://127.0.0.1:${opsPort}/api/alerts?mall=m1`, { headers: { authorization: `Bearer ${token}` } });
    expect(((await history.json()) as { alerts: { id: string }[] }).alerts.map((a) => a.id)).toEqual([alerts[0]?.id]);

    await doorA.door(4, Date.now(), 10, 7); // occupancy 3: cleared
    await expect.poll(() => page.locator('#alert-list li').count()).toBe(0);
    await expect.poll(() => alerts.map((a) => a.event)).toEqual(['raised', 'cleared']);
  });

  it('switches to Chinese and back, and keeps token and language across a reload', async () => {
    await page.getByRole('button', { name: '中文' }).click();
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    expect(await page.locator('.totals [data-total="entries15"] .label').textContent()).toBe('15 分钟进店');
    expect(await card('a').locator('dt').first().textContent()).toBe('15 分钟进店');
    await page.reload();
    await expect.poll(() => page.locator('#status').getAttribute('data-state')).toBe('connected');
    expect(await page.locator('#login').isHidden()).toBe(true);
    expect(await page.locator('#status').textContent()).toBe('实时');
    await page.getByRole('button', { name: 'English' }).click();
    expect(await page.locator('#status').textContent()).toBe('Live');
  });

  it('reconnects by itself when the ops server restarts', async () => {
    await ops.stop();
    await expect.poll(() => page.locator('#status').getAttribute('data-state')).toBe('reconnecting');
    await startOps(opsPort);
    await expect.poll(() => page.locator('#status').getAttribute('data-state'), { timeout: 10_000 }).toBe('connected');
    await doorB.door(2, Date.now(), 6, 1);
    await expect.poll(() => numberOf(storeField('b', 'entries15').textContent())).toBe(6);
    expect((await stored('b')).entries15).toBe(6);
  });
});
