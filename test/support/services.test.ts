import { existsSync } from 'node:fs';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addDevice, connectClient, ConnectError, startTestBroker, type TestBroker } from './broker.ts';
import { type InfluxHandle, query, queryRows, startInfluxd, writeLines } from './influxd.ts';
import { type MosquittoHandle, startMosquitto } from './mosquitto.ts';
import { freePort } from './ports.ts';

const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
});

async function connect(url: string, opts: Parameters<typeof connectClient>[1]): Promise<MqttClient> {
  const client = await connectClient(url, opts);
  clients.push(client);
  return client;
}

function nextMessage(client: MqttClient, timeoutMs = 5000): Promise<{ topic: string; payload: string; qos: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
    client.once('message', (topic, payload, packet) => {
      clearTimeout(timer);
      resolve({ topic, payload: payload.toString('utf8'), qos: packet.qos });
    });
  });
}

describe('freePort', () => {
  it('returns a bindable loopback port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });
});

describe('influxd fixture', () => {
  let influx: InfluxHandle;
  beforeAll(async () => {
    influx = await startInfluxd();
  });
  afterAll(async () => {
    await influx.stop();
  });

  it('answers /ping on its own port, not the system 8086', async () => {
    expect(influx.port).not.toBe(8086);
    const response = await fetch(`${influx.url}/ping`);
    expect(response.status).toBe(204);
    expect(existsSync(path.join(influx.dataDir, 'influxdb.conf'))).toBe(true);
  });

  it('round-trips line protocol through write and query', async () => {
    await query(influx.url, '', 'CREATE DATABASE roundtrip');
    await writeLines(influx.url, 'roundtrip', ['footfall,store=s1 entries=3i 1700000000000', 'footfall,store=s2 entries=5i 1700000000000']);
    const rows = await queryRows(influx.url, 'roundtrip', 'SELECT entries FROM footfall GROUP BY store', { epoch: 'ms' });
    expect(rows).toEqual([
      { store: 's1', time: 1700000000000, entries: 3 },
      { store: 's2', time: 1700000000000, entries: 5 },
    ]);
  });

  it('reports a query error as a thrown Error', async () => {
    await expect(query(influx.url, 'roundtrip', 'SELEKT nonsense')).rejects.toThrow(/HTTP 400|error parsing/);
  });

  it('keeps written data across kill and restart on the same port and data dir', async () => {
    await query(influx.url, '', 'CREATE DATABASE durable');
    await writeLines(influx.url, 'durable', 'visits,store=s1 count=7i 1700000001000');
    const firstPid = influx.pid;
    await influx.kill();
    await expect(fetch(`${influx.url}/ping`)).rejects.toThrow();
    await influx.restart();
    expect(influx.pid).not.toBe(firstPid);
    const rows = await queryRows(influx.url, 'durable', 'SELECT count FROM visits', { epoch: 'ms' });
    expect(rows).toEqual([{ time: 1700000001000, count: 7 }]);
  });
});

describe('influxd fixture with auth', () => {
  it('creates an admin user and refuses anonymous queries', async () => {
    const influx = await startInfluxd({ auth: true });
    try {
      expect(influx.admin).toBeDefined();
      await expect(query(influx.url, '', 'SHOW DATABASES')).rejects.toThrow(/HTTP 401/);
      const results = await query(influx.url, '', 'SHOW USERS', { auth: influx.admin });
      expect(results[0]?.series?.[0]?.values).toEqual([['admin', true]]);
    } finally {
      await influx.stop();
    }
  });
});

describe('mosquitto fixture', () => {
  const users = [
    { username: 'alice', password: 'alice-secret-1' },
    { username: 'bob', password: 'bob-secret-2' },
  ];
  let mosquitto: MosquittoHandle;
  beforeAll(async () => {
    mosquitto = await startMosquitto({ users });
  });
  afterAll(async () => {
    await mosquitto.stop();
  });

  it('fails loudly with mosquitto\'s own output when it cannot start', async () => {
    await expect(startMosquitto({ users, extraConfig: ['no_such_option 1'] })).rejects.toThrow(/exited with code \d+ before listening[\s\S]*Unknown configuration variable "no_such_option"/);
  });

  it('refuses a wrong password with CONNACK code 5 (not authorised)', async () => {
    const error = await connectClient(mosquitto.url, { username: 'alice', password: 'wrong' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    // Mosquitto 2.0 answers a bad password on MQTT 3.1.1 with 5, "not authorised".
    expect((error as ConnectError).returnCode).toBe(5);
  });

  it('refuses anonymous clients', async () => {
    const error = await connectClient(mosquitto.url, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).returnCode).toBe(5);
  });

  it('accepts the right password and delivers within plaza/#', async () => {
    const sub = await connect(mosquitto.url, { username: 'alice', password: 'alice-secret-1' });
    await sub.subscribeAsync('plaza/test/#', { qos: 1 });
    const pub = await connect(mosquitto.url, { username: 'bob', password: 'bob-secret-2' });
    const received = nextMessage(sub);
    await pub.publishAsync('plaza/test/hello', 'hi', { qos: 1 });
    expect(await received).toEqual({ topic: 'plaza/test/hello', payload: 'hi', qos: 1 });
  });

  it('drops publishes outside the ACL', async () => {
    const sub = await connect(mosquitto.url, { username: 'alice', password: 'alice-secret-1' });
    // Mosquitto's ACL file grants every SUBSCRIBE and checks read/write access per message instead.
    await sub.subscribeAsync('#', { qos: 1 });
    const pub = await connect(mosquitto.url, { username: 'bob', password: 'bob-secret-2' });
    const received = nextMessage(sub);
    await pub.publishAsync('elsewhere/x', 'denied', { qos: 1 });
    await pub.publishAsync('plaza/acl/marker', 'allowed', { qos: 1 });
    // In-order delivery from one publisher: had the denied message passed, it would arrive first.
    expect(await received).toEqual({ topic: 'plaza/acl/marker', payload: 'allowed', qos: 1 });
  });

  it('queues QoS 1 messages for an offline persistent session and delivers them on reconnect', async () => {
    const session = { username: 'alice', password: 'alice-secret-1', clientId: 'persistent-sub', clean: false };
    const first = await connectClient(mosquitto.url, session);
    await first.subscribeAsync('plaza/queue/#', { qos: 1 });
    await first.endAsync();

    const pub = await connect(mosquitto.url, { username: 'bob', password: 'bob-secret-2' });
    for (let i = 0; i < 3; i++) await pub.publishAsync(`plaza/queue/${i}`, `m${i}`, { qos: 1 });

    const received: string[] = [];
    // Listen before CONNACK: the queued messages follow it at once.
    const second = mqtt.connect(mosquitto.url, { ...session, reconnectPeriod: 0, resubscribe: false });
    clients.push(second);
    const all = new Promise<void>((resolve, reject) => {
      second.on('error', reject);
      second.on('message', (_topic, payload) => {
        received.push(payload.toString('utf8'));
        if (received.length === 3) resolve();
      });
    });
    await all;
    expect(received).toEqual(['m0', 'm1', 'm2']);
  });
});

describe('test broker fixture', () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => {
    await broker.stop();
  });

  it('authenticates a registered device and refuses a wrong secret', async () => {
    const device = await addDevice(broker.registry);
    const client = await connect(broker.url, { username: device.username, password: device.password, clientId: device.id });
    expect(client.connected).toBe(true);
    const error = await connectClient(broker.url, { username: device.username, password: 'not-the-secret', clientId: device.id }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).returnCode).toBe(4);
    const failures = await broker.metrics.getSingleMetricAsString('plaza_broker_auth_failures_total');
    expect(failures).toMatch(/reason="bad_credentials"} 1/);
  });
});
