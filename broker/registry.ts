import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { isId } from '../protocol/ids.ts';
import { type DeviceConfig, defaultDeviceConfig, deviceConfigSchema } from '../protocol/payloads/config.ts';
import { type DeviceKind, deviceKinds, deviceTopic, readingChannelOf } from '../protocol/topics.ts';
import { generateSecret, hashSecret, verifySecret } from './secrets.ts';

export const serviceRoles = ['ingest', 'portal', 'sim', 'ops', 'pos'] as const;
export type ServiceRole = (typeof serviceRoles)[number];

export interface DeviceRecord {
  id: string;
  mall: string;
  store: string;
  kind: DeviceKind;
  createdMs: number;
  revokedMs: number | null;
}

export interface DeviceCredentials {
  id: string;
  mall: string;
  store: string;
  kind: DeviceKind;
  username: string;
  password: string;
  /** The topic the device publishes its readings on. */
  topic: string;
}

export interface ServiceCredentials {
  role: ServiceRole;
  username: string;
  password: string;
}

/** Who a connected client is, as established by authentication. */
export type Principal =
  | { type: 'device'; id: string; mall: string; store: string; kind: DeviceKind; secretHash: string }
  | { type: 'service'; role: ServiceRole; username: string; secretHash: string };

interface DeviceRow {
  id: string;
  mall: string;
  store: string;
  kind: DeviceKind;
  secret_hash: string;
  created_ms: number;
  revoked_ms: number | null;
}

interface ServiceRow {
  username: string;
  role: ServiceRole;
  secret_hash: string;
  revoked_ms: number | null;
}

const verifiedCacheMax = 50_000;

/**
 * Devices and service accounts, in SQLite under the data dir. Secrets are stored only as scrypt hashes; the
 * plain secret is returned once, when created or rotated.
 */
export class DeviceRegistry {
  private readonly db: Database.Database;
  /** Service accounts that live only in this process's memory (one-process `plaza start`). */
  private readonly ephemeral = new Map<string, ServiceRow>();
  /**
   * Successful verifications keyed by an HMAC of (username, secret, stored hash) under a per-process key, so a
   * reconnect storm does not cost one scrypt per connection. Never holds the secret itself.
   */
  private readonly verified = new Set<string>();
  private readonly cacheKey = randomBytes(32);

  private constructor(db: Database.Database) {
    this.db = db;
  }

  static open(dataDir: string): DeviceRegistry {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(path.join(dataDir, 'registry.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY,
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('door', 'probe')),
        secret_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        rotated_ms INTEGER,
        revoked_ms INTEGER
      );
      CREATE INDEX IF NOT EXISTS devices_mall_store ON devices (mall, store);
      CREATE TABLE IF NOT EXISTS device_config (
        device_id TEXT PRIMARY KEY REFERENCES devices (id),
        config TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS service_accounts (
        username TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        revoked_ms INTEGER
      );
    `);
    return new DeviceRegistry(db);
  }

  close(): void {
    this.db.close();
  }

  async addDevice(input: { mall: string; store: string; kind: DeviceKind; id?: string }): Promise<DeviceCredentials> {
    for (const [name, value] of [['mall', input.mall], ['store', input.store]] as const) {
      if (!isId(value)) throw new Error(`${name} must be lowercase [a-z0-9-], 1-64 characters`);
    }
    if (!deviceKinds.includes(input.kind)) throw new Error(`kind must be one of ${deviceKinds.join(', ')}`);
    const id = input.id ?? `${input.kind}-${randomBytes(4).toString('hex')}`;
    if (!isId(id)) throw new Error('id must be lowercase [a-z0-9-], 1-64 characters');
    if (id.startsWith('svc-')) throw new Error('device ids may not start with "svc-" (reserved for service accounts)');
    const password = generateSecret();
    const secretHash = await hashSecret(password);
    try {
      this.db
        .prepare('INSERT INTO devices (id, mall, store, kind, secret_hash, created_ms) VALUES (?, ?, ?, ?, ?, ?)')
        .run(id, input.mall, input.store, input.kind, secretHash, Date.now());
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new Error(`device ${id} already exists`);
      throw error;
    }
    return this.credentialsOf({ id, mall: input.mall, store: input.store, kind: input.kind }, password);
  }

  /** Issues a new secret for a device; the old one stops working at once. */
  async rotateDevice(id: string): Promise<DeviceCredentials> {
    const row = this.deviceRow(id);
    if (row === undefined) throw new Error(`no device ${id}`);
    if (row.revoked_ms !== null) throw new Error(`device ${id} is revoked`);
    const password = generateSecret();
    const secretHash = await hashSecret(password);
    this.db.prepare('UPDATE devices SET secret_hash = ?, rotated_ms = ? WHERE id = ?').run(secretHash, Date.now(), id);
    return this.credentialsOf(row, password);
  }

  revokeDevice(id: string): void {
    const result = this.db.prepare('UPDATE devices SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL').run(Date.now(), id);
    if (result.changes === 0) {
      if (this.deviceRow(id) === undefined) throw new Error(`no device ${id}`);
      throw new Error(`device ${id} is already revoked`);
    }
  }

  getDevice(id: string): DeviceRecord | undefined {
    const row = this.deviceRow(id);
    return row === undefined ? undefined : toRecord(row);
  }

  /** Sets what a device is told on its retained config topic; unspecified keys keep their current value. */
  setDeviceConfig(id: string, changes: Partial<Omit<DeviceConfig, 'v'>>): DeviceConfig {
    const row = this.deviceRow(id);
    if (row === undefined) throw new Error(`no device ${id}`);
    const current = this.deviceConfig(id);
    const parsed = deviceConfigSchema.safeParse({ ...current, ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) });
    if (!parsed.success) throw new Error(`invalid device config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    this.db
      .prepare('INSERT INTO device_config (device_id, config, updated_ms) VALUES (?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET config = excluded.config, updated_ms = excluded.updated_ms')
      .run(id, JSON.stringify(parsed.data), Date.now());
    return parsed.data;
  }

  deviceConfig(id: string): DeviceConfig {
    const row = this.db.prepare('SELECT config FROM device_config WHERE device_id = ?').get(id) as { config: string } | undefined;
    return row === undefined ? defaultDeviceConfig : deviceConfigSchema.parse(JSON.parse(row.config));
  }

  /**
   * Active devices whose config (or the device itself) changed after sinceMs, with the config to publish and the
   * change time: the broker re-publishes retained configs at start (sinceMs = -1) and polls for changes.
   */
  deviceConfigsChangedSince(sinceMs: number): { device: DeviceRecord; config: DeviceConfig; changedMs: number }[] {
    const rows = this.db
      .prepare(
        `SELECT d.*, c.config AS config, MAX(d.created_ms, COALESCE(d.rotated_ms, 0), COALESCE(c.updated_ms, 0)) AS changed_ms
         FROM devices d LEFT JOIN device_config c ON c.device_id = d.id
         WHERE d.revoked_ms IS NULL AND MAX(d.created_ms, COALESCE(d.rotated_ms, 0), COALESCE(c.updated_ms, 0)) > ?`,
      )
      .all(sinceMs) as (DeviceRow & { config: string | null; changed_ms: number })[];
    return rows.map((row) => ({
      device: toRecord(row),
      config: row.config === null ? defaultDeviceConfig : deviceConfigSchema.parse(JSON.parse(row.config)),
      changedMs: row.changed_ms,
    }));
  }

  listDevices(filter: { mall?: string; store?: string } = {}): DeviceRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM devices WHERE (@mall IS NULL OR mall = @mall) AND (@store IS NULL OR store = @store) ORDER BY mall, store, id')
      .all({ mall: filter.mall ?? null, store: filter.store ?? null }) as DeviceRow[];
    return rows.map(toRecord);
  }

  /** A persistent service account, for components that run in their own process. */
  async addService(role: ServiceRole, name?: string): Promise<ServiceCredentials> {
    const username = serviceUsername(role, name);
    const password = generateSecret();
    const secretHash = await hashSecret(password);
    this.db
      .prepare(
        `INSERT INTO service_accounts (username, role, secret_hash, created_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (username) DO UPDATE SET secret_hash = excluded.secret_hash, revoked_ms = NULL`,
      )
      .run(username, role, secretHash, Date.now());
    return { role, username, password };
  }

  revokeService(username: string): void {
    const result = this.db.prepare('UPDATE service_accounts SET revoked_ms = ? WHERE username = ? AND revoked_ms IS NULL').run(Date.now(), username);
    if (result.changes === 0) throw new Error(`no active service account ${username}`);
  }

  /** A service account held only in this process's memory: for components started together by `plaza start`. */
  async addEphemeralService(role: ServiceRole, name = 'local'): Promise<ServiceCredentials> {
    const username = serviceUsername(role, `${name}-${randomBytes(3).toString('hex')}`);
    const password = generateSecret();
    this.ephemeral.set(username, { username, role, secret_hash: await hashSecret(password), revoked_ms: null });
    return { role, username, password };
  }

  /** Returns who presented these credentials, or null. Unknown, revoked and wrong secrets are indistinguishable to the caller. */
  async authenticate(username: string, password: string): Promise<Principal | null> {
    if (username.length > 128 || password.length > 256) return null;
    if (username.startsWith('svc-')) {
      const row = this.ephemeral.get(username) ?? (this.db.prepare('SELECT * FROM service_accounts WHERE username = ?').get(username) as ServiceRow | undefined);
      if (row === undefined || row.revoked_ms !== null) return null;
      if (!(await this.check(username, password, row.secret_hash))) return null;
      return { type: 'service', role: row.role, username, secretHash: row.secret_hash };
    }
    const row = isId(username) ? this.deviceRow(username) : undefined;
    if (row === undefined || row.revoked_ms !== null) {
      // Spend the same time as a real check so timing does not reveal which device ids exist.
      await verifySecret(password, dummyHash);
      return null;
    }
    if (!(await this.check(username, password, row.secret_hash))) return null;
    return { type: 'device', id: row.id, mall: row.mall, store: row.store, kind: row.kind, secretHash: row.secret_hash };
  }

  /** True while the principal's account is active with the same secret it authenticated with. */
  isStillValid(principal: Principal): boolean {
    if (principal.type === 'device') {
      const row = this.deviceRow(principal.id);
      return row !== undefined && row.revoked_ms === null && row.secret_hash === principal.secretHash;
    }
    const row = this.ephemeral.get(principal.username) ?? (this.db.prepare('SELECT * FROM service_accounts WHERE username = ?').get(principal.username) as ServiceRow | undefined);
    return row !== undefined && row.revoked_ms === null && row.secret_hash === principal.secretHash;
  }

  private async check(username: string, password: string, secretHash: string): Promise<boolean> {
    const key = createHmac('sha256', this.cacheKey).update(`${username}\0${password}\0${secretHash}`).digest('base64');
    if (this.verified.has(key)) return true;
    if (!(await verifySecret(password, secretHash))) return false;
    if (this.verified.size >= verifiedCacheMax) this.verified.clear();
    this.verified.add(key);
    return true;
  }

  private deviceRow(id: string): DeviceRow | undefined {
    return this.db.prepare('SELECT * FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
  }

  private credentialsOf(device: { id: string; mall: string; store: string; kind: DeviceKind }, password: string): DeviceCredentials {
    return {
      id: device.id,
      mall: device.mall,
      store: device.store,
      kind: device.kind,
      username: device.id,
      password,
      topic: deviceTopic({ mall: device.mall, store: device.store, device: device.id }, readingChannelOf[device.kind]),
    };
  }
}

// A fixed hash of a random secret nobody knows; used to equalise timing for unknown users.
const dummyHash = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$' + Buffer.alloc(32, 1).toString('base64url');

export function serviceUsername(role: ServiceRole, name?: string): string {
  const username = name === undefined ? `svc-${role}` : `svc-${role}-${name}`;
  if (!isId(username)) throw new Error('service account name must be lowercase [a-z0-9-]');
  return username;
}

function toRecord(row: DeviceRow): DeviceRecord {
  return { id: row.id, mall: row.mall, store: row.store, kind: row.kind, createdMs: row.created_ms, revokedMs: row.revoked_ms };
}

