import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { DoorCounter } from '../../firmware-sim/device/door.ts';
import { DeviceLink } from '../../firmware-sim/device/link.ts';
import { WifiProbe } from '../../firmware-sim/device/probe.ts';
import { DeviceFaults, selectFaults } from '../../firmware-sim/faults.ts';
import { demoMallFile, type FaultsConfig, loadMallConfig } from '../../firmware-sim/mall-config.ts';
import { provisionDevices } from '../../firmware-sim/provision.ts';
import { Random } from '../../firmware-sim/random.ts';
import { MemoryTruth } from '../../firmware-sim/truth.ts';
import { parsePayload } from '../../protocol/topics.ts';
import { addService, connectClient, ConnectError, startTestBroker, type TestBroker } from '../support/broker.ts';

const logger = createLogger('silent');
const noFaults = selectFaults(loadMallConfig(demoMallFile).faults, 'none');
const t0 = Date.parse('2026-03-07T12:00:00+08:00');
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function broker(options: Parameters<typeof startTestBroker>[0] = {}): Promise<TestBroker> {
  const b = await startTestBroker(options);
  cleanups.push(() => b.stop());
  return b;
}

/** A service client that records every message under plaza/v1/. */
async function listen(b: TestBroker): Promise<{ client: MqttClient; messages: { topic: string; payload: Buffer }[] }> {
  const svc = await addService(b.registry, 'sim', `listen-${Math.floor(Math.random() * 1e6)}`);
  const client = await connectClient(b.url, { clientId: svc.username, username: svc.username, password: svc.password });
  cleanups.push(() => client.endAsync());
  const messages: { topic: string; payload: Buffer }[] = [];
  client.on('message', (topic, payload) => messages.push({ topic, payload }));
  await client.subscribeAsync('plaza/v1/#', { qos: 1 });
  return { client, messages };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function door(b: TestBroker, id: string, faults: FaultsConfig = noFaults, bufferMax = 100, truth = new MemoryTruth()) {
  const creds = (await provisionDevices(b.registry, [{ id, mall: 'demo', store: 'fashion', kind: 'door' }])).get(id);
  if (creds === undefined) throw new Error('not provisioned');
  const rng = new Random(1).fork(id);
  const link = new DeviceLink(
    { url: b.url, address: { mall: 'demo', store: 'fashion', device: id }, password: creds.password, bufferMax, reconnectMinMs: 20, reconnectMaxMs: 200 },
    rng.fork('link'),
    logger,
    (config) => firmware.applyConfig(config),
    () => firmware.heartbeat(),
  );
  const firmware: DoorCounter = new DoorCounter(id, link, new DeviceFaults(faults, rng.fork('faults'), id, truth, t0), rng.fork('fw'), 'test-fw', t0);
  cleanups.push(() => link.stop(500));
  return { link, firmware, creds, truth };
}

const doorReadings = (messages: { topic: string; payload: Buffer }[], id: string) =>
  messages
    .filter((m) => m.topic.endsWith(`/${id}/door`))
    .map((m) => parsePayload('door', m.payload))
    .flatMap((r) => (r.ok ? [r.value] : []));

describe('simulated devices on a real broker', () => {
  it('connect with their own credentials and cannot publish as another device', async () => {
    const b = await broker();
    const { messages } = await listen(b);
    const creds = await provisionDevices(b.registry, [
      { id: 'sim-a', mall: 'demo', store: 'fashion', kind: 'door' },
      { id: 'sim-b', mall: 'demo', store: 'coffee', kind: 'door' },
    ]);
    const a = creds.get('sim-a');
    const bCreds = creds.get('sim-b');
    if (a === undefined || bCreds === undefined) throw new Error('not provisioned');
    expect(a.password).not.toBe(bCreds.password);
    // A's secret does not open B's identity.
    await expect(connectClient(b.url, { clientId: 'sim-b', username: 'sim-b', password: a.password })).rejects.toBeInstanceOf(ConnectError);
    const client = await connectClient(b.url, { clientId: 'sim-a', username: 'sim-a', password: a.password });
    cleanups.push(() => client.endAsync(true));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(bCreds.topic, JSON.stringify({ v: 1, boot: 'x', seq: 0, ts: t0, in: 5, out: 0 }), { qos: 1 });
    await closed;
    expect(messages.filter((m) => m.topic === bCreds.topic)).toEqual([]);
    // Provisioning again rotates the secret: the old one stops working.
    const again = (await provisionDevices(b.registry, [{ id: 'sim-a', mall: 'demo', store: 'fashion', kind: 'door' }])).get('sim-a');
    expect(again?.password).not.toBe(a.password);
    await expect(connectClient(b.url, { clientId: 'sim-a', username: 'sim-a', password: a.password })).rejects.toBeInstanceOf(ConnectError);
  });

  it('publishes running totals with boot id and seq, honours config and heartbeats', async () => {
    const b = await broker();
    const { messages } = await listen(b);
    const { link, firmware } = await door(b, 'door-cfg');
    await b.broker.publishDeviceConfig({ mall: 'demo', store: 'fashion', device: 'door-cfg' }, { v: 1, reportIntervalS: 10 });
    link.start();
    await until(() => link.connected && messages.some((m) => m.topic.endsWith('/door-cfg/status')));
    await new Promise((r) => setTimeout(r, 100)); // retained config arrives after SUBACK
    firmware.count('in');
    firmware.count('in');
    firmware.count('out');
    for (let s = 1; s <= 60; s += 1) firmware.tick(t0 + s * 1000);
    await until(() => doorReadings(messages, 'door-cfg').length >= 6);
    const readings = doorReadings(messages, 'door-cfg');
    expect(readings.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(readings.map((r) => r.ts - t0)).toEqual([10_000, 20_000, 30_000, 40_000, 50_000, 60_000]);
    expect(readings.every((r) => r.in === 2 && r.out === 1 && r.boot === readings[0]?.boot)).toBe(true);
    const status = messages.filter((m) => m.topic.endsWith('/door-cfg/status')).map((m) => parsePayload('status', m.payload));
    expect(status[0]).toMatchObject({ ok: true, value: { online: true, fw: 'test-fw' } });
  });

  it('buffers while the broker is down, drops the oldest beyond the bound and delivers the rest after a restart', async () => {
    const first = await startTestBroker();
    const { port, dataDir } = first;
    const { link, firmware } = await door(first, 'door-buf', noFaults, 5);
    link.start();
    await until(() => link.connected);
    await first.stop();
    await until(() => !link.connected);
    for (let s = 1; s <= 8 * 60; s += 1) {
      if (s % 60 === 0) firmware.count('in');
      firmware.tick(t0 + s * 1000);
    }
    expect(link.dropped).toBe(3);
    expect(link.backlog).toBe(5);
    // Keep the device off the network until the listener below is subscribed.
    link.injectOutage(60_000);
    const second = await broker({ port, dataDir });
    const { messages } = await listen(second);
    expect(link.connected).toBe(false);
    link.injectOutage(0);
    await until(() => link.backlog === 0 && doorReadings(messages, 'door-buf').length >= 5);
    const readings = doorReadings(messages, 'door-buf');
    expect(readings.map((r) => r.seq)).toEqual([3, 4, 5, 6, 7]);
    // Totals run on: nothing counted is lost even though readings were dropped.
    expect(readings.at(-1)?.in).toBe(8);
    expect(link.connects).toBe(2);
  });

  it('injects each fault it claims and records it in the truth', async () => {
    const b = await broker();
    const { messages } = await listen(b);
    const all = selectFaults(noFaults, 'duplicate,reorder,malformed,clockSkew,reboot');
    const faults: FaultsConfig = {
      ...all,
      duplicate: { enabled: true, probability: 0.3 },
      reorder: { enabled: true, probability: 0.3 },
      malformed: { enabled: true, probability: 0.3 },
      reboot: { enabled: true, perDevicePerDay: 48 },
      clockSkew: { enabled: true, maxS: 60 },
    };
    const { link, firmware, truth } = await door(b, 'door-faults', faults, 10_000);
    link.start();
    await until(() => link.connected);
    for (let s = 1; s <= 3 * 3600; s += 1) firmware.tick(t0 + s * 1000);
    firmware.finish(t0 + 3 * 3600 * 1000);
    await until(() => link.backlog === 0);
    expect(link.dropped).toBe(0);
    await until(() => messages.filter((m) => m.topic.endsWith('/door-faults/door')).length >= link.delivered);
    const raw = messages.filter((m) => m.topic.endsWith('/door-faults/door'));
    const parsed = raw.map((m) => parsePayload('door', m.payload));
    const valid = parsed.flatMap((r) => (r.ok ? [r.value] : []));
    const recorded = (fault: string) => truth.records.filter((r) => r.type === 'fault' && r.fault === fault);

    expect(recorded('malformed').length).toBeGreaterThan(5);
    expect(parsed.filter((r) => !r.ok).length).toBe(recorded('malformed').length);

    const keys = valid.map((r) => `${r.boot}/${r.seq}`);
    expect(keys.length - new Set(keys).size).toBe(recorded('duplicate').length);
    expect(recorded('duplicate').length).toBeGreaterThan(5);

    const boots = [...new Set(valid.map((r) => r.boot))];
    expect(boots.length).toBe(recorded('reboot').length + 1);
    expect(boots.length).toBeGreaterThan(1);
    for (const boot of boots.slice(1)) expect(valid.find((r) => r.boot === boot && r.seq === 0)).toMatchObject({ in: 0, out: 0 });

    let outOfOrder = 0;
    for (const boot of boots) {
      const seqs = valid.filter((r) => r.boot === boot).map((r) => r.seq);
      for (let i = 1; i < seqs.length; i += 1) if ((seqs[i] as number) < (seqs[i - 1] as number)) outOfOrder += 1;
    }
    expect(recorded('reorder').length).toBeGreaterThan(5);
    expect(outOfOrder).toBe(recorded('reorder').length);

    const skew = recorded('clockSkew')[0];
    const skewMs = skew?.type === 'fault' ? Number(skew.detail?.skewMs) : Number.NaN;
    expect(Math.abs(skewMs)).toBeLessThanOrEqual(60_000);
    expect(valid.every((r) => (r.ts - skewMs - t0) % 1000 === 0)).toBe(true);
    expect(valid.some((r) => r.ts - skewMs === t0 + 60_000)).toBe(true);
  });

  it('a probe drops sightings below its configured RSSI floor and batches the rest', async () => {
    const b = await broker();
    const { messages } = await listen(b);
    const id = 'probe-floor';
    const creds = (await provisionDevices(b.registry, [{ id, mall: 'demo', store: 'fashion', kind: 'probe' }])).get(id);
    if (creds === undefined) throw new Error('not provisioned');
    const link = new DeviceLink(
      { url: b.url, address: { mall: 'demo', store: 'fashion', device: id }, password: creds.password, bufferMax: 10, reconnectMinMs: 20, reconnectMaxMs: 200 },
      new Random(2),
      logger,
      (config) => probe.applyConfig(config),
      () => undefined,
    );
    cleanups.push(() => link.stop(500));
    const probe: WifiProbe = new WifiProbe(id, link, new DeviceFaults(noFaults, new Random(3), id, new MemoryTruth(), t0), new Random(4), 'fw', t0);
    await b.broker.publishDeviceConfig({ mall: 'demo', store: 'fashion', device: id }, { v: 1, reportIntervalS: 30, rssiFloorDbm: -75 });
    link.start();
    await until(() => link.connected);
    await new Promise((r) => setTimeout(r, 100));
    probe.capture({ mac: '02:00:00:00:00:01', rssi: -60, ts: t0 + 1000, sn: 1, fp: 'ab' });
    probe.capture({ mac: '02:00:00:00:00:02', rssi: -80, ts: t0 + 1000, sn: 2, fp: 'ab' });
    for (let s = 1; s <= 30; s += 1) probe.tick(t0 + s * 1000);
    await until(() => messages.some((m) => m.topic.endsWith(`/${id}/probe`)));
    const batch = parsePayload('probe', messages.find((m) => m.topic.endsWith(`/${id}/probe`))?.payload ?? '');
    expect(batch).toMatchObject({ ok: true, value: { seq: 0, ts: t0 + 30_000, obs: [{ mac: '02:00:00:00:00:01', rssi: -60 }] } });
  });
});
