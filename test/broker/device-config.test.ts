import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deviceConfigSchema } from '../../protocol/payloads/config.ts';
import { deviceTopic } from '../../protocol/topics.ts';
import { addDevice, connectClient, startTestBroker, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';

/** Connects as the device, subscribes to its config topic and collects what arrives. */
async function configsOf(url: string, creds: Awaited<ReturnType<typeof addDevice>>): Promise<{ client: MqttClient; received: unknown[] }> {
  const client = await connectClient(url, { clientId: creds.id, username: creds.username, password: creds.password });
  const received: unknown[] = [];
  client.on('message', (_topic, payload) => received.push(deviceConfigSchema.parse(JSON.parse(payload.toString()))));
  await client.subscribeAsync(deviceTopic({ mall: creds.mall, store: creds.store, device: creds.id }, 'config'), { qos: 1 });
  return { client, received };
}

describe('retained device config', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  it('is published for every device at start, again after a restart, and when changed', async () => {
    const dataDir = tempDir('device-config');
    let broker: TestBroker = await startTestBroker({ dataDir, revalidateIntervalMs: 100 });
    const creds = await addDevice(broker.registry, { kind: 'probe', id: 'probe-a' });
    // Added after start: picked up by the next pass.
    const first = await configsOf(broker.url, creds);
    cleanups.push(() => first.client.endAsync());
    await vi.waitFor(() => expect(first.received).toEqual([{ v: 1, reportIntervalS: 60, rssiFloorDbm: -90, heartbeatIntervalS: 60 }]), { timeout: 5000 });

    broker.registry.setDeviceConfig('probe-a', { reportIntervalS: 15, rssiFloorDbm: -80 });
    await vi.waitFor(() => expect(first.received.at(-1)).toEqual({ v: 1, reportIntervalS: 15, rssiFloorDbm: -80, heartbeatIntervalS: 60 }), { timeout: 5000 });
    await first.client.endAsync();

    // Retained messages live in the broker's memory: a restart must publish them again.
    await broker.stop();
    broker = await startTestBroker({ dataDir, revalidateIntervalMs: 100 });
    cleanups.push(() => broker.stop());
    const again = await configsOf(broker.url, creds);
    cleanups.push(() => again.client.endAsync());
    await vi.waitFor(() => expect(again.received).toEqual([{ v: 1, reportIntervalS: 15, rssiFloorDbm: -80, heartbeatIntervalS: 60 }]), { timeout: 5000 });
  });

  it('refuses an invalid config with the reason', async () => {
    const broker = await startTestBroker();
    cleanups.push(() => broker.stop());
    await addDevice(broker.registry, { id: 'door-a' });
    expect(() => broker.registry.setDeviceConfig('door-a', { reportIntervalS: 0 })).toThrow(/reportIntervalS/);
    expect(() => broker.registry.setDeviceConfig('nope', { reportIntervalS: 10 })).toThrow(/no device nope/);
  });
});
