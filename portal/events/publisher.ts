import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../core/logger.ts';

export interface MqttTarget {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
}

export interface PublisherOptions {
  /** Events held while the broker is unreachable; the oldest are dropped beyond this. */
  maxQueued: number;
  reconnectPeriodMs: number;
}

export const publisherDefaults: PublisherOptions = { maxQueued: 10_000, reconnectPeriodMs: 2000 };

interface Pending {
  topic: string;
  payload: string;
}

/**
 * Publishes portal events with QoS 1 on the portal's service account. While the broker is down events wait in
 * a bounded in-memory queue and are sent on reconnect; overflow drops the oldest and is logged.
 */
export class EventPublisher {
  private client: MqttClient | undefined;
  private readonly queue: Pending[] = [];
  private dropped = 0;
  private flushing = false;

  constructor(
    private readonly target: MqttTarget,
    private readonly logger: Logger,
    private readonly options: PublisherOptions = publisherDefaults,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  async start(): Promise<void> {
    const clientId = `${this.target.username ?? 'portal'}-${randomBytes(4).toString('hex')}`;
    const client = mqtt.connect(this.target.url, {
      clientId,
      username: this.target.username,
      password: this.target.password,
      clean: true,
      reconnectPeriod: this.options.reconnectPeriodMs,
      connectTimeout: 10_000,
    });
    this.client = client;
    client.on('connect', () => {
      this.logger.info({ queued: this.queue.length }, 'event publisher connected');
      this.flush();
    });
    client.on('error', (error) => this.logger.warn({ reason: error.message }, 'event publisher connection problem'));
    client.on('offline', () => this.logger.warn({ queued: this.queue.length }, 'event publisher offline; queueing events'));
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    if (this.queue.length > 0) this.logger.warn({ lost: this.queue.length }, 'event publisher stopped with events still queued');
    await Promise.race([client.endAsync(!client.connected), new Promise<void>((resolve) => setTimeout(resolve, 2000).unref())]);
    client.end(true);
  }

  publish(topic: string, payload: unknown): void {
    this.queue.push({ topic, payload: JSON.stringify(payload) });
    if (this.queue.length > this.options.maxQueued) {
      this.queue.shift();
      this.dropped += 1;
      if (this.dropped === 1 || this.dropped % 100 === 0) this.logger.error({ dropped: this.dropped, maxQueued: this.options.maxQueued }, 'event queue full; oldest events dropped');
    }
    this.flush();
  }

  private flush(): void {
    const client = this.client;
    if (this.flushing || client?.connected !== true) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0 && client.connected) {
        const next = this.queue.shift();
        if (next === undefined) break;
        client.publish(next.topic, next.payload, { qos: 1 }, (error?: Error | null) => {
          // mqtt.js reports success as undefined or null.
          if (error === undefined || error === null) return;
          this.logger.warn({ reason: error.message }, 'event publish failed; queued again');
          this.queue.unshift(next);
        });
      }
    } finally {
      this.flushing = false;
    }
  }
}
