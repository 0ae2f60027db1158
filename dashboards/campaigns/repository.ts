import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Campaign, CampaignFields } from './model.ts';

export const campaignsFileName = 'campaigns.sqlite';

/** Thrown when a campaign id is already taken or no longer exists. */
export class CampaignNotFoundError extends Error {
  constructor(readonly id: string) {
    super(`no campaign ${id}`);
    this.name = 'CampaignNotFoundError';
  }
}

export class CampaignConflictError extends Error {
  constructor(readonly id: string) {
    super(`campaign ${id} already exists`);
    this.name = 'CampaignConflictError';
  }
}

interface Row {
  id: string;
  mall: string;
  name: string;
  stores: string;
  control_stores: string;
  start_ms: number;
  end_ms: number;
  notes: string;
  created_ms: number;
  updated_ms: number;
}

/** How long a write waits for the other process (CLI vs server) holding the lock, in ms. */
const busyTimeoutMs = 5_000;

/**
 * Campaigns in `<dataDir>/campaigns.sqlite`. The ops server and the CLI open the same file (WAL, busy
 * timeout), so a campaign added with `plaza campaigns add` shows up in the API at once.
 */
export class CampaignRepository {
  private db: Database.Database | undefined;

  constructor(
    private readonly dataDir: string,
    private readonly now: () => number = Date.now,
  ) {}

  get file(): string {
    return path.join(this.dataDir, campaignsFileName);
  }

  /** Opens (creating) the database. Idempotent. */
  open(): this {
    if (this.db !== undefined) return this;
    mkdirSync(this.dataDir, { recursive: true });
    const db = new Database(this.file);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.exec(`CREATE TABLE IF NOT EXISTS campaigns (
        id TEXT PRIMARY KEY,
        mall TEXT NOT NULL,
        name TEXT NOT NULL,
        stores TEXT NOT NULL,
        control_stores TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL CHECK (end_ms > start_ms),
        notes TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX IF NOT EXISTS campaigns_mall_start ON campaigns (mall, start_ms);`);
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
    return this;
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }

  /** Campaigns, newest start first; optionally of one mall. */
  list(filter: { mall?: string } = {}): Campaign[] {
    const db = this.handle();
    const rows = (
      filter.mall === undefined
        ? db.prepare('SELECT * FROM campaigns ORDER BY start_ms DESC, id').all()
        : db.prepare('SELECT * FROM campaigns WHERE mall = ? ORDER BY start_ms DESC, id').all(filter.mall)
    ) as Row[];
    return rows.map(toCampaign);
  }

  get(id: string): Campaign | undefined {
    const row = this.handle().prepare('SELECT * FROM campaigns WHERE id = ?').get(id) as Row | undefined;
    return row === undefined ? undefined : toCampaign(row);
  }

  /** Other campaigns of a mall overlapping [fromMs, toMs): the report leaves their hours out of baselines. */
  overlapping(mall: string, fromMs: number, toMs: number, exceptId: string): Campaign[] {
    const rows = this.handle()
      .prepare('SELECT * FROM campaigns WHERE mall = ? AND start_ms < ? AND end_ms > ? AND id <> ? ORDER BY start_ms')
      .all(mall, toMs, fromMs, exceptId) as Row[];
    return rows.map(toCampaign);
  }

  create(fields: CampaignFields, id?: string): Campaign {
    const nowMs = this.now();
    const campaign: Campaign = { ...fields, id: id ?? `c-${randomBytes(5).toString('hex')}`, createdMs: nowMs, updatedMs: nowMs };
    try {
      this.handle()
        .prepare(
          `INSERT INTO campaigns (id, mall, name, stores, control_stores, start_ms, end_ms, notes, created_ms, updated_ms)
           VALUES (@id, @mall, @name, @stores, @controlStores, @startMs, @endMs, @notes, @createdMs, @updatedMs)`,
        )
        .run(toParams(campaign));
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new CampaignConflictError(campaign.id);
      throw error;
    }
    return campaign;
  }

  /** Replaces every field of a campaign; returns the previous and the new version. */
  update(id: string, fields: CampaignFields): { before: Campaign; after: Campaign } {
    const db = this.handle();
    return db.transaction(() => {
      const before = this.get(id);
      if (before === undefined) throw new CampaignNotFoundError(id);
      const after: Campaign = { ...fields, id, createdMs: before.createdMs, updatedMs: Math.max(this.now(), before.updatedMs) };
      db.prepare(
        `UPDATE campaigns SET mall = @mall, name = @name, stores = @stores, control_stores = @controlStores, start_ms = @startMs,
         end_ms = @endMs, notes = @notes, updated_ms = @updatedMs WHERE id = @id`,
      ).run(toParams(after));
      return { before, after };
    })();
  }

  /** Deletes a campaign and returns it. */
  delete(id: string): Campaign {
    const db = this.handle();
    return db.transaction(() => {
      const before = this.get(id);
      if (before === undefined) throw new CampaignNotFoundError(id);
      db.prepare('DELETE FROM campaigns WHERE id = ?').run(id);
      return before;
    })();
  }

  private handle(): Database.Database {
    if (this.db === undefined) throw new Error('campaign repository is not open');
    return this.db;
  }
}

function toParams(c: Campaign): Record<string, string | number> {
  return {
    id: c.id,
    mall: c.mall,
    name: c.name,
    stores: JSON.stringify(c.stores),
    controlStores: JSON.stringify(c.controlStores),
    startMs: c.startMs,
    endMs: c.endMs,
    notes: c.notes,
    createdMs: c.createdMs,
    updatedMs: c.updatedMs,
  };
}

function toCampaign(row: Row): Campaign {
  return {
    id: row.id,
    mall: row.mall,
    name: row.name,
    stores: JSON.parse(row.stores) as string[],
    controlStores: JSON.parse(row.control_stores) as string[],
    startMs: row.start_ms,
    endMs: row.end_ms,
    notes: row.notes,
    createdMs: row.created_ms,
    updatedMs: row.updated_ms,
  };
}
