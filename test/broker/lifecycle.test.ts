import type { IClientOptions, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceCredentials, ServiceCredentials } from '../../broker/registry.ts';
import { addDevice, addService, startTestBroker, type TestBroker } from '../support/broker.ts';
import { clientPool, closed, collect, eventually, nextMessageOn, refusalCode, subscribeGranted } from './helpers.ts';

const pool = clientPool();
let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.stop();
  tb = undefined;
});

async function setup(options: Parameters<typeof startTestBroker>[0] = {}): Promise<{ tb: TestBroker; dev: DeviceCredentials; ingest: ServiceCredentials }> {
  tb = await startTestBroker({ lockout: { baseDelayMs: 5, maxDelayMs: 20 }, ...options });
  return { tb, dev: await addDevice(tb.registry, { id: 'door-a' }), ingest: await addService(tb.registry, 'ingest') };
}

function asDevice(creds: DeviceCredentials, extra: IClientOptions = {}): IClientOptions {
  return { clientId: creds.id, username: creds.username, password: creds.password, ...extra };
}

async function watcher(t: TestBroker, ingest: ServiceCredentials, filter: string): Promise<MqttClient> {
  const client = await pool.connect(t.url, { clientId: `${ingest.username}-w`, username: ingest.username, password: ingest.password });
  expect(await subscribeGranted(client, [filter])).toEqual([1]);
  return client;
}

async function gauge(t: TestBroker): Promise<Record<string, number>> {
  const metric = await t.metrics.getSingleMetric('plaza_broker_clients')?.get();
  return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.type), v.value]));
}

const statusTopic = 'plaza/v1/mall-1/store-1/door-a/status';

describe('offline status', () => {
  it('publishes a retained {"online":false} when a device connection drops', async () => {
    const { tb: t, dev, ingest } = await setup();
    const device = await pool.connect(t.url, asDevice(dev));
    const watch = await watcher(t, ingest, statusTopic);
    const offline = nextMessageOn(watch, statusTopic);
    device.stream.destroy(); // an abrupt drop, no DISCONNECT
    const message = await offline;
    expect(JSON.parse(message.payload)).toMatchObject({ v: 1, online: false });
    // Retained: a platform component that starts later still learns the device is silent.
    const late = await pool.connect(t.url, { clientId: `${ingest.username}-late`, username: ingest.username, password: ingest.password });
    const retained = nextMessageOn(late, statusTopic);
    await subscribeGranted(late, [statusTopic]);
    const seen = await retained;
    expect(seen.retain).toBe(true);
    expect(JSON.parse(seen.payload)).toMatchObject({ online: false });
  });

  it("publishes the device's own last will as well, authorised like any publish", async () => {
    const { tb: t, dev, ingest } = await setup();
    const will = { topic: statusTopic, payload: Buffer.from('{"online":false,"v":1}'), qos: 1 as const, retain: true };
    const device = await pool.connect(t.url, asDevice(dev, { will }));
    const watch = await watcher(t, ingest, statusTopic);
    const seen = collect(watch);
    device.stream.destroy();
    await eventually(() => seen.length >= 2, 5000, 'will and broker status');
    expect(seen.map((m) => JSON.parse(m.payload) as { online: boolean }).every((p) => !p.online)).toBe(true);
  });

  it('does not mark a device offline when its own reconnect takes over the session', async () => {
    const { tb: t, dev, ingest } = await setup();
    const will = { topic: statusTopic, payload: Buffer.from('{"online":false}'), qos: 1 as const, retain: true };
    const first = await pool.connect(t.url, asDevice(dev, { will }));
    const watch = await watcher(t, ingest, statusTopic);
    const seen = collect(watch);
    const firstGone = closed(first);
    const second = await pool.connect(t.url, asDevice(dev));
    await firstGone;
    const heartbeat = JSON.stringify({ v: 1, online: true, boot: 'b2', ts: Date.now(), fw: '1.0', uptimeS: 1 });
    const sentinel = nextMessageOn(watch, statusTopic);
    await second.publishAsync(statusTopic, heartbeat, { qos: 1, retain: true });
    await sentinel;
    expect(seen.map((m) => m.payload)).toEqual([heartbeat]);
    expect((await gauge(t)).device).toBe(1);
  });
});

describe('connected gauge', () => {
  it('counts registered clients and never goes negative on refused or half-open connections', async () => {
    const { tb: t, dev, ingest } = await setup();
    const device = await pool.connect(t.url, asDevice(dev));
    await watcher(t, ingest, statusTopic);
    expect(await gauge(t)).toEqual({ device: 1, service: 1 });
    expect(await refusalCode(t.url, asDevice(dev, { password: 'wrong' }))).toBe(4);
    expect(await refusalCode(t.url, asDevice(dev, { clientId: 'someone-else' }))).toBe(5);
    await device.endAsync();
    const deadline = Date.now() + 2000;
    let values = await gauge(t);
    while (values.device !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      values = await gauge(t);
    }
    expect(values).toEqual({ device: 0, service: 1 });
  });
});

describe('lockout', () => {
  it('locks a client id out after repeated failures, even with the right secret, until it expires', async () => {
    const lockoutMs = 600;
    const { tb: t, dev } = await setup({ authFailuresBeforeLockout: 3, lockoutMs });
    for (let i = 0; i < 3; i += 1) expect(await refusalCode(t.url, asDevice(dev, { password: `guess-${i}` }))).toBe(4);
    const lockedAt = Date.now();
    expect(await refusalCode(t.url, asDevice(dev))).toBe(5);
    // Another device on the same address is not affected by one id's lockout.
    const other = await addDevice(t.registry, { id: 'door-b' });
    await pool.connect(t.url, asDevice(other));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, lockedAt + lockoutMs + 50 - Date.now())));
    const device = await pool.connect(t.url, asDevice(dev));
    expect(device.connected).toBe(true);
    const text = await t.metrics.metrics();
    expect(text).toMatch(/plaza_broker_auth_failures_total\{reason="locked_out"\} 1/);
  });

  it('slows down failed attempts: the CONNACK of a failure is delayed, growing per failure', async () => {
    const { tb: t, dev } = await setup({ authFailuresBeforeLockout: 10, lockout: { baseDelayMs: 100, maxDelayMs: 400 } });
    const started = Date.now();
    await refusalCode(t.url, asDevice(dev, { password: 'x' }));
    const first = Date.now() - started;
    const second0 = Date.now();
    await refusalCode(t.url, asDevice(dev, { password: 'y' }));
    const second = Date.now() - second0;
    expect(first).toBeGreaterThanOrEqual(95);
    expect(second).toBeGreaterThanOrEqual(195);
  });

  it('locks out an address that sprays client ids', async () => {
    const { tb: t, dev } = await setup({ authFailuresBeforeLockout: 100, addressFailuresBeforeLockout: 4, lockoutMs: 60_000 });
    for (let i = 0; i < 4; i += 1) expect(await refusalCode(t.url, { clientId: `spray-${i}`, username: `spray-${i}`, password: 'x' })).toBe(4);
    expect(await refusalCode(t.url, asDevice(dev))).toBe(5);
  });
});

describe('revocation and rotation', () => {
  it('disconnects a revoked device within the revalidation interval', async () => {
    const { tb: t, dev } = await setup({ revalidateIntervalMs: 100 });
    const device = await pool.connect(t.url, asDevice(dev));
    const gone = closed(device, 2000);
    t.registry.revokeDevice(dev.id);
    await gone;
    expect(await refusalCode(t.url, asDevice(dev))).toBe(4);
  });

  it('disconnects a device whose secret was rotated; the new secret works, the old one does not', async () => {
    const { tb: t, dev } = await setup({ revalidateIntervalMs: 100 });
    const device = await pool.connect(t.url, asDevice(dev));
    const gone = closed(device, 2000);
    const rotated = await t.registry.rotateDevice(dev.id);
    await gone;
    expect(await refusalCode(t.url, asDevice(dev))).toBe(4);
    const again = await pool.connect(t.url, asDevice(rotated));
    expect(again.connected).toBe(true);
  });

  it('keeps other devices connected through a revalidation', async () => {
    const { tb: t, dev } = await setup({ revalidateIntervalMs: 50 });
    const other = await addDevice(t.registry, { id: 'door-b' });
    const device = await pool.connect(t.url, asDevice(dev));
    const keeper = await pool.connect(t.url, asDevice(other));
    const gone = closed(device, 2000);
    t.registry.revokeDevice(dev.id);
    await gone;
    await new Promise((resolve) => setTimeout(resolve, 150)); // several more revalidation rounds
    expect(keeper.connected).toBe(true);
    await keeper.publishAsync(other.topic, JSON.stringify({ v: 1, boot: 'b', seq: 1, ts: Date.now(), in: 0, out: 0 }), { qos: 1 });
  });
});
