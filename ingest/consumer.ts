import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from '../core/logger.ts';
import { posTopics } from '../protocol/pos.ts';
import { topicFilters, topicRoot } from '../protocol/topics.ts';

export interface ConsumerOptions {
  url: string;
  username: string;
  password: string;
  /** Fixed client id: the broker keeps this persistent session's subscriptions and queued messages. */
  clientId: string;
  /** Malls this instance consumes; undefined = all malls. */
  malls: readonly string[] | undefined;
  /** Wait before reconnecting after a broker loss or a local failure, in ms. */
  reconnectPeriodMs: number;
  /**
   * Commits the messages of one event-loop turn together: begin() before the turn's first message, commit()
   * before the turn's PUBACKs leave the socket. Without it, every message commits on its own. A handler may
   * finish a message of the turn later (at the latest in commit()), since its PUBACK waits for commit().
   */
  batch?: { begin(): void; commit(): void };
}

/** Handles one message synchronously; throws when its effect could not be made durable. */
export type MessageHandler = (topic: string, payload: Buffer, receivedAtMs: number) => void;

const readingChannels = ['door', 'probe', 'status'] as const;

/**
 * Longest the consumer handles messages back to back before the event loop gets a turn, in ms. mqtt.js hands
 * over the next received packet on process.nextTick, so under a steady stream timers and other sockets never
 * ran: the drainer stalled (the outbox grew) and /health and /metrics went unanswered for seconds.
 */
const yieldAfterMs = 10;

/**
 * MQTT 3.1.1 consumer with a persistent session (clean: false) and QoS 1 subscriptions. The PUBACK for a message
 * is sent only after the handler returned, i.e. after its effect was committed; a handler failure leaves the
 * message unacknowledged and reconnects, so the broker redelivers it.
 */
export class Consumer {
  private client: MqttClient | undefined;
  private connected = false;
  private recovering = false;
  private sliceStartMs = 0;
  /** The open turn: its PUBACKs are corked in this stream until its messages are committed. */
  private turn: { client: MqttClient; stream: MqttClient['stream'] } | undefined;

  constructor(
    private readonly options: ConsumerOptions,
    private readonly handler: MessageHandler,
    private readonly logger: Logger,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  /** Subscription filters: one per channel, per mall when partitioned (no shared subscriptions needed). */
  get filters(): string[] {
    const malls = this.options.malls ?? ['+'];
    return malls.flatMap((mall) => [
      ...readingChannels.map((channel) => topicFilters.channelOfMall(mall, channel)),
      `${topicRoot}/${mall}/_portal/+/login`,
      `${topicRoot}/${mall}/_portal/+/member`,
      posTopics.salesFilter(mall),
    ]);
  }

  async start(): Promise<void> {
    const client = mqtt.connect(this.options.url, {
      clientId: this.options.clientId,
      username: this.options.username,
      password: this.options.password,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: this.options.reconnectPeriodMs,
      connectTimeout: 10_000,
      keepalive: 30,
      resubscribe: false,
    });
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void) => this.onMessage(client, packet, callback);
    client.on('connect', (connack) => {
      this.connected = true;
      this.logger.info({ sessionPresent: connack.sessionPresent, filters: this.filters }, 'connected to broker');
      // Subscribing again is harmless with a present session and needed without one.
      client.subscribe(this.filters, { qos: 1 }, (error, granted) => {
        if (error) {
          this.logger.error({ err: error }, 'subscribe failed');
          return;
        }
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (refused.length > 0) this.logger.error({ refused }, 'broker refused subscriptions');
      });
    });
    client.on('close', () => {
      if (this.connected) this.logger.warn('disconnected from broker');
      this.connected = false;
    });
    client.on('error', (error) => this.logger.warn({ err: error.message }, 'MQTT client error'));
    // Resolve once the first connection is up, or fail start() if the broker refuses us.
    await new Promise<void>((resolve, reject) => {
      const onConnect = (): void => {
        client.off('error', onError);
        resolve();
      };
      const onError = (error: Error): void => {
        if ((error as { code?: number }).code === 4 || (error as { code?: number }).code === 5) {
          client.off('connect', onConnect);
          reject(new Error(`broker refused ingest credentials: ${error.message}`));
        }
      };
      client.once('connect', onConnect);
      client.on('error', onError);
    });
  }

  async stop(): Promise<void> {
    // Ending the stream would flush corked PUBACKs: commit their messages first.
    if (this.turn !== undefined) this.closeTurn(this.turn);
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync();
    this.connected = false;
  }

  private onMessage(client: MqttClient, packet: IPublishPacket, callback: (error?: Error) => void): void {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    this.openTurn(client);
    try {
      this.handler(packet.topic, payload, Date.now());
    } catch (error) {
      // Not durable: do not acknowledge. Drop the connection; the broker redelivers after we reconnect. The
      // turn's corked PUBACKs go with the socket: the handler may have acknowledged messages it had not yet
      // applied (ingest defers probe messages within a turn), and those failed with this one.
      this.logger.error({ err: error, topic: packet.topic }, 'could not make message durable; reconnecting for redelivery');
      if (this.turn?.client === client) this.turn.stream.destroy();
      this.recover(client);
      return;
    }
    if (performance.now() - this.sliceStartMs < yieldAfterMs) {
      callback();
      return;
    }
    // The message is durable; its PUBACK (and the next packet) just wait for one turn of the event loop.
    setImmediate(() => {
      this.sliceStartMs = performance.now();
      callback();
    });
  }

  /**
   * Opens a turn: the PUBACKs of this event-loop turn stay corked in the socket and the turn's messages share one
   * transaction. When the turn ends the transaction commits first and only then are the PUBACKs written, in one
   * system call. A commit that fails destroys the socket with the PUBACKs unsent: the broker redelivers. Without
   * cork (an unusual stream) each message keeps its own transaction.
   */
  private openTurn(client: MqttClient): void {
    const stream = client.stream;
    if (this.turn?.stream === stream || typeof stream?.cork !== 'function') return;
    this.options.batch?.begin();
    stream.cork();
    const turn = { client, stream };
    this.turn = turn;
    setImmediate(() => this.closeTurn(turn));
  }

  private closeTurn(turn: { client: MqttClient; stream: MqttClient['stream'] }): void {
    if (this.turn !== turn) return;
    this.turn = undefined;
    try {
      this.options.batch?.commit();
    } catch (error) {
      this.logger.error({ err: error }, 'could not commit a batch of messages; reconnecting for redelivery');
      turn.stream.destroy();
      this.recover(turn.client);
      return;
    }
    turn.stream.uncork();
  }

  private recover(client: MqttClient): void {
    if (this.recovering) return;
    this.recovering = true;
    client.end(true, () => {
      setTimeout(() => {
        this.recovering = false;
        if (this.client === client) client.reconnect();
      }, this.options.reconnectPeriodMs).unref();
    });
  }
}
