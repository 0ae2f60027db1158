import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { idSchema } from '../protocol/ids.ts';
import { gatewaySettingsSchema } from '../portal/gateways/settings.ts';
import { mallAlertsSchema, openingHoursSchema } from '../dashboards/alerts/settings.ts';

// Digits only: z.coerce alone reads ' ' as 0 (a random port) and '0x50' as 80.
const port = z.union([z.number(), z.string().trim().regex(/^\d+$/, 'must be a port number')]).pipe(z.coerce.number<string | number>().int().min(0).max(65535));
const optionalPort = port.optional();
const nonEmpty = z.string().min(1);
const url = z.url();
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const bool = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((v) => v === true || v === 'true' || v === '1');

/** An IANA time zone name the runtime knows. */
export const timeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'must be an IANA time zone such as Asia/Shanghai');

/** Per-store settings; unset values fall back to the ingest defaults documented in docs/data-model.md. */
const storeSchema = z.strictObject({
  name: z.string().max(200).optional(),
  capacity: z.number().int().min(1).optional(),
  visitorRssiDbm: z.number().int().min(-120).max(0).optional(),
  visitorMinDwellS: z.number().int().min(0).max(86_400).optional(),
  visitGapS: z.number().int().min(30).max(86_400).optional(),
  /** Minutes without entries during opening hours before the no-entries alert (default: the mall's alerts.noEntriesMin). */
  noEntriesAlertMin: z.number().int().min(5).max(720).optional(),
});

const hexColour = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'must be a colour #rrggbb');
const httpUrl = z.url({ protocol: /^https?$/ });
const consentVersion = z.string().regex(/^[A-Za-z0-9._-]{1,32}$/, 'must be a short version label');

/** Portal look and store mapping per mall (docs/portal.md). */
const portalMallSchema = z.strictObject({
  /** Shown on the pages; falls back to malls.<id>.name, then the id. */
  displayName: z.string().min(1).max(100).optional(),
  logoUrl: httpUrl.optional(),
  colours: z
    .strictObject({ primary: hexColour.default('#0b5cad'), background: hexColour.default('#ffffff'), text: hexColour.default('#1a1a1a') })
    .prefault({}),
  venueInfoUrl: httpUrl.optional(),
  /** Access point / gateway node id, as the gateway reports it → store id, for login events. */
  apStores: z.record(z.string().min(1).max(64), idSchema).default({}),
  /** The mall's captive-portal gateway (portal/gateways/settings.ts); without one the portal runs in plain mode. */
  gateway: gatewaySettingsSchema.optional(),
});

/** The captive portal (portal/). Rate limits are per phone and per (gateway, client MAC), never per IP. */
const portalSchema = z
  .strictObject({
    port: port.default(8080),
    host: nonEmpty.default('0.0.0.0'),
    /** This portal's id in MQTT topics (plaza/v1/<mall>/_portal/<id>/login). */
    id: idSchema.default('main'),
    /** Public base URL of the portal (RFC 8908 user-portal-url, gateway continue URLs); else derived per request. */
    publicUrl: httpUrl.optional(),
    /** Keys flow tokens, code hashes and member-data encryption; must stay stable. Required outside demo mode. */
    secret: z.string().min(32).optional(),
    trustProxy: bool.default(false),
    sessionS: z.coerce.number().int().min(60).max(7 * 86_400).default(4 * 3600), // 4 h online per login
    flowTtlS: z.coerce.number().int().min(60).max(86_400).default(30 * 60), // 30 min to finish a login
    defaultLanguage: z.enum(['zh-CN', 'en']).default('zh-CN'),
    consentVersions: z
      .strictObject({
        terms: consentVersion.default('2026-01'),
        privacy: consentVersion.default('2026-01'),
        analytics: consentVersion.default('2026-01'),
        marketing: consentVersion.default('2026-01'),
      })
      .prefault({}),
    otp: z
      .strictObject({
        sender: z.enum(['console', 'webhook']).default('console'),
        webhookUrl: httpUrl.optional(),
        webhookSecret: z.string().min(16).optional(),
        webhookTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(5000),
        codeTtlS: z.coerce.number().int().min(60).max(900).default(300), // 5 min
        maxAttempts: z.coerce.number().int().min(1).max(10).default(5),
        resendCooldownS: z.coerce.number().int().min(0).max(600).default(60),
      })
      .prefault({})
      .refine((o) => o.sender !== 'webhook' || (o.webhookUrl !== undefined && o.webhookSecret !== undefined), 'the webhook sender needs webhookUrl and webhookSecret'),
    rateLimits: z
      .strictObject({
        sendsPerPhonePerHour: z.coerce.number().int().min(1).max(1000).default(5),
        sendsPerClientPerHour: z.coerce.number().int().min(1).max(1000).default(10),
        /** Cap on all code sends of one mall: bounds SMS-pumping cost when clients have no MAC. */
        sendsPerMallPerHour: z.coerce.number().int().min(1).max(1_000_000).default(1000),
        verifyFailuresPerClientPerHour: z.coerce.number().int().min(1).max(1000).default(20),
      })
      .prefault({}),
    malls: z.record(idSchema, portalMallSchema).default({}),
  })
  .prefault({});

const mallSchema = z.strictObject({
  name: z.string().max(200).optional(),
  timeZone: timeZoneSchema.default('Asia/Shanghai'),
  /** Local hour (0–23) at which the business day, and so occupancy, resets. */
  dayResetHour: z.number().int().min(0).max(23).default(0),
  stores: z.record(idSchema, storeSchema).default({}),
  /** Local opening hours per weekday (alerts fire only while open); default 10:00-22:00 every day. */
  openingHours: openingHoursSchema,
  alerts: mallAlertsSchema,
});

/** The one configuration schema. Structured form; environment variables map onto it (see envBindings). */
export const configSchema = z.strictObject({
  dataDir: nonEmpty.default('./data'),
  logLevel: logLevel.default('info'),
  mqtt: z
    .strictObject({
      host: nonEmpty.default('0.0.0.0'),
      port: port.default(1883),
      url: url.optional(),
      username: nonEmpty.optional(),
      password: nonEmpty.optional(),
      tlsPort: optionalPort,
      tlsCert: nonEmpty.optional(),
      tlsKey: nonEmpty.optional(),
      wsPort: optionalPort,
      maxPacketBytes: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024),
      authFailuresBeforeLockout: z.coerce.number().int().min(1).max(1000).default(5),
      lockoutMs: z.coerce.number().int().min(1000).default(15 * 60 * 1000),
    })
    .prefault({}),
  portal: portalSchema,
  ops: z
    .strictObject({
      port: port.default(3000),
      host: nonEmpty.default('0.0.0.0'),
      token: z.string().min(16).optional(),
      /** Role tokens (`plaza tokens add`): only their SHA-256 is kept here. */
      tokens: z
        .array(z.strictObject({ name: z.string().min(1).max(64), role: z.enum(['viewer', 'marketer', 'admin']), tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits') }))
        .max(1000)
        .default([]),
    })
    .prefault({}),
  influx: z
    .strictObject({
      url: url.optional(),
      db: nonEmpty.default('plaza'),
      rp: nonEmpty.optional(),
      token: nonEmpty.optional(),
      username: nonEmpty.optional(),
      password: nonEmpty.optional(),
    })
    .prefault({}),
  ingest: z
    .strictObject({
      /** Master secret for MAC pseudonymisation keys; required outside demo mode. */
      hashSecret: z.string().min(16).optional(),
      malls: z.array(idSchema).optional(),
      /** Names this instance's persistent MQTT session; distinct per instance when malls are split. */
      instance: idSchema.default('main'),
      batchSize: z.coerce.number().int().min(1).max(50_000).default(5000),
      flushIntervalMs: z.coerce.number().int().min(10).max(60_000).default(1000),
      /** Time-series retention in days (SQLite prune; InfluxDB policy when influx.rp is set); 400 = year-over-year. */
      retentionDays: z.coerce.number().int().min(1).max(36_600).default(400),
      /**
       * Validate and pseudonymise probe batches on a second thread while the event loop applies earlier ones
       * (ingest/prepare/). auto = when the machine has more than one core.
       */
      prepareThread: z.enum(['auto', 'on', 'off']).default('auto'),
    })
    .prefault({}),
  malls: z.record(idSchema, mallSchema).default({}),
});

export type Config = z.infer<typeof configSchema>;
export type MallConfig = z.infer<typeof mallSchema>;
export type StoreConfig = z.infer<typeof storeSchema>;
export type PortalConfig = z.infer<typeof portalSchema>;
export type PortalMallConfig = z.infer<typeof portalMallSchema>;

/** Environment variable → path in the structured config. Nothing else in the code reads process.env. */
export const envBindings: Record<string, readonly string[]> = {
  PLAZA_DATA_DIR: ['dataDir'],
  PLAZA_LOG_LEVEL: ['logLevel'],
  PLAZA_MQTT_HOST: ['mqtt', 'host'],
  PLAZA_MQTT_PORT: ['mqtt', 'port'],
  PLAZA_MQTT_URL: ['mqtt', 'url'],
  PLAZA_MQTT_USERNAME: ['mqtt', 'username'],
  PLAZA_MQTT_PASSWORD: ['mqtt', 'password'],
  PLAZA_MQTT_TLS_PORT: ['mqtt', 'tlsPort'],
  PLAZA_MQTT_TLS_CERT: ['mqtt', 'tlsCert'],
  PLAZA_MQTT_TLS_KEY: ['mqtt', 'tlsKey'],
  PLAZA_MQTT_WS_PORT: ['mqtt', 'wsPort'],
  PLAZA_MQTT_MAX_PACKET_BYTES: ['mqtt', 'maxPacketBytes'],
  PLAZA_PORTAL_PORT: ['portal', 'port'],
  PLAZA_PORTAL_HOST: ['portal', 'host'],
  PLAZA_PORTAL_ID: ['portal', 'id'],
  PLAZA_PORTAL_PUBLIC_URL: ['portal', 'publicUrl'],
  PLAZA_PORTAL_SECRET: ['portal', 'secret'],
  PLAZA_PORTAL_SESSION_S: ['portal', 'sessionS'],
  PLAZA_PORTAL_OTP_SENDER: ['portal', 'otp', 'sender'],
  PLAZA_PORTAL_OTP_WEBHOOK_URL: ['portal', 'otp', 'webhookUrl'],
  PLAZA_PORTAL_OTP_WEBHOOK_SECRET: ['portal', 'otp', 'webhookSecret'],
  PLAZA_OPS_PORT: ['ops', 'port'],
  PLAZA_OPS_HOST: ['ops', 'host'],
  PLAZA_OPS_TOKEN: ['ops', 'token'],
  PLAZA_INFLUX_URL: ['influx', 'url'],
  PLAZA_INFLUX_DB: ['influx', 'db'],
  PLAZA_INFLUX_RP: ['influx', 'rp'],
  PLAZA_INFLUX_TOKEN: ['influx', 'token'],
  PLAZA_INFLUX_USERNAME: ['influx', 'username'],
  PLAZA_INFLUX_PASSWORD: ['influx', 'password'],
  PLAZA_HASH_SECRET: ['ingest', 'hashSecret'],
  PLAZA_INGEST_MALLS: ['ingest', 'malls'],
  PLAZA_INGEST_INSTANCE: ['ingest', 'instance'],
  PLAZA_INGEST_BATCH_SIZE: ['ingest', 'batchSize'],
  PLAZA_INGEST_FLUSH_INTERVAL_MS: ['ingest', 'flushIntervalMs'],
  PLAZA_RETENTION_DAYS: ['ingest', 'retentionDays'],
  PLAZA_INGEST_PREPARE_THREAD: ['ingest', 'prepareThread'],
};

/** The variable naming the optional config file (JSON or YAML, structured like configSchema). */
export const configFileEnv = 'PLAZA_CONFIG_FILE';

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const secretPaths = new Set(['mqtt.password', 'ops.token', 'influx.token', 'influx.password', 'ingest.hashSecret', 'portal.secret', 'portal.otp.webhookSecret']);

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  /** Overrides applied after env (CLI flags), as a structured partial config. */
  overrides?: Record<string, unknown>;
}

/** Reads the configuration once: defaults < config file < environment < overrides. Throws ConfigError listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? {};
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  const file = env[configFileEnv];
  if (file !== undefined && file !== '') {
    try {
      const text = readFileSync(file, 'utf8');
      const parsed: unknown = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        problems.push(`${configFileEnv} (${file}): must hold an object`);
      } else {
        raw = parsed as Record<string, unknown>;
      }
    } catch (error) {
      problems.push(`${configFileEnv} (${file}): ${(error as Error).message}`);
    }
  }
  const pathToEnv = new Map<string, string>();
  for (const [name, target] of Object.entries(envBindings)) {
    pathToEnv.set(target.join('.'), name);
    const value = env[name];
    if (value === undefined || value === '') continue;
    setPath(raw, target, name === 'PLAZA_INGEST_MALLS' ? value.split(',').map((s) => s.trim()) : value);
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('PLAZA_') && !(name in envBindings) && name !== configFileEnv) {
      problems.push(`${name}: unknown variable`);
    }
  }
  if (options.overrides) mergeInto(raw, options.overrides);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.join('.');
      const name = pathToEnv.get(key) ?? (key === '' ? '(config)' : key);
      const shown = secretPaths.has(key) || /\.gateway\.(faskey|password|apiKey)$/.test(key) ? '' : describeValue(raw, issue.path);
      problems.push(`${name}: ${issue.message}${shown}`);
    }
  }
  const tls = result.success ? result.data.mqtt : undefined;
  // Reported with the other problems, not after them, so one run shows everything to fix.
  if (tls !== undefined && ((tls.tlsCert === undefined) !== (tls.tlsKey === undefined) || (tls.tlsPort !== undefined && tls.tlsCert === undefined))) {
    problems.push('PLAZA_MQTT_TLS_PORT, PLAZA_MQTT_TLS_CERT, PLAZA_MQTT_TLS_KEY: TLS needs a port, a certificate and a key');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = (result as { data: Config }).data;
  return { ...config, dataDir: path.resolve(config.dataDir) };
}

function describeValue(raw: Record<string, unknown>, keys: readonly PropertyKey[]): string {
  let node: unknown = raw;
  for (const key of keys) {
    if (node === null || typeof node !== 'object') return '';
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  if (node === undefined || typeof node === 'object') return '';
  // A URL may carry credentials (mqtt://user:secret@host); they never reach the message.
  const text = (typeof node === 'string' ? node : (JSON.stringify(node) ?? '')).replace(/\/\/[^/@\s]*@/, '//***@');
  return ` (got ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)})`;
}

function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let node = target;
  keys.forEach((key, index) => {
    if (index === keys.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  });
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const existing = target[key];
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && existing !== null && typeof existing === 'object' && !Array.isArray(existing)) {
      mergeInto(existing as Record<string, unknown>, value as Record<string, unknown>);
    } else {
      target[key] = value;
    }
  }
}
