import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../../core/logger.ts';
import { migrateTimeseries } from './sqlite-schema.ts';
import { runQuery } from './sqlite-query.ts';
import { StoreError, type FieldValue, type Point, type SeriesQuery, type SeriesRow, type TimeSeriesStore } from './types.ts';
import { fieldTypeOf, presentTags, validatePoints, validateQuery, type FieldType } from './validate.ts';

/** Tunables of the embedded store, with units. */
export const sqliteDefaults = {
  /** Points older than this are deleted: 400 days, enough for year-over-year comparisons of aggregates. */
  retentionDays: 400,
  /** How often retention is enforced while open: 1 h. */
  pruneIntervalMs: 60 * 60 * 1000,
  /** How long a write waits for another connection's lock: 5 s. */
  busyTimeoutMs: 5_000,
} as const;

export const timeseriesFileName = 'timeseries.sqlite';

const dayMs = 24 * 60 * 60 * 1000;

export interface SqliteStoreOptions {
  /** The file is `<dataDir>/timeseries.sqlite`; the directory is created if missing. */
  dataDir: string;
  retentionDays?: number;
  pruneIntervalMs?: number;
  /** Clock for the periodic prune (tests pass a fake one). */
  now?: () => number;
}

interface FieldInfo {
  id: number;
  type: FieldType;
}

// SQLite result codes worth retrying: locks, a full disk, I/O trouble.
const retryableCodes = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|PROTOCOL)/;

/** The time-series store embedded in SQLite: the default when no InfluxDB is configured. Same contract, same answers. */
export class SqliteStore implements TimeSeriesStore {
  readonly kind = 'sqlite';
  private db: Database.Database | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly seriesIds = new Map<string, number>();
  private readonly fieldInfos = new Map<string, FieldInfo>();

  constructor(
    private readonly options: SqliteStoreOptions,
    private readonly logger: Logger,
  ) {}

  get file(): string {
    return path.join(this.options.dataDir, timeseriesFileName);
  }

  /** Opens (creating) the file in WAL mode, migrates, prunes once and then every pruneIntervalMs. Idempotent. */
  async open(): Promise<void> {
    if (this.db !== undefined) return;
    const days = this.options.retentionDays ?? sqliteDefaults.retentionDays;
    if (!Number.isFinite(days) || days <= 0) throw new StoreError(`retentionDays must be a positive number, got ${days}`, false);
    this.guard('open', () => {
      mkdirSync(this.options.dataDir, { recursive: true });
      const db = new Database(this.file);
      try {
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma(`busy_timeout = ${sqliteDefaults.busyTimeoutMs}`);
        migrateTimeseries(db);
      } catch (error) {
        db.close();
        throw error;
      }
      this.db = db;
    });
    this.pruneNow();
    this.pruneTimer = setInterval(() => this.pruneNow(), this.options.pruneIntervalMs ?? sqliteDefaults.pruneIntervalMs);
    this.pruneTimer.unref();
  }

  /**
   * Upserts every field of every point on (series, field, time): the fields given overwrite, others stay.
   * Invalid points reject the whole batch before anything is written. A point whose field type conflicts
   * with what the measurement holds is dropped and the rest written, then a StoreError reports how many
   * were dropped, as InfluxDB's partial write does.
   */
  async write(points: readonly Point[]): Promise<void> {
    if (points.length === 0) return;
    validatePoints(points);
    const db = this.handle();
    const conflicts = this.guard('write', () => {
      try {
        return db.transaction(() => this.writeAll(db, points))();
      } catch (error) {
        // The rolled-back transaction may have created series or fields the caches now point at.
        this.seriesIds.clear();
        this.fieldInfos.clear();
        throw error;
      }
    });
    if (conflicts.length > 0) {
      throw new StoreError(`partial write: field type conflict: ${conflicts[0] ?? ''} dropped=${conflicts.length}`, false, conflicts.length);
    }
  }

  async query(query: SeriesQuery): Promise<SeriesRow[]> {
    validateQuery(query);
    if (query.fromMs >= query.toMs) return [];
    for (const accepted of Object.values(query.where ?? {})) if (typeof accepted !== 'string' && accepted.length === 0) return [];
    const db = this.handle();
    return this.guard('query', () => runQuery(db, query));
  }

  async ping(): Promise<void> {
    const db = this.handle();
    this.guard('ping', () => db.prepare('SELECT 1').get());
  }

  async close(): Promise<void> {
    if (this.pruneTimer !== undefined) clearInterval(this.pruneTimer);
    this.pruneTimer = undefined;
    this.db?.close();
    this.db = undefined;
    this.seriesIds.clear();
    this.fieldInfos.clear();
  }

  /** Deletes points older than retentionDays before nowMs; returns how many field values were deleted. */
  prune(nowMs: number): number {
    const db = this.handle();
    const cutoffMs = Math.floor(nowMs - (this.options.retentionDays ?? sqliteDefaults.retentionDays) * dayMs);
    return this.guard('prune', () => {
      // Per (series, field), so every delete is a range scan on the primary key.
      const pairs = db
        .prepare<[], { series_id: number; field_id: number }>(
          'SELECT s.id AS series_id, f.id AS field_id FROM series s JOIN fields f ON f.measurement = s.measurement',
        )
        .all();
      const remove = db.prepare('DELETE FROM points WHERE series_id = ? AND field_id = ? AND ts_ms < ?');
      let deleted = 0;
      db.transaction(() => {
        for (const pair of pairs) deleted += remove.run(pair.series_id, pair.field_id, cutoffMs).changes;
      })();
      return deleted;
    });
  }

  private pruneNow(): void {
    try {
      const deleted = this.prune((this.options.now ?? Date.now)());
      if (deleted > 0) this.logger.info({ deleted }, 'pruned points past retention');
    } catch (error) {
      this.logger.error({ err: error }, 'pruning the time-series store failed');
    }
  }

  private writeAll(db: Database.Database, points: readonly Point[]): string[] {
    const upsert = db.prepare(
      'INSERT INTO points (series_id, field_id, ts_ms, ts_ns, value) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value',
    );
    const conflicts: string[] = [];
    for (const point of points) {
      const fields = Object.entries(point.fields);
      const conflict = fields.find(([name, value]) => {
        const known = this.fieldInfo(db, point.measurement, name, undefined);
        return known !== undefined && known.type !== fieldTypeOf(value);
      });
      if (conflict !== undefined) {
        const [name, value] = conflict;
        const known = this.fieldInfo(db, point.measurement, name, undefined);
        conflicts.push(
          `input field ${JSON.stringify(name)} on measurement ${JSON.stringify(point.measurement)} is type ${fieldTypeOf(value)}, already exists as type ${known?.type ?? '?'}`,
        );
        continue;
      }
      const seriesId = this.seriesId(db, point);
      for (const [name, value] of fields) {
        const field = this.fieldInfo(db, point.measurement, name, fieldTypeOf(value));
        upsert.run(seriesId, field?.id, point.tsMs, point.tsNsOffset ?? 0, bindable(value));
      }
    }
    return conflicts;
  }

  private seriesId(db: Database.Database, point: Point): number {
    const tags = JSON.stringify(presentTags(point.tags));
    const key = `${point.measurement}\u0000${tags}`;
    const cached = this.seriesIds.get(key);
    if (cached !== undefined) return cached;
    db.prepare('INSERT INTO series (measurement, tags) VALUES (?, ?) ON CONFLICT DO NOTHING').run(point.measurement, tags);
    const row = db.prepare<[string, string], { id: number }>('SELECT id FROM series WHERE measurement = ? AND tags = ?').get(point.measurement, tags);
    if (row === undefined) throw new Error(`series of ${point.measurement} vanished while writing`);
    this.seriesIds.set(key, row.id);
    return row.id;
  }

  /** Looks a field up; with `create` set, registers it with that type when it is new. */
  private fieldInfo(db: Database.Database, measurement: string, name: string, create: FieldType | undefined): FieldInfo | undefined {
    const key = `${measurement}\u0000${name}`;
    const cached = this.fieldInfos.get(key);
    if (cached !== undefined) return cached;
    if (create !== undefined) {
      db.prepare('INSERT INTO fields (measurement, name, type) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(measurement, name, create);
    }
    const row = db
      .prepare<[string, string], FieldInfo>('SELECT id, type FROM fields WHERE measurement = ? AND name = ?')
      .get(measurement, name);
    if (row !== undefined) this.fieldInfos.set(key, row);
    return row;
  }

  private handle(): Database.Database {
    if (this.db === undefined) throw new StoreError('the SQLite time-series store is not open', false);
    return this.db;
  }

  /** Runs SQLite work, turning its errors into StoreErrors (locks, full disk and I/O errors are retryable). */
  private guard<T>(what: string, work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof StoreError) throw error;
      const code = (error as { code?: unknown }).code;
      const retryable = typeof code === 'string' && retryableCodes.test(code);
      throw new StoreError(`SQLite time-series store ${what} failed: ${(error as Error).message}`, retryable);
    }
  }
}

/** Integers bind as BigInt so SQLite stores INTEGER (better-sqlite3 binds every JS number as REAL). */
function bindable(value: FieldValue): bigint | number | string {
  if (typeof value === 'object') return BigInt(value.int);
  if (typeof value === 'boolean') return value ? 1n : 0n;
  return value;
}
