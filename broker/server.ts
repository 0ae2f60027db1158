import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client, type PublishPacket, type Subscription } from 'aedes';
import { Counter, Gauge, type Registry } from 'prom-client';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Component } from '../core/component.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { encodePayload, deviceTopic } from '../protocol/topics.ts';
import { authorizeClientId, authorizePublish, authorizeSubscribe } from './acl.ts';
import { defaultLockoutOptions, Lockout } from './lockout.ts';
import { PacketGuard } from './packet-guard.ts';
import type { DeviceRegistry, Principal } from './registry.ts';

export type BrokerOptions = Pick<Config['mqtt'], 'host' | 'port' | 'tlsPort' | 'tlsCert' | 'tlsKey' | 'wsPort' | 'maxPacketBytes' | 'authFailuresBeforeLockout' | 'lockoutMs'>;

/** How often connected clients are re-checked against the registry (revocation, rotation), in ms. */
const revalidateIntervalMs = 10_000;

const principals = new WeakMap<Client, Principal>();

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function remoteAddressOf(client: Client): string {
  const conn = client.conn as { remoteAddress?: string };
  return client.req?.socket.remoteAddress ?? conn.remoteAddress ?? 'unknown';
}

/** The embedded MQTT broker: aedes behind device authentication, per-device ACLs and lockout. */
export class Broker implements Component {
  readonly name = 'broker';
  private aedes: Aedes | undefined;
  private tcp: Server | undefined;
  private tls: TlsServer | undefined;
  private wss: WebSocketServer | undefined;
  private revalidateTimer: NodeJS.Timeout | undefined;
  private readonly lockout: Lockout;
  private readonly refusals: Counter<'reason'>;
  private readonly authFailures: Counter<'reason'>;
  private readonly connected: Gauge<'type'>;

  constructor(
    private readonly options: BrokerOptions,
    private readonly registry: DeviceRegistry,
    private readonly logger: Logger,
    metrics: Registry,
  ) {
    this.lockout = new Lockout({ ...defaultLockoutOptions, maxFailures: options.authFailuresBeforeLockout, lockoutMs: options.lockoutMs });
    this.refusals = new Counter({ name: 'plaza_broker_refusals_total', help: 'Publishes, subscriptions and connections refused by the broker', labelNames: ['reason'], registers: [metrics] });
    this.authFailures = new Counter({ name: 'plaza_broker_auth_failures_total', help: 'Failed MQTT authentications', labelNames: ['reason'], registers: [metrics] });
    this.connected = new Gauge({ name: 'plaza_broker_clients', help: 'Connected MQTT clients', labelNames: ['type'], registers: [metrics] });
  }

  /** Ports actually bound (useful when configured as 0). */
  get ports(): { tcp: number; tls?: number; ws?: number } {
    const port = (server: { address(): string | AddressInfo | null } | undefined): number | undefined => {
      const address = server?.address();
      return typeof address === 'object' && address !== null ? address.port : undefined;
    };
    const tcp = port(this.tcp);
    if (tcp === undefined) throw new Error('broker is not listening');
    const result: { tcp: number; tls?: number; ws?: number } = { tcp };
    const tls = port(this.tls);
    if (tls !== undefined) result.tls = tls;
    const ws = port(this.wss);
    if (ws !== undefined) result.ws = ws;
    return result;
  }

  async start(): Promise<void> {
    const aedes = await Aedes.createBroker({
      maxClientsIdLength: 128,
      connectTimeout: 10_000, // 10 s to send CONNECT after TCP connect
      preConnect: (client, _packet, done) => {
        const lockedMs = this.lockout.lockedForMs(`addr:${remoteAddressOf(client)}`);
        if (lockedMs > 0) {
          this.refuse('address locked out', { address: remoteAddressOf(client) });
          done(authError('locked out', 5), false);
          return;
        }
        done(null, true);
      },
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
    aedes.on('connectionError', (client, error) => this.logger.debug({ clientId: client.id, err: error.message }, 'connection error'));
    aedes.on('client', (client) => {
      const principal = principals.get(client);
      this.connected.inc({ type: principal?.type ?? 'unknown' });
    });
    aedes.on('clientDisconnect', (client) => this.onDisconnect(client));

    const handle = (stream: Parameters<Aedes['handle']>[0], req?: Parameters<Aedes['handle']>[1]): void => {
      const client = aedes.handle(stream, req);
      this.guardPacketSize(client);
    };
    this.tcp = createServer((socket) => handle(socket));
    await listen(this.tcp, this.options.port, this.options.host);
    if (this.options.tlsPort !== undefined && this.options.tlsCert !== undefined && this.options.tlsKey !== undefined) {
      this.tls = createTlsServer({ cert: readFileSync(this.options.tlsCert), key: readFileSync(this.options.tlsKey) }, (socket) => handle(socket));
      await listen(this.tls, this.options.tlsPort, this.options.host);
    }
    if (this.options.wsPort !== undefined) {
      const wss = new WebSocketServer({ port: this.options.wsPort, host: this.options.host, maxPayload: this.options.maxPacketBytes + 16 });
      wss.on('connection', (socket, req) => handle(createWebSocketStream(socket), req));
      await new Promise<void>((resolve, reject) => {
        wss.once('listening', resolve);
        wss.once('error', reject);
      });
      this.wss = wss;
    }
    this.revalidateTimer = setInterval(() => this.revalidateClients(), revalidateIntervalMs);
    this.revalidateTimer.unref();
    this.logger.info({ ports: this.ports }, 'MQTT broker listening');
  }

  async stop(): Promise<void> {
    if (this.revalidateTimer) clearInterval(this.revalidateTimer);
    const aedes = this.aedes;
    this.aedes = undefined;
    await Promise.all([closeServer(this.tcp), closeServer(this.tls), closeWss(this.wss)]);
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
  }

  /** Publishes a retained config message to a device (platform → device). */
  async publishDeviceConfig(address: { mall: string; store: string; device: string }, config: Parameters<typeof encodePayload<'config'>>[1]): Promise<void> {
    await this.publish(deviceTopic(address, 'config'), encodePayload('config', config), true);
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
    const idKey = `id:${client.id}`;
    const addrKey = `addr:${address}`;
    const lockedMs = Math.max(this.lockout.lockedForMs(idKey), this.lockout.lockedForMs(addrKey));
    if (lockedMs > 0) {
      this.authFailures.inc({ reason: 'locked_out' });
      this.refuse('locked out', { clientId: client.id, address, lockedForS: Math.ceil(lockedMs / 1000) });
      return authError('locked out', 5);
    }
    const principal = username === undefined || password === undefined ? null : await this.registry.authenticate(username, password.toString('utf8'));
    if (principal === null) {
      const delayMs = Math.max(this.lockout.recordFailure(idKey), this.lockout.recordFailure(addrKey));
      this.authFailures.inc({ reason: username === undefined ? 'no_credentials' : 'bad_credentials' });
      this.refuse('bad credentials', { clientId: client.id, username, address });
      // Slow down guessing: the CONNACK of a failed attempt is delayed, growing with repeated failures.
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return authError('bad username or password', 4);
    }
    const idCheck = authorizeClientId(principal, client.id);
    if (!idCheck.allow) {
      this.refuse(idCheck.reason, { clientId: client.id, username, address });
      return authError(idCheck.reason, 5);
    }
    this.lockout.recordSuccess(idKey);
    this.lockout.recordSuccess(addrKey);
    principals.set(client, principal);
    return null;
  }

  private checkPublish(client: Client | null, packet: PublishPacket): Error | null {
    if (client === null) return null; // broker-internal publish
    const principal = principals.get(client);
    if (principal === undefined) return this.refuse('publish before authentication', { clientId: client.id });
    const decision = authorizePublish(principal, packet.topic);
    if (!decision.allow) {
      // aedes closes the client on an authorizePublish error: a device publishing out of bounds is cut off.
      return this.refuse(decision.reason, { clientId: client.id, topic: packet.topic.slice(0, 200) });
    }
    // Readings are not state: only status and config may be retained.
    if (packet.retain && principal.type === 'device' && !packet.topic.endsWith('/status')) packet.retain = false;
    return null;
  }

  private checkSubscribe(client: Client, subscription: Subscription): Subscription | null {
    const principal = principals.get(client);
    const decision = principal === undefined ? { allow: false as const, reason: 'not authenticated' } : authorizeSubscribe(principal, subscription.topic);
    if (!decision.allow) {
      this.refuse(decision.reason, { clientId: client.id, filter: subscription.topic.slice(0, 200) });
      return null; // SUBACK 0x80 for this filter [MQTT-3.9.3]
    }
    return subscription;
  }

  private onDisconnect(client: Client): void {
    const principal = principals.get(client);
    this.connected.dec({ type: principal?.type ?? 'unknown' });
    if (principal?.type !== 'device') return;
    const aedes = this.aedes;
    // A reconnect that took over the session already registered a new client under the same id.
    const current = (aedes as unknown as { clients: Record<string, Client | undefined> } | undefined)?.clients[client.id];
    if (aedes === undefined || (current !== undefined && current !== client)) return;
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
      this.refuse('packet too large', { clientId: client.id, address: remoteAddressOf(client) });
      client.conn.destroy();
      return 0;
    };
  }

  private revalidateClients(): void {
    const clients = (this.aedes as unknown as { clients?: Record<string, Client> } | undefined)?.clients ?? {};
    for (const client of Object.values(clients)) {
      const principal = principals.get(client);
      if (principal !== undefined && !this.registry.isStillValid(principal)) {
        this.refuse('credentials revoked or rotated', { clientId: client.id });
        client.close();
      }
    }
  }

  private refuse(reason: string, context: Record<string, unknown>): Error {
    this.refusals.inc({ reason });
    this.logger.warn({ ...context, reason }, 'refused');
    return new Error(reason);
  }
}

function listen(server: Server | TlsServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server | TlsServer | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

function closeWss(wss: WebSocketServer | undefined): Promise<void> {
  if (!wss) return Promise.resolve();
  for (const client of wss.clients) client.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}
