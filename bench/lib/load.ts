import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceCredentials } from '../../broker/registry.ts';
import { sleep } from './processes.ts';

/** A device the load generator drives: its credentials and the next reading it sends. */
export interface LoadDevice {
  creds: DeviceCredentials;
  next(nowMs: number): Buffer;
}

export interface LoadOptions {
  url: string;
  /** Publishes per second across all devices; Infinity = as fast as the window lets through. */
  ratePerS: number;
  /** Unacknowledged QoS 1 publishes per device connection. */
  inflightPerDevice: number;
  /** Checked before every publish: false while the consumer's backlog is at its bound. */
  windowOpen: () => boolean;
}

interface Driven {
  device: LoadDevice;
  client: MqttClient;
  inflight: number;
}

/** Scheduling tick, in ms. */
const tickMs = 2;
/** Most publishes issued per tick (caps a burst after the window reopens). */
const maxPerTick = 400;

/**
 * Many device connections (each with its own credentials) publishing QoS 1 at a target rate or as fast as the
 * window allows, round-robin, with bounded in-flight publishes per connection. Counts what the broker acked.
 */
export class Load {
  sent = 0;
  acked = 0;
  failed = 0;
  disconnects = 0;
  private driven: Driven[] = [];
  private timer: NodeJS.Timeout | undefined;
  private cursor = 0;
  private startedMs = 0;
  private sentAtStart = 0;

  constructor(private readonly options: LoadOptions) {}

  /** Connects every device (bounded concurrency: the embedded broker runs scrypt once per connection). */
  async connect(devices: readonly LoadDevice[], concurrency = 16): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < devices.length) {
        const device = devices[next++] as LoadDevice;
        this.driven.push({ device, client: await connectDevice(this.options.url, device.creds, () => (this.disconnects += 1)), inflight: 0 });
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  get inflight(): number {
    return this.sent - this.acked - this.failed;
  }

  start(): void {
    this.startedMs = performance.now();
    this.sentAtStart = this.sent;
    this.timer = setInterval(() => this.tick(), tickMs);
  }

  /** Stops publishing and waits for the outstanding PUBACKs (bounded). */
  async stop(timeoutMs = 30_000): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.inflight > 0 && Date.now() < deadline) await sleep(20);
  }

  async close(): Promise<void> {
    await Promise.all(this.driven.map((d) => d.client.endAsync(true)));
    this.driven = [];
  }

  private tick(): void {
    const elapsedS = (performance.now() - this.startedMs) / 1000;
    let allowance = Number.isFinite(this.options.ratePerS) ? Math.floor(this.options.ratePerS * elapsedS) - (this.sent - this.sentAtStart) : maxPerTick;
    allowance = Math.min(allowance, maxPerTick);
    const count = this.driven.length;
    const nowMs = Date.now();
    for (let busy = 0; allowance > 0 && busy < count && this.options.windowOpen(); ) {
      const d = this.driven[this.cursor] as Driven;
      this.cursor = (this.cursor + 1) % count;
      if (d.inflight >= this.options.inflightPerDevice || !d.client.connected) {
        busy += 1;
        continue;
      }
      busy = 0;
      allowance -= 1;
      this.publish(d, nowMs);
    }
  }

  private publish(d: Driven, nowMs: number): void {
    d.inflight += 1;
    this.sent += 1;
    d.client.publish(d.device.creds.topic, d.device.next(nowMs), { qos: 1 }, (error) => {
      d.inflight -= 1;
      if (error) this.failed += 1;
      else this.acked += 1;
    });
  }
}

/** One device connection: clean session (as door counters and probes connect), QoS 1 publishes. */
export async function connectDevice(url: string, creds: DeviceCredentials, onDisconnect: () => void = () => undefined): Promise<MqttClient> {
  const client = mqtt.connect(url, {
    clientId: creds.id,
    username: creds.username,
    password: creds.password,
    clean: true,
    protocolVersion: 4,
    keepalive: 60,
    reconnectPeriod: 1000,
    connectTimeout: 30_000,
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      client.end(true);
      reject(new Error(`device ${creds.id} could not connect: ${error.message}`));
    };
    client.once('connect', () => {
      client.off('error', onError);
      client.on('error', () => undefined);
      client.on('close', onDisconnect);
      resolve();
    });
    client.once('error', onError);
  });
  return client;
}
