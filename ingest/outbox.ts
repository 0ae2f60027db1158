import type Database from 'better-sqlite3';
import type { Point } from './store/types.ts';

export interface OutboxBatch {
  /** Highest outbox row id included; rows up to it are deleted once the store accepted them. */
  lastId: number;
  firstId: number;
  points: Point[];
  /** When each included outbox row was committed, epoch ms (for publish-to-stored latency). */
  createdMs: number[];
}

/**
 * Points waiting for the store, in commit order. Appended inside the message's transaction; drained by the
 * drainer. While the store is unreachable this table is the durable spool.
 */
export class Outbox {
  private readonly insert: Database.Statement<[string, number, number]>;
  private readonly selectFrom: Database.Statement<[number, number], { id: number; points: string; count: number; created_ms: number }>;
  private readonly deleteUpTo: Database.Statement<[number]>;
  private readonly moveToRejected: Database.Statement<[{ first: number; last: number; error: string; now: number }]>;
  private readonly deleteRange: Database.Statement<[number, number]>;
  private readonly countPending: Database.Statement<[], { rows: number; points: number | null }>;
  private pendingPoints = 0;

  constructor(private readonly db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        points TEXT NOT NULL,
        count INTEGER NOT NULL,
        created_ms INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS outbox_rejected (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL,
        points TEXT NOT NULL,
        error TEXT NOT NULL,
        rejected_ms INTEGER NOT NULL
      );
    `);
    this.insert = db.prepare('INSERT INTO outbox (points, count, created_ms) VALUES (?, ?, ?)');
    this.selectFrom = db.prepare('SELECT id, points, count, created_ms FROM outbox WHERE id > ? ORDER BY id LIMIT ?');
    this.deleteUpTo = db.prepare('DELETE FROM outbox WHERE id <= ?');
    this.deleteRange = db.prepare('DELETE FROM outbox WHERE id BETWEEN ? AND ?');
    this.moveToRejected = db.prepare(
      `INSERT INTO outbox_rejected (first_id, last_id, points, error, rejected_ms)
       SELECT @first, MAX(id), json_group_array(json(points)), @error, @now FROM outbox WHERE id BETWEEN @first AND @last`,
    );
    this.countPending = db.prepare('SELECT COUNT(*) AS rows, SUM(count) AS points FROM outbox');
    this.pendingPoints = this.countPending.get()?.points ?? 0;
  }

  /** Appends points; call inside the transaction that produced them. */
  append(points: readonly Point[]): void {
    if (points.length === 0) return;
    this.insert.run(JSON.stringify(points), points.length, Date.now());
    this.pendingPoints += points.length;
  }

  /** Reads rows in order until about maxPoints points (always at least one row). */
  read(maxPoints: number, maxRows = 10_000): OutboxBatch | null {
    const rows = this.selectFrom.all(0, maxRows);
    if (rows.length === 0) return null;
    const points: Point[] = [];
    const createdMs: number[] = [];
    let lastId = 0;
    for (const row of rows) {
      if (points.length > 0 && points.length + row.count > maxPoints) break;
      for (const point of JSON.parse(row.points) as Point[]) points.push(point);
      createdMs.push(row.created_ms);
      lastId = row.id;
    }
    return { firstId: (rows[0] as { id: number }).id, lastId, points, createdMs };
  }

  /** Removes rows the store accepted. */
  acknowledge(batch: OutboxBatch): void {
    this.deleteUpTo.run(batch.lastId);
    this.pendingPoints = Math.max(0, this.pendingPoints - batch.points.length);
  }

  /** Moves a batch the store refused for good aside, with the store's error, so the queue keeps moving. */
  reject(batch: OutboxBatch, error: string): void {
    this.db.transaction(() => {
      this.moveToRejected.run({ first: batch.firstId, last: batch.lastId, error: error.slice(0, 2000), now: Date.now() });
      this.deleteRange.run(batch.firstId, batch.lastId);
    })();
    this.pendingPoints = Math.max(0, this.pendingPoints - batch.points.length);
  }

  /** Points waiting (kept as a running count; recounted on start). */
  get depthPoints(): number {
    return this.pendingPoints;
  }

  recount(): { rows: number; points: number } {
    const result = this.countPending.get();
    this.pendingPoints = result?.points ?? 0;
    return { rows: result?.rows ?? 0, points: this.pendingPoints };
  }
}

/** Merges points on the same series + timestamp; later fields win. Order of first appearance is kept. */
export function coalesce(points: readonly Point[]): Point[] {
  const byKey = new Map<string, Point>();
  for (const point of points) {
    const key = seriesKey(point);
    const existing = byKey.get(key);
    if (existing === undefined) byKey.set(key, point);
    else byKey.set(key, { ...existing, fields: { ...existing.fields, ...point.fields } });
  }
  return [...byKey.values()];
}

function seriesKey(point: Point): string {
  const tags = Object.keys(point.tags)
    .sort()
    .map((k) => `${k}=${point.tags[k] ?? ''}`)
    .join(',');
  return `${point.measurement}\0${tags}\0${point.tsMs}\0${point.tsNsOffset ?? 0}`;
}
