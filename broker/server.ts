import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Component } from '../core/component.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { isId } from '../protocol/ids.ts';
import { type DeviceAddress, deviceTopic, encodePayload, type PayloadOf } from '../protocol/topics.ts';
import { authorizeClientId, authorizePublish, authorizeSubscribe } from './acl.ts';
import { Listeners } from './listeners.ts';
import { defaultLockoutOptions, Lockout, type LockoutOptions } from './lockout.ts';
import { defaultLogLimiterOptions, LogLimiter, type LogLimiterOptions } from './log-limiter.ts';
import { PacketGuard } from './packet-guard.ts';
import type { DeviceRegistry, Principal } from './registry.ts';

/** Tunables that are not in the config file; defaults suit production, tests shrink them. */
export interface BrokerTuning {
  /** How often live connections are re-checked against the registry (revocation, rotation), in ms. */
  revalidateIntervalMs: number;
  /** Time a client has to send CONNECT after its TCP connection opens, in ms. */
  connectTimeoutMs: number;
  /** A client whose socket does not drain for this long is disconnected, so a frozen subscriber cannot stall delivery to others, in ms. */
  drainTimeoutMs: number;
  /** Failures from one remote address before it is locked out; higher than per client id, since a mall's devices may share one NAT address. */
  addressFailuresBeforeLockout: number;
  /** Window and delays of the lockout; maxFailures and lockoutMs come from the config. */
  lockout: Partial<Omit<LockoutOptions, 'maxFailures'>>;
  /** Rate limits of refusal log lines (the refusal metric counts every refusal regardless). */
  refusalLog: Partial<LogLimiterOptions>;
}

export const defaultBrokerTuning: BrokerTuning = {
  revalidateIntervalMs: 10_000, // 10 s
  connectTimeoutMs: 10_000, // 10 s
  drainTimeoutMs: 10_000, // 10 s
  addressFailuresBeforeLockout: 50,
  lockout: {},
  refusalLog: {},
};

export type BrokerOptions = Pick<
  Config['mqtt'],
  'host' | 'port' | 'tlsPort' | 'tlsCert' | 'tlsKey' | 'wsPort' | 'maxPacketBytes' | 'authFailuresBeforeLockout' | 'lockoutMs'
> &
  Partial<BrokerTuning>;

const principals = new WeakMap<Client, Principal>();

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

function remoteAddressOf(client: Client): string {
  const conn = client.conn as { remoteAddress?: string };
  return client.req?.socket.remoteAddress ?? conn.remoteAddress ?? 'unknown';
}

/** aedes keeps its client table untyped; this is the one place that reaches into it. */
function registeredClient(aedes: Aedes | undefined, clientId: string): Client | undefined {
  return (aedes as unknown as { clients?: Record<string, Client | undefined> } | undefined)?.clients?.[clientId];
}

/** The embedded MQTT broker: aedes behind device authentication, per-device ACLs, lockout and a packet size guard. */
export class Broker implements Component {
  readonly name = 'broker';
  private aedes: Aedes | undefined;
  private listeners: Listeners | undefined;
  private revalidateTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** Every open connection, authenticated or not, so stop() can end them all. */
  private readonly streams = new Set<Duplex>();
  /** Registered clients (CONNECT accepted), tracked by their connection's end rather than aedes' events. */
  private readonly live = new Set<Client>();
  /** A client whose id a newer, authenticated connection is taking over ([MQTT-3.1.4-2]). */
  private readonly successors = new WeakMap<Client, Client>();
  private readonly lockout: Lockout;
  private readonly addressLockout: Lockout;
  private readonly refusalLog: LogLimiter;
  private readonly tuning: BrokerTuning;
  private readonly refusals: Counter<'reason'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly connected: Gauge<'type'>;

  constructor(
    private readonly options: BrokerOptions,
    private readonly registry: DeviceRegistry,
    private readonly logger: Logger,
    metrics: Registry,
  ) {
    this.tuning = { ...defaultBrokerTuning, ...options };
    const lockout = { ...defaultLockoutOptions, ...this.tuning.lockout, lockoutMs: options.lockoutMs };
    this.lockout = new Lockout({ ...lockout, maxFailures: options.authFailuresBeforeLockout });
    this.addressLockout = new Lockout({ ...lockout, maxFailures: this.tuning.addressFailuresBeforeLockout });
    this.refusalLog = new LogLimiter({ ...defaultLogLimiterOptions, ...this.tuning.refusalLog });
    this.refusals = new Counter({ name: 'plaza_broker_refusals_total', help: 'Publishes, subscriptions and connections refused by the broker', labelNames: ['reason'], registers: [metrics] });
    this.authFailures = new Counter({ name: 'plaza_broker_auth_failures_total', help: 'Failed MQTT authentications', labelNames: ['reason'], registers: [metrics] });
    this.connected = new Gauge({ name: 'plaza_broker_clients', help: 'Connected MQTT clients', labelNames: ['type'], registers: [metrics] });
  }

  /** Ports actually bound (useful when configured as 0). */
  get ports(): { tcp: number; tls?: number; ws?: number } {
    if (this.listeners === undefined) throw new Error('broker is not listening');
    return this.listeners.ports;
  }

  /** Change time of the newest device config already published (retained), epoch ms. */
  private configsPublishedUpToMs = -1;

  async start(): Promise<void> {
    this.stopping = false;
    this.configsPublishedUpToMs = -1;
    const aedes = await Aedes.createBroker({
      maxClientsIdLength: 128,
      connectTimeout: this.tuning.connectTimeoutMs,
      drainTimeout: this.tuning.drainTimeoutMs,
      authenticate: (client, username, password, done) => {
        this.authenticate(client, username, password).then(
          (error) => done(error, error === null),
          (error: unknown) => {
            this.logger.error({ err: error, clientId: client.id }, 'authentication crashed');
            done(authError('server unavailable', 5), false);
          },
        );
      },
      authorizePublish: (client, packet, done) => done(this.checkPublish(client, packet)),
      authorizeSubscribe: (client, subscription, done) => done(null, this.checkSubscribe(client, subscription)),
    });
    this.aedes = aedes;
    aedes.on('clientError', (client, error) => this.logger.debug({ clientId: client.id, err: error.message }, 'client error'));
    aedes.on('connectionError', (_client, error) => this.logger.debug({ err: error.message }, 'connection error'));
    aedes.on('client', (client) => this.onRegistered(client));

    this.listeners = new Listeners(this.options, this.logger);
    try {
      await this.listeners.open((stream, req) => this.handle(aedes, stream, req));
    } catch (error) {
      await this.stop();
      throw error;
    }
    // Retained messages live in memory: after a restart every device must get its config again.
    await this.publishChangedConfigs();
    this.revalidateTimer = setInterval(() => {
      this.revalidateClients();
      this.publishChangedConfigs().catch((error: unknown) => this.logger.error({ err: error }, 'could not publish device configs'));
    }, this.tuning.revalidateIntervalMs);
    this.revalidateTimer.unref();
    this.logger.info({ ports: this.ports }, 'MQTT broker listening');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.revalidateTimer) clearInterval(this.revalidateTimer);
    this.revalidateTimer = undefined;
    const aedes = this.aedes;
    this.aedes = undefined; // no offline statuses for devices the shutdown itself disconnects
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    for (const stream of this.streams) stream.destroy();
    await this.listeners?.close();
  }

  /** Publishes a retained config message to a device (platform → device). */
  async publishDeviceConfig(address: DeviceAddress, config: PayloadOf<'config'>): Promise<void> {
    await this.publish(deviceTopic(address, 'config'), encodePayload('config', config), true);
  }

  /** Publishes the retained config of every device added, rotated or reconfigured since the last pass. */
  private async publishChangedConfigs(): Promise<void> {
    const changed = this.registry.deviceConfigsChangedSince(this.configsPublishedUpToMs);
    for (const { device, config, changedMs } of changed) {
      await this.publishDeviceConfig({ mall: device.mall, store: device.store, device: device.id }, config);
      this.configsPublishedUpToMs = Math.max(this.configsPublishedUpToMs, changedMs);
    }
  }

  private handle(aedes: Aedes, stream: Duplex, req?: IncomingMessage): void {
    if (this.stopping) {
      stream.destroy();
      return;
    }
    this.streams.add(stream);
    stream.once('close', () => this.streams.delete(stream));
    const client = aedes.handle(stream, req);
    this.guardPacketSize(client);
  }

  private publish(topic: string, payload: Buffer, retain: boolean): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('broker is not running'));
    return new Promise((resolve, reject) => {
      aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain, dup: false }, (error) => (error ? reject(error) : resolve()));
    });
  }

  private async authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> {
    const address = remoteAddressOf(client);
    const lockedMs = Math.max(this.lockout.lockedForMs(client.id), this.addressLockout.lockedForMs(address));
    if (lockedMs > 0) {
      this.authFailures.inc({ reason: 'locked_out' });
      this.refuse(client, 'locked out', { lockedForS: Math.ceil(lockedMs / 1000) });
      return authError('locked out', 5);
    }
    const principal = username === undefined || password === undefined ? null : await this.registry.authenticate(username, password.toString('utf8'));
    if (principal === null) {
      const delayMs = Math.max(this.lockout.recordFailure(client.id), this.addressLockout.recordFailure(address));
      this.authFailures.inc({ reason: username === undefined ? 'no_credentials' : 'bad_credentials' });
      // The username is logged only when it is a well-formed id: a password pasted into it must not reach the log.
      this.refuse(client, 'bad credentials', { username: username !== undefined && (isId(username) || username.startsWith('svc-')) && username.length <= 64 ? username : '(not an id)' });
      // Slow down guessing: the CONNACK of a failed attempt is delayed, growing with repeated failures.
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return authError('bad username or password', 4);
    }
    const idCheck = authorizeClientId(principal, client.id);
    if (!idCheck.allow) {
      this.refuse(client, idCheck.reason, { username });
      return authError(idCheck.reason, 5);
    }
    this.lockout.recordSuccess(client.id);
    this.addressLockout.recordSuccess(address);
    principals.set(client, principal);
    const previous = registeredClient(this.aedes, client.id);
    if (previous !== undefined && previous !== client) this.successors.set(previous, client);
    return null;
  }

  /** True when a newer connection with the same client id is replacing this one. */
  private isTakenOver(client: Client): boolean {
    const successor = this.successors.get(client);
    return successor !== undefined && !successor.closed;
  }

  private checkPublish(client: Client | null, packet: PublishPacket): Error | null {
    if (client === null) return null; // broker-internal publish
    const principal = principals.get(client);
    if (principal === undefined) return this.refuse(client, 'publish before authentication');
    // A will fires when aedes closes the connection; on a takeover the device is not offline, so drop it.
    if (client.closed && this.isTakenOver(client)) return new Error('will suppressed: session taken over');
    const decision = authorizePublish(principal, packet.topic);
    if (!decision.allow) {
      // aedes closes the client on an authorizePublish error: a device publishing out of bounds is cut off.
      return this.refuse(client, decision.reason, { topic: packet.topic.slice(0, 200) });
    }
    // Readings are not state: only status and config may be retained.
    if (packet.retain && principal.type === 'device' && !packet.topic.endsWith('/status')) packet.retain = false;
    return null;
  }

  private checkSubscribe(client: Client, subscription: Subscription): Subscription | null {
    const principal = principals.get(client);
    const decision = principal === undefined ? { allow: false as const, reason: 'not authenticated' } : authorizeSubscribe(principal, subscription.topic);
    if (!decision.allow) {
      this.refuse(client, decision.reason, { filter: subscription.topic.slice(0, 200) });
      return null; // SUBACK 0x80 for this filter [MQTT-3.9.3]
    }
    return subscription;
  }

  private onRegistered(client: Client): void {
    const principal = principals.get(client);
    if (principal === undefined || this.live.has(client)) return;
    this.live.add(client);
    this.connected.inc({ type: principal.type });
    // The connection's end, not aedes' clientDisconnect: aedes also emits that for clients it never registered.
    client.conn.once('close', () => this.onClosed(client, principal));
  }

  private onClosed(client: Client, principal: Principal): void {
    if (!this.live.delete(client)) return;
    this.connected.dec({ type: principal.type });
    if (principal.type !== 'device' || this.aedes === undefined || this.isTakenOver(client)) return;
    const topic = deviceTopic({ mall: principal.mall, store: principal.store, device: principal.id }, 'status');
    this.publish(topic, encodePayload('status', { v: 1, online: false, ts: Date.now() }), true).catch((error: unknown) =>
      this.logger.warn({ err: error, device: principal.id }, 'could not publish offline status'),
    );
  }

  private guardPacketSize(client: Client): void {
    const guard = new PacketGuard(this.options.maxPacketBytes);
    const parser = (client as unknown as { _parser: { parse(buf: Buffer): unknown } })._parser;
    const parse = parser.parse.bind(parser);
    parser.parse = (buf: Buffer) => {
      if (guard.feed(buf)) return parse(buf);
      this.refuse(client, 'packet too large');
      client.conn.destroy();
      return 0;
    };
  }

  private revalidateClients(): void {
    for (const client of this.live) {
      const principal = principals.get(client);
      try {
        if (principal !== undefined && !client.closed && !this.registry.isStillValid(principal)) {
          this.refuse(client, 'credentials revoked or rotated');
          client.close();
        }
      } catch (error) {
        this.logger.error({ err: error, clientId: client.id }, 'could not revalidate client');
      }
    }
  }

  /** Counts every refusal and logs it (never a secret), at most a few lines per reason and client per window. */
  private refuse(client: Client, reason: string, context: Record<string, unknown> = {}): Error {
    this.refusals.inc({ reason });
    const address = remoteAddressOf(client);
    const clientId = typeof client.id === 'string' ? client.id.slice(0, 128) : undefined;
    const admitted = this.refusalLog.admit(`${reason}\0${address}\0${clientId ?? ''}`);
    if (admitted !== null) {
      const suppressed = admitted.suppressed > 0 ? { suppressedSinceLast: admitted.suppressed } : {};
      this.logger.warn({ ...context, clientId, address, reason, ...suppressed }, 'refused');
    }
    return new Error(reason);
  }
}
