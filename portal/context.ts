import type Database from 'better-sqlite3';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { FlowTokens, type FlowState } from './flow/token.ts';
import type { GatewayAdapter } from './gateways/types.ts';
import type { SafeHtml } from './html/escape.ts';
import { catalogues, chooseLanguage, type Language } from './i18n/index.ts';
import type { LoginEventBuilder } from './events/login-event.ts';
import type { PortalKeys } from './keys.ts';
import { MemberStore } from './members/store.ts';
import { ChallengeStore } from './otp/challenges.ts';
import { RateLimiter } from './otp/rate-limit.ts';
import type { CodeSender } from './otp/senders.ts';
import { OtpService } from './otp/service.ts';
import type { Brand, PageContext } from './views/layout.ts';
import { PendingConfirmations } from './confirmations.ts';
import { GrantTracker } from './grants.ts';

/** What the portal app needs from outside; the server (or a test) builds it. */
export interface PortalAppOptions {
  config: Pick<Config, 'portal' | 'malls'>;
  keys: PortalKeys;
  db: Database.Database;
  sender: CodeSender;
  /** The gateway adapter of each mall served. */
  gateways: ReadonlyMap<string, GatewayAdapter>;
  events: LoginEventBuilder;
  /** Hands an event to the MQTT publisher (never blocks a page on the broker). */
  publish: (topic: string, payload: unknown) => void;
  logger: Logger;
  /** Shared with the gateway adapters' onConfirmed hook; made here when the server does not pass one. */
  confirmations?: PendingConfirmations;
  now?: () => number;
}

/** Services shared by the route modules. */
export interface PortalContext {
  options: PortalAppOptions;
  portal: Config['portal'];
  tokens: FlowTokens;
  members: MemberStore;
  otp: OtpService;
  grants: GrantTracker;
  gatewayFor: (mall: string) => GatewayAdapter | undefined;
  confirmations: PendingConfirmations;
  now: () => number;
  logger: Logger;
}

export function createPortalContext(options: PortalAppOptions): PortalContext {
  const now = options.now ?? Date.now;
  const { portal } = options.config;
  const limiter = new RateLimiter(60 * 60 * 1000, now); // all limits are per hour
  return {
    options,
    portal,
    now,
    logger: options.logger,
    tokens: new FlowTokens(options.keys.flow, options.keys.csrf, portal.flowTtlS * 1000, now),
    members: new MemberStore(options.db, options.keys.memberData, options.keys.phoneIndex),
    otp: new OtpService(new ChallengeStore(options.db, options.keys.otp), options.sender, limiter, { ...portal.otp, ...portal.rateLimits }, options.keys.client, now, options.logger),
    grants: new GrantTracker(now),
    gatewayFor: (mall) => options.gateways.get(mall),
    confirmations: options.confirmations ?? new PendingConfirmations(options.events, options.publish, portal.id, now),
  };
}

/** Malls this portal serves: configured for the portal, in the mall list, or with a gateway. */
export function isKnownMall(ctx: PortalContext, mall: string): boolean {
  return Object.hasOwn(ctx.portal.malls, mall) || Object.hasOwn(ctx.options.config.malls, mall) || ctx.options.gateways.has(mall);
}

export function defaultMall(ctx: PortalContext): string | undefined {
  return Object.keys(ctx.portal.malls)[0] ?? Object.keys(ctx.options.config.malls)[0] ?? ctx.options.gateways.keys().next().value;
}

export function brandOf(ctx: PortalContext, mall: string | undefined): Brand {
  if (mall === undefined || !isKnownMall(ctx, mall)) return { mall: '_', name: 'Wi-Fi' };
  const settings = ctx.portal.malls[mall];
  return { mall, name: settings?.displayName ?? ctx.options.config.malls[mall]?.name ?? mall, logoUrl: settings?.logoUrl };
}

export function languageOf(ctx: PortalContext, request: FastifyRequest, explicit: unknown): Language {
  const header = request.headers['accept-language'];
  return chooseLanguage(explicit, typeof header === 'string' ? header : undefined, ctx.portal.defaultLanguage);
}

export function pageContext(ctx: PortalContext, lang: Language, mall: string | undefined, langHref: (lang: Language) => string): PageContext {
  return { lang, m: catalogues[lang], brand: brandOf(ctx, mall), langHref };
}

/** `path?t=…&lang=…`: how flow pages link to each other. */
export function flowHref(path: string, token: string | undefined, lang: Language): string {
  const query = new URLSearchParams();
  if (token !== undefined) query.set('t', token);
  query.set('lang', lang);
  return `${path}?${query.toString()}`;
}

export function sendPage(reply: FastifyReply, status: number, body: SafeHtml): FastifyReply {
  return reply.code(status).type('text/html; charset=utf-8').send(body.value);
}

/**
 * CSRF without cookies: the form must carry the CSRF value bound to its flow token, and the browser must not
 * report a cross-site request. Origin is `null` under Referrer-Policy no-referrer, so only a foreign origin fails.
 */
export function checkFormOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') return false;
  const origin = request.headers.origin;
  if (origin === undefined || origin === 'null') return true;
  try {
    return new URL(origin).host === request.headers.host;
  } catch {
    return false;
  }
}

/** Opens the flow token of a form post and checks its CSRF value; null when either fails. */
export function openForm(ctx: PortalContext, request: FastifyRequest, body: { t: string; csrf: string }): FlowState | null {
  if (!checkFormOrigin(request)) return null;
  const state = ctx.tokens.open(body.t);
  if (state === null || !ctx.tokens.checkCsrf(state, body.csrf)) return null;
  return state;
}

/** Base URL for absolute links handed to gateways: the configured public URL, else this request's host. */
export function baseUrl(ctx: PortalContext, request: FastifyRequest): string {
  if (ctx.portal.publicUrl !== undefined) return ctx.portal.publicUrl.replace(/\/+$/, '');
  const host = request.headers.host ?? '';
  const safeHost = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(host) ? host : 'localhost';
  return `${request.protocol}://${safeHost}`;
}
