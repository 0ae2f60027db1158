import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../core/logger.ts';
import { alertTopics } from '../../protocol/alerts.ts';
import type { AlertEvent } from '../../protocol/payloads/alert.ts';

export interface AlertPublisherOptions {
  url: string;
  username: string;
  password: string;
  /** Alerts waiting for the broker beyond this many are dropped (and logged); they stay in the alert log. */
  maxPending?: number;
}

/**
 * Publishes alert transitions on `plaza/v1/<mall>/_platform/alerts`, QoS 1, not retained. While the broker is
 * away mqtt.js keeps them and sends them on reconnect, up to maxPending.
 */
export class AlertPublisher {
  private client: MqttClient | undefined;
  private pending = 0;

  constructor(
    private readonly options: AlertPublisherOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const client = mqtt.connect(this.options.url, {
      clientId: `${this.options.username}-alerts`,
      username: this.options.username,
      password: this.options.password,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 2000,
      connectTimeout: 10_000,
    });
    client.on('error', (error) => this.logger.warn({ err: error.message }, 'alert publisher: MQTT error'));
    this.client = client;
  }

  publish(event: AlertEvent): void {
    const client = this.client;
    if (client === undefined) return;
    if (this.pending >= (this.options.maxPending ?? 1000)) {
      this.logger.warn({ alert: event.id, event: event.event }, 'alert publisher: too many alerts waiting for the broker; not published');
      return;
    }
    this.pending += 1;
    client.publish(alertTopics.alerts(event.mall), JSON.stringify(event), { qos: 1, retain: false }, (error) => {
      this.pending -= 1;
      if (error) this.logger.warn({ err: error.message, alert: event.id }, 'alert publisher: publish failed');
    });
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) return;
    if (!client.connected) {
      await client.endAsync(true);
      return;
    }
    // Give acknowledgements in flight up to 2 s, then go regardless.
    let timer: NodeJS.Timeout | undefined;
    const graceful = client.endAsync(false);
    await Promise.race([graceful, new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
    clearTimeout(timer);
    if (!client.disconnected) await client.endAsync(true);
  }
}
