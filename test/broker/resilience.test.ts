import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceCredentials, ServiceCredentials } from '../../broker/registry.ts';
import { addDevice, addService, startTestBroker, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';
import { clientPool, closed, nextMessageOn, subscribeGranted } from './helpers.ts';

const pool = clientPool();
let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.stop();
  tb = undefined;
});

const maxPacketBytes = 4096;
const reading = (seq: number): string => JSON.stringify({ v: 1, boot: 'b', seq, ts: Date.now(), in: seq, out: 0 });

interface Setup {
  tb: TestBroker;
  dev: DeviceCredentials;
  ingest: ServiceCredentials;
}

async function setup(options: Parameters<typeof startTestBroker>[0] = {}): Promise<Setup> {
  tb = await startTestBroker({ maxPacketBytes, ...options });
  return { tb, dev: await addDevice(tb.registry, { id: 'door-a' }), ingest: await addService(tb.registry, 'ingest') };
}

/** A healthy device and subscriber; `check()` proves they still work end to end. */
async function bystanders(s: Setup, url = s.tb.url, extra: mqtt.IClientOptions = {}): Promise<{ check(seq: number): Promise<void>; device: MqttClient }> {
  const other = await addDevice(s.tb.registry, { id: `door-${Math.random().toString(16).slice(2, 8)}` });
  const device = await pool.connect(url, { clientId: other.id, username: other.username, password: other.password, ...extra });
  const sub = await pool.connect(url, { clientId: `${s.ingest.username}-${other.id}`, username: s.ingest.username, password: s.ingest.password, ...extra });
  expect(await subscribeGranted(sub, [other.topic])).toEqual([1]);
  return {
    device,
    async check(seq) {
      const arrived = nextMessageOn(sub, other.topic);
      await device.publishAsync(other.topic, reading(seq), { qos: 1 });
      expect(JSON.parse((await arrived).payload)).toMatchObject({ seq });
    },
  };
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

function socketClosed(socket: Socket, timeoutMs = 5000): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('socket still open')), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on('error', () => undefined);
  });
}

/** MQTT fixed header of a PUBLISH declaring `length` bytes to follow ([MQTT-2.2.3] varint). */
function publishHeader(length: number): Buffer {
  const bytes = [0x30];
  let value = length;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return Buffer.from(bytes);
}

async function refusals(t: TestBroker, reason: string): Promise<number> {
  const metric = await t.metrics.getSingleMetric('plaza_broker_refusals_total')?.get();
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('oversize packets', () => {
  it('closes a raw socket whose fixed header declares 10 MB, before the body arrives; others keep working', async () => {
    const s = await setup();
    const others = await bystanders(s);
    const socket = await rawSocket(s.tb.port);
    const gone = socketClosed(socket);
    socket.write(publishHeader(10 * 1024 * 1024));
    await gone;
    await others.check(1);
    expect(await refusals(s.tb, 'packet too large')).toBe(1);
  });

  it('closes an authenticated client that declares an oversize packet mid-session', async () => {
    const s = await setup();
    const others = await bystanders(s);
    const device = await pool.connect(s.tb.url, { clientId: s.dev.id, username: s.dev.username, password: s.dev.password });
    const gone = closed(device);
    device.stream.write(publishHeader(10 * 1024 * 1024));
    await gone;
    await others.check(2);
  });

  it('closes an mqtt.js client publishing a payload above the limit and delivers nothing of it', async () => {
    const s = await setup();
    const others = await bystanders(s);
    const watch = await pool.connect(s.tb.url, { clientId: `${s.ingest.username}-w`, username: s.ingest.username, password: s.ingest.password });
    await subscribeGranted(watch, [s.dev.topic]);
    let delivered = 0;
    watch.on('message', () => (delivered += 1));
    const device = await pool.connect(s.tb.url, { clientId: s.dev.id, username: s.dev.username, password: s.dev.password });
    const gone = closed(device);
    device.publish(s.dev.topic, 'x'.repeat(maxPacketBytes + 100), { qos: 1 });
    await gone;
    await others.check(3);
    expect(delivered).toBe(0);
    // Just under the limit still passes.
    const again = await pool.connect(s.tb.url, { clientId: s.dev.id, username: s.dev.username, password: s.dev.password });
    const arrived = nextMessageOn(watch, s.dev.topic);
    await again.publishAsync(s.dev.topic, 'y'.repeat(maxPacketBytes - 200), { qos: 1 });
    expect((await arrived).payload.length).toBe(maxPacketBytes - 200);
  });
});

describe('garbage', () => {
  it.each([
    ['HTTP', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) % 256))],
    ['a CONNECT with a bad protocol name', Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x58, 0x58, 0x58, 0x58, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00])],
    ['a length with five continuation bytes', Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])],
  ])('survives %s on a raw socket and keeps serving others', async (_name, bytes) => {
    const s = await setup();
    const others = await bystanders(s);
    const socket = await rawSocket(s.tb.port);
    const gone = socketClosed(socket);
    socket.write(bytes);
    await gone;
    await others.check(4);
  });

  it('closes a socket that never sends CONNECT after the connect timeout', async () => {
    const s = await setup({ connectTimeoutMs: 200 });
    const socket = await rawSocket(s.tb.port);
    await socketClosed(socket, 2000);
  });
});

describe('TLS and WebSocket listeners', () => {
  it('serves MQTT over TLS with a certificate from the config', async () => {
    const dir = tempDir('plaza-tls');
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const s = await setup({ tlsPort: 0, tlsCert: cert, tlsKey: key });
    const tlsPort = s.tb.broker.ports.tls;
    expect(tlsPort).toBeGreaterThan(0);
    const url = `mqtts://127.0.0.1:${tlsPort}`;
    const others = await bystanders(s, url, { ca: readFileSync(cert) });
    await others.check(5);
    // Without trusting the certificate the handshake fails; the broker goes on.
    const untrusted = mqtt.connect(url, { reconnectPeriod: 0, clientId: 'x', username: 'x', password: 'x' });
    const error = await new Promise<Error>((resolve) => untrusted.once('error', resolve));
    untrusted.end(true);
    expect(error.message).toMatch(/self[- ]signed|certificate/i);
    await others.check(6);
  });

  it('serves MQTT over WebSocket and applies the same size limit there', async () => {
    const s = await setup({ wsPort: 0 });
    const wsPort = s.tb.broker.ports.ws;
    expect(wsPort).toBeGreaterThan(0);
    const url = `ws://127.0.0.1:${wsPort}/mqtt`;
    const others = await bystanders(s, url);
    await others.check(7);
    const device = await pool.connect(url, { clientId: s.dev.id, username: s.dev.username, password: s.dev.password });
    const gone = closed(device);
    device.publish(s.dev.topic, 'x'.repeat(maxPacketBytes * 2), { qos: 1 });
    await gone;
    await others.check(8);
  });
});

describe('registry secrets', () => {
  it('never stores a plain secret in the registry files', async () => {
    const s = await setup();
    const rotated = await s.tb.registry.rotateDevice(s.dev.id);
    const extra = await addDevice(s.tb.registry, { id: 'probe-z', kind: 'probe' });
    const files = readdirSync(s.tb.dataDir).filter((f) => f.startsWith('registry.sqlite'));
    const bytes = Buffer.concat(files.map((f) => readFileSync(path.join(s.tb.dataDir, f))));
    expect(bytes.includes('scrypt$')).toBe(true); // the hashes are there, so the search looks at the right bytes
    for (const secret of [s.dev.password, rotated.password, extra.password, s.ingest.password]) {
      expect(secret.length).toBeGreaterThanOrEqual(40);
      expect(bytes.includes(secret)).toBe(false);
    }
  });
});
