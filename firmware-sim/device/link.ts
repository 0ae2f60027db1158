import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../core/logger.ts';
import { type DeviceConfig, deviceConfigSchema } from '../../protocol/payloads/config.ts';
import { type DeviceAddress, deviceTopic } from '../../protocol/topics.ts';
import type { Random } from '../random.ts';

export interface LinkOptions {
  url: string;
  address: DeviceAddress;
  /** Held in memory only; never logged or written. */
  password: string;
  /** Readings kept while offline; beyond this the oldest are dropped (and counted). */
  bufferMax: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  /** QoS 1 publishes awaiting PUBACK at once. */
  inflightMax?: number;
  keepaliveS?: number;
}

interface Queued {
  topic: string;
  payload: Buffer;
  inflight: boolean;
  done: boolean;
  sentBy: MqttClient | undefined;
}

/**
 * A device's MQTT connection, the way firmware keeps one: own credentials (client id = username = device id),
 * readings queued in a bounded buffer and removed only on PUBACK (at-least-once), reconnect with exponential
 * backoff and jitter, and the retained config topic subscribed on every connect.
 */
export class DeviceLink {
  private client: MqttClient | undefined;
  private readonly queue: Queued[] = [];
  private inflight = 0;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private holdUntilMs = 0;
  private running = false;
  private online = false;
  private drainWaiters: (() => void)[] = [];
  private refusedLogged = false;
  /** Readings dropped from the full buffer since start. */
  dropped = 0;
  /** Readings acknowledged by the broker. */
  delivered = 0;
  connects = 0;

  constructor(
    private readonly options: LinkOptions,
    private readonly rng: Random,
    private readonly logger: Logger,
    private readonly onConfig: (config: DeviceConfig) => void,
    private readonly onConnect: () => void,
  ) {}

  get connected(): boolean {
    return this.online;
  }

  /** Readings waiting for a PUBACK (buffered or in flight). */
  get backlog(): number {
    return this.queue.length;
  }

  start(): void {
    this.running = true;
    this.connect();
  }

  /** Queues a reading; when the buffer is full the oldest reading is dropped first. */
  enqueue(channel: 'door' | 'probe', payload: Buffer): void {
    if (this.queue.length >= this.options.bufferMax) {
      const oldest = this.queue.shift();
      if (oldest !== undefined) {
        if (oldest.inflight) this.inflight -= 1;
        oldest.done = true;
      }
      this.dropped += 1;
    }
    this.queue.push({ topic: deviceTopic(this.options.address, channel), payload, inflight: false, done: false, sentBy: undefined });
    this.flush();
  }

  /** Publishes a retained heartbeat now if connected; heartbeats are state, not readings, so never buffered. */
  publishStatus(payload: Buffer): void {
    if (!this.online || this.client === undefined) return;
    this.client.publish(deviceTopic(this.options.address, 'status'), payload, { qos: 1, retain: true }, () => undefined);
  }

  /** Drops the connection as a network loss would, and stays offline for outageMs (wall clock). */
  injectOutage(outageMs: number): void {
    this.holdUntilMs = Date.now() + outageMs;
    const stream = this.client?.stream as { destroy?: () => void } | undefined;
    stream?.destroy?.();
    if (this.client === undefined && this.reconnectTimer !== undefined && this.running) {
      // Offline already: the next attempt comes when this outage ends.
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => this.connect(), Math.max(0, outageMs));
    }
  }

  /** Resolves when every queued reading is acknowledged, or after timeoutMs; then disconnects cleanly. */
  async stop(timeoutMs: number): Promise<void> {
    if (this.queue.length > 0 && this.running) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.drainWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.running = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    this.online = false;
    if (client) await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  }

  private connect(): void {
    if (!this.running) return;
    const heldMs = this.holdUntilMs - Date.now();
    if (heldMs > 0) {
      // The network is still down (an injected outage): no connection is possible before it ends.
      this.reconnectTimer = setTimeout(() => this.connect(), heldMs);
      return;
    }
    const { address, password, url } = this.options;
    const client = mqtt.connect(url, {
      clientId: address.device,
      username: address.device,
      password,
      clean: true,
      reconnectPeriod: 0, // backoff is ours, as in firmware
      connectTimeout: 10_000,
      keepalive: this.options.keepaliveS ?? 30,
      resubscribe: false,
    });
    this.client = client;
    client.on('connect', () => {
      this.online = true;
      this.attempt = 0;
      this.connects += 1;
      this.refusedLogged = false;
      client.subscribe(deviceTopic(address, 'config'), { qos: 1 }, () => undefined);
      this.onConnect();
      this.flush();
    });
    client.on('message', (_topic, payload) => this.handleConfig(payload));
    client.on('error', (error: Error & { code?: unknown }) => {
      if (typeof error.code === 'number' && !this.refusedLogged) {
        this.refusedLogged = true;
        this.logger.warn({ device: address.device, returnCode: error.code }, 'broker refused the connection');
      }
    });
    client.on('close', () => this.onClose(client));
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.online = false;
    for (const item of this.queue) item.inflight = false;
    this.inflight = 0;
    client.removeAllListeners('close');
    client.on('error', () => undefined);
    client.end(true);
    this.client = undefined;
    if (!this.running) return;
    const backoffMs = Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** Math.min(this.attempt, 16));
    this.attempt += 1;
    const delayMs = Math.max(this.holdUntilMs - Date.now(), backoffMs * this.rng.range(0.5, 1));
    this.reconnectTimer = setTimeout(() => this.connect(), delayMs);
  }

  private flush(): void {
    const client = this.client;
    if (!this.online || client === undefined) return;
    const max = this.options.inflightMax ?? 16;
    for (const item of this.queue) {
      if (this.inflight >= max) break;
      if (item.inflight) continue;
      item.inflight = true;
      item.sentBy = client;
      this.inflight += 1;
      client.publish(item.topic, item.payload, { qos: 1 }, (error) => this.onPublished(item, client, error));
    }
  }

  private onPublished(item: Queued, client: MqttClient, error: Error | null | undefined): void {
    if (item.done) return; // dropped from the buffer meanwhile, or acknowledged on an earlier connection
    // mqtt.js reports success with null (its typings say undefined).
    if (error === null || error === undefined) {
      // A PUBACK counts even if it arrived on a connection that has closed since.
      this.complete(item);
      this.flush();
      return;
    }
    if (item.sentBy === client && client === this.client && item.inflight) {
      item.inflight = false;
      this.inflight -= 1;
    }
  }

  private complete(item: Queued): void {
    item.done = true;
    if (item.inflight) this.inflight -= 1;
    item.inflight = false;
    this.delivered += 1;
    const index = this.queue.indexOf(item);
    if (index >= 0) this.queue.splice(index, 1);
    if (this.queue.length === 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const waiter of waiters) waiter();
    }
  }

  private handleConfig(payload: Buffer): void {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.logger.warn({ device: this.options.address.device }, 'config is not JSON; keeping the current one');
      return;
    }
    // Devices ignore keys they do not know (protocol/payloads/config.ts), so unknown keys are stripped first.
    const known = typeof json === 'object' && json !== null ? pick(json as Record<string, unknown>, Object.keys(deviceConfigSchema.shape)) : json;
    const result = deviceConfigSchema.safeParse(known);
    if (!result.success) {
      this.logger.warn({ device: this.options.address.device }, 'invalid config; keeping the current one');
      return;
    }
    this.onConfig(result.data);
  }
}

function pick(obj: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in obj).map((k) => [k, obj[k]]));
}
