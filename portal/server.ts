import type Database from 'better-sqlite3';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Component } from '../core/component.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { defaultTimeZone } from '../ingest/settings.ts';
import { portalApp, type PortalAppOptions } from './app.ts';
import { PendingConfirmations } from './confirmations.ts';
import type { PortalContext } from './context.ts';
import { openPortalDatabase } from './db.ts';
import { LoginEventBuilder } from './events/login-event.ts';
import { EventPublisher, type MqttTarget } from './events/publisher.ts';
import { createGateway, type GatewayAdapter } from './gateways/index.ts';
import { derivePortalKeys } from './keys.ts';
import { type CodeSender, ConsoleCodeSender, WebhookCodeSender } from './otp/senders.ts';

/** Slow-client limits: a captive portal faces every phone in the mall. */
export const portalHttpDefaults = {
  requestTimeoutMs: 15_000, // whole request, incl. a slow body
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  bodyLimitBytes: 8 * 1024, // forms are a few hundred bytes
  maxParamLength: 100,
} as const;

/**
 * The fastify instance around the portal app: timeouts, body limit, and request logging that records only
 * method, route, status and time — never query strings or bodies, which carry tokens, phones and codes.
 */
export async function buildPortalHttp(options: PortalAppOptions & { trustProxy?: boolean; context?: (ctx: PortalContext) => void }): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as unknown as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: portalHttpDefaults.requestTimeoutMs,
    keepAliveTimeout: portalHttpDefaults.keepAliveTimeoutMs,
    bodyLimit: portalHttpDefaults.bodyLimitBytes,
    routerOptions: { maxParamLength: portalHttpDefaults.maxParamLength },
    trustProxy: options.trustProxy ?? false,
    return503OnClosing: true,
  });
  app.server.headersTimeout = portalHttpDefaults.headersTimeoutMs;
  app.addHook('onResponse', async (request, reply) => {
    options.logger.debug({ method: request.method, route: request.routeOptions.url ?? '(none)', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  await app.register(portalApp, options);
  return app;
}

export interface PortalServerOptions {
  config: Pick<Config, 'portal' | 'malls' | 'dataDir'>;
  /** Portal secret (config portal.secret, or an ephemeral one in demo mode). */
  secret: string;
  /** ingest.hashSecret: pseudonyms and link hashes must match ingest's. */
  hashSecret: string;
  /** The portal's MQTT service account; without it login events are not published (logged once). */
  mqtt?: MqttTarget | undefined;
  logger: Logger;
  /** Overrides the configured code sender (tests read the console sender's outbox). */
  sender?: CodeSender;
  /** Overrides the adapters built from config (tests). */
  gateways?: ReadonlyMap<string, GatewayAdapter>;
  now?: () => number;
}

const purgeIntervalMs = 10 * 60 * 1000; // 10 min: expired one-time codes are deleted

/** `plaza portal`: the captive portal on PLAZA_PORTAL_PORT, separate from ops. */
export class PortalServer implements Component {
  readonly name = 'portal';
  private app: FastifyInstance | undefined;
  private db: Database.Database | undefined;
  private publisher: EventPublisher | undefined;
  private purgeTimer: NodeJS.Timeout | undefined;
  private senderInUse: CodeSender | undefined;

  constructor(private readonly options: PortalServerOptions) {}

  get port(): number {
    const address = this.app?.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('portal is not listening');
    return address.port;
  }

  get sender(): CodeSender | undefined {
    return this.senderInUse;
  }

  async start(): Promise<void> {
    const { config, logger } = this.options;
    const now = this.options.now ?? Date.now;
    const portal = config.portal;
    const keys = derivePortalKeys(this.options.secret);
    this.db = openPortalDatabase(config.dataDir);
    const sender = this.options.sender ?? this.buildSender();
    this.senderInUse = sender;
    if (this.options.mqtt === undefined) {
      logger.warn('no MQTT target for the portal: login events will not reach ingest');
    } else {
      this.publisher = new EventPublisher(this.options.mqtt, logger.child({ part: 'events' }));
      await this.publisher.start();
    }
    const publisher = this.publisher;
    const publish = (topic: string, payload: unknown): void => publisher?.publish(topic, payload);
    const events = new LoginEventBuilder({
      hashSecret: this.options.hashSecret,
      timeZoneOf: (mall) => config.malls[mall]?.timeZone ?? defaultTimeZone,
      storeOf: (mall, ap) => portal.malls[mall]?.apStores[ap],
      now,
    });
    const confirmations = new PendingConfirmations(events, publish, portal.id, now);
    const gateways = this.options.gateways ?? this.buildGateways(confirmations, now);
    this.app = await buildPortalHttp({ config, keys, db: this.db, sender, gateways, events, publish, logger, confirmations, now, trustProxy: portal.trustProxy });
    await this.app.listen({ port: portal.port, host: portal.host });
    const challengesDb = this.db;
    this.purgeTimer = setInterval(() => {
      try {
        challengesDb.prepare('DELETE FROM otp_challenges WHERE expires_ms < ?').run(now() - 60 * 60 * 1000);
      } catch (error) {
        logger.error({ reason: (error as Error).message }, 'purging expired codes failed');
      }
    }, purgeIntervalMs);
    this.purgeTimer.unref();
    logger.info({ port: this.port, malls: [...gateways.keys()], sender: sender.kind }, 'portal listening');
  }

  async stop(): Promise<void> {
    if (this.purgeTimer !== undefined) clearInterval(this.purgeTimer);
    this.purgeTimer = undefined;
    await this.app?.close();
    this.app = undefined;
    await this.publisher?.stop();
    this.publisher = undefined;
    this.db?.close();
    this.db = undefined;
  }

  private buildSender(): CodeSender {
    const otp = this.options.config.portal.otp;
    if (otp.sender === 'webhook' && otp.webhookUrl !== undefined && otp.webhookSecret !== undefined) {
      return new WebhookCodeSender({ url: otp.webhookUrl, secret: otp.webhookSecret, timeoutMs: otp.webhookTimeoutMs });
    }
    return new ConsoleCodeSender();
  }

  /** One adapter per mall; malls without gateway settings run in plain mode (development and demos). */
  private buildGateways(confirmations: PendingConfirmations, now: () => number): Map<string, GatewayAdapter> {
    const { config, logger } = this.options;
    const malls = new Set([...Object.keys(config.portal.malls), ...Object.keys(config.malls)]);
    const gateways = new Map<string, GatewayAdapter>();
    for (const mall of malls) {
      const settings = config.portal.malls[mall]?.gateway ?? { kind: 'plain' as const, trustClaimedMac: false };
      if (config.portal.malls[mall]?.gateway === undefined) logger.warn({ mall }, 'no gateway configured for this mall: plain mode');
      gateways.set(mall, createGateway(settings, { mall, logger: logger.child({ mall }), onConfirmed: (c) => confirmations.confirm(c), arrivalPath: `/m/${mall}/`, now }));
    }
    return gateways;
  }
}
