import type Database from 'better-sqlite3';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type Config, configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import type { PortalContext } from '../../portal/context.ts';
import { openPortalDatabase } from '../../portal/db.ts';
import { LoginEventBuilder } from '../../portal/events/login-event.ts';
import { createGateway, type GatewayAdapter } from '../../portal/gateways/index.ts';
import { derivePortalKeys } from '../../portal/keys.ts';
import { type CodeSender, ConsoleCodeSender } from '../../portal/otp/senders.ts';
import { buildPortalHttp } from '../../portal/server.ts';
import type { MqttClient } from 'mqtt';
import { platformTopicFilters } from '../../protocol/platform.ts';
import { connectClient, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';

export const testSecret = 'portal-test-secret-0123456789abcdef';
export const testHashSecret = 'hash-test-secret-0123456789';
export const clientMac = 'aa:bb:cc:dd:ee:01';

export interface TestPortal {
  app: FastifyInstance;
  ctx: PortalContext;
  sender: ConsoleCodeSender;
  published: { topic: string; payload: unknown }[];
  db: Database.Database;
  dataDir: string;
  config: Config;
  /** Log lines written by the portal's logger. */
  logs: string[];
  clock: { now: number; advance(ms: number): void };
  close(): Promise<void>;
}

export interface TestPortalOptions {
  portal?: Record<string, unknown>;
  gateways?: (config: Config) => ReadonlyMap<string, GatewayAdapter>;
  sender?: CodeSender;
  trustClaimedMac?: boolean;
}

/** The real portal app on a real SQLite file in a temp dir, with a plain gateway and a controllable clock. */
export async function buildTestPortal(options: TestPortalOptions = {}): Promise<TestPortal> {
  const dataDir = tempDir('plaza-portal');
  const config = configSchema.parse({
    dataDir,
    portal: { secret: testSecret, malls: { 'mall-1': { displayName: 'Plaza One', apStores: { 'ap-1': 'store-1' } } }, ...options.portal },
    malls: { 'mall-1': { name: 'Mall One', timeZone: 'Asia/Shanghai' } },
  });
  const clock = {
    now: Date.UTC(2026, 0, 15, 4, 0, 0),
    advance(ms: number) {
      clock.now += ms;
    },
  };
  const now = (): number => clock.now;
  const logs: string[] = [];
  const logger = createLogger('debug', { write: (line: string) => void logs.push(line) });
  const db = openPortalDatabase(dataDir);
  const sender = new ConsoleCodeSender(() => undefined);
  const published: { topic: string; payload: unknown }[] = [];
  const events = new LoginEventBuilder({ hashSecret: testHashSecret, timeZoneOf: () => 'Asia/Shanghai', storeOf: (mall, ap) => config.portal.malls[mall]?.apStores[ap], now });
  const gateways =
    options.gateways?.(config) ??
    new Map([['mall-1', createGateway({ kind: 'plain', trustClaimedMac: options.trustClaimedMac ?? true }, { mall: 'mall-1', logger, now })]]);
  let ctx: PortalContext | undefined;
  const app = await buildPortalHttp({
    config,
    keys: derivePortalKeys(testSecret),
    db,
    sender: options.sender ?? sender,
    gateways,
    events,
    publish: (topic, payload) => published.push({ topic, payload }),
    logger,
    now,
    context: (c) => {
      ctx = c;
    },
  });
  await app.ready();
  if (ctx === undefined) throw new Error('portal context was not created');
  return {
    app,
    ctx,
    sender,
    published,
    db,
    dataDir,
    config,
    logs,
    clock,
    close: async () => {
      await app.close();
      db.close();
    },
  };
}

/** Pulls `name="<field>" value="…"` out of a page (our own markup; values are HTML-escaped). */
export function field(body: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(body);
  if (match?.[1] === undefined) throw new Error(`no field ${name} in page`);
  return match[1].replace(/&amp;/g, '&');
}

export function location(response: LightMyRequestResponse): string {
  const value = response.headers.location;
  if (typeof value !== 'string') throw new Error(`no redirect (status ${response.statusCode})`);
  return value;
}

/** Arrives as the plain gateway would redirect; returns the /start URL with its token. */
export async function arrive(portal: TestPortal, query: Record<string, string> = { mac: clientMac, ap: 'ap-1', url: 'http://example.com/' }, headers: Record<string, string> = {}): Promise<string> {
  const response = await portal.app.inject({ method: 'GET', url: `/m/mall-1/?${new URLSearchParams(query).toString()}`, headers });
  if (response.statusCode !== 303) throw new Error(`arrival answered ${response.statusCode}: ${response.body.slice(0, 300)}`);
  return location(response);
}

export function tokenOf(url: string): string {
  const t = new URL(url, 'http://portal.test').searchParams.get('t');
  if (t === null) throw new Error(`no token in ${url}`);
  return t;
}

/** Posts a form the way a browser does (urlencoded). */
export function post(portal: TestPortal, url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return portal.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(form).toString(),
  });
}

/** Listens on a real broker, as ingest does, for the portal's login events; `received` fills as they arrive. */
export async function listenForLogins(broker: TestBroker): Promise<{ client: MqttClient; received: unknown[] }> {
  const account = await broker.registry.addEphemeralService('ingest');
  const client = await connectClient(broker.url, { username: account.username, password: account.password, clientId: `${account.username}-test` });
  const received: unknown[] = [];
  await client.subscribeAsync(platformTopicFilters.portalLogin, { qos: 1 });
  client.on('message', (_topic, payload) => received.push(JSON.parse(payload.toString('utf8'))));
  return { client, received };
}
