import type { MqttClient } from 'mqtt';
import { afterEach } from 'vitest';
import type { IClientOptions } from 'mqtt';
import { connectClient, ConnectError } from '../support/broker.ts';

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
}

/** Clients opened by a test; ended after each test. */
export function clientPool(): { connect(url: string, opts?: IClientOptions): Promise<MqttClient> } {
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });
  return {
    async connect(url, opts = {}) {
      const client = await connectClient(url, opts);
      clients.push(client);
      return client;
    },
  };
}

/** The CONNACK return code of a refused connection attempt (fails the test if it connects). */
export async function refusalCode(url: string, opts: IClientOptions): Promise<number | undefined> {
  try {
    const client = await connectClient(url, opts);
    await client.endAsync(true);
  } catch (error) {
    if (error instanceof ConnectError) return error.returnCode;
    throw error;
  }
  throw new Error('connection was accepted');
}

/** Every message the client receives from now on. */
export function collect(client: MqttClient): Received[] {
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload: payload.toString('utf8'), retain: packet.retain, qos: packet.qos });
  });
  return received;
}

/** Resolves with the first message (from now on) on `topic`. */
export function nextMessageOn(client: MqttClient, topic: string, timeoutMs = 5000): Promise<Received> {
  return new Promise((resolve, reject) => {
    const onMessage = (t: string, payload: Buffer, packet: { retain: boolean; qos: number }): void => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic: t, payload: payload.toString('utf8'), retain: packet.retain, qos: packet.qos });
    };
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    client.on('message', onMessage);
  });
}

/** Resolves when the client's connection closes. */
export function closed(client: MqttClient, timeoutMs = 5000): Promise<void> {
  if (!client.connected && client.disconnected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Subscribes and returns the granted QoS per filter (128 = refused). */
export async function subscribeGranted(client: MqttClient, filters: string[], qos: 0 | 1 = 1): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos });
    return granted.map((g) => g.qos);
  } catch (error) {
    // mqtt.js rejects when any filter is refused; the SUBACK it carries still lists every code.
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (granted === undefined) throw error;
    return granted;
  }
}

/** Polls until `check` holds, for effects that happen on the broker's own clock. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
