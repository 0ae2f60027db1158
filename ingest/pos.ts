import type Database from 'better-sqlite3';
import { protocolLimits } from '../protocol/limits.ts';
import type { PosInterval, PosSales } from '../protocol/payloads/pos.ts';
import { RejectedReading } from './processor.ts';
import type { Point } from './store/types.ts';

/** Measurement for point-of-sale counts (docs/dashboards.md, sales conversion). */
export const salesMeasurement = 'sales';

/** How long reported intervals are remembered for the overlap check, in ms (8 days: past the late-data window). */
const intervalMemoryMs = protocolLimits.lateDataMaxMs + 24 * 60 * 60 * 1000;

export interface KnownInterval {
  startMs: number;
  endMs: number;
}

/** One `sales` point: transactions of one store for the interval starting at tsMs (interval_s says how long). */
export function salesPoint(mall: string, interval: PosInterval): Point {
  return {
    measurement: salesMeasurement,
    tags: { mall, store: interval.store },
    fields: { transactions: { int: interval.transactions }, interval_s: { int: (interval.endMs - interval.startMs) / 1000 } },
    tsMs: interval.startMs,
  };
}

/**
 * Why a report cannot be stored without counting some sales twice: an interval that overlaps another one of the
 * same store (in the report or already known) without being the very same interval. The same interval again is
 * a correction and replaces the count. Messages name stores and times only.
 */
export function overlapProblems(intervals: readonly PosInterval[], known: (store: string, startMs: number, endMs: number) => readonly KnownInterval[]): string[] {
  const problems: string[] = [];
  const overlaps = (a: KnownInterval, b: KnownInterval): boolean => a.startMs < b.endMs && b.startMs < a.endMs && !(a.startMs === b.startMs && a.endMs === b.endMs);
  intervals.forEach((interval, i) => {
    const clash =
      intervals.find((other, j) => j < i && other.store === interval.store && overlaps(other, interval)) ??
      known(interval.store, interval.startMs, interval.endMs).find((other) => overlaps(other, interval));
    if (clash !== undefined) {
      problems.push(
        `intervals.${i}: ${interval.store} ${new Date(interval.startMs).toISOString()}–${new Date(interval.endMs).toISOString()} overlaps ${new Date(clash.startMs).toISOString()}–${new Date(clash.endMs).toISOString()}`,
      );
    }
  });
  return problems;
}

/** Checks an interval against receive time: not in the future (beyond clock skew), not older than `lateMaxMs`. */
export function timeProblem(interval: PosInterval, nowMs: number, lateMaxMs: number): string | undefined {
  if (interval.endMs > nowMs + protocolLimits.futureSkewMaxMs) return `${interval.store}: interval ends in the future`;
  if (interval.startMs < nowMs - lateMaxMs) return `${interval.store}: interval older than ${Math.round(lateMaxMs / 86_400_000)} days`;
  return undefined;
}

/**
 * Point-of-sale reports (MQTT `plaza/v1/<mall>/_pos/<source>/sales`) → `sales` points. Runs inside the message's
 * transaction like the other processors; remembers reported intervals so overlapping ones are refused (dead letter)
 * instead of inflating transactions. A report is stored whole or not at all.
 */
export class PosProcessor {
  private statements: ReturnType<typeof prepare> | undefined;
  readonly stats = { intervals: 0, corrections: 0 };

  migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS pos_intervals (
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        PRIMARY KEY (mall, store, start_ms)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS pos_intervals_end ON pos_intervals (end_ms);
    `);
    this.statements = prepare(db);
  }

  /** `topicMall` is the mall in the topic; the payload must name the same one. Throws RejectedReading. */
  sales(topicMall: string, report: PosSales, receivedAtMs: number): Point[] {
    const s = this.ready();
    if (report.mall !== topicMall) throw new RejectedReading('payload mall differs from the topic mall');
    const problems: string[] = [];
    for (const interval of report.intervals) {
      const problem = timeProblem(interval, receivedAtMs, protocolLimits.lateDataMaxMs);
      if (problem !== undefined) problems.push(problem);
    }
    problems.push(...overlapProblems(report.intervals, (store, startMs, endMs) => s.overlapping.all(report.mall, store, endMs, startMs)));
    if (problems.length > 0) throw new RejectedReading(`point-of-sale report refused: ${problems.slice(0, 3).join('; ')}`);
    const points = new Map<string, Point>();
    for (const interval of report.intervals) {
      if (s.remember.run(report.mall, interval.store, interval.startMs, interval.endMs).changes === 0) this.stats.corrections += 1;
      this.stats.intervals += 1;
      points.set(`${interval.store}\0${interval.startMs}`, salesPoint(report.mall, interval));
    }
    return [...points.values()];
  }

  prune(nowMs: number): number {
    return this.ready().forget.run(nowMs - intervalMemoryMs).changes;
  }

  private ready(): ReturnType<typeof prepare> {
    if (this.statements === undefined) throw new Error('PosProcessor used before migrate()');
    return this.statements;
  }
}

function prepare(db: Database.Database) {
  return {
    // ON CONFLICT DO NOTHING: the same interval again is a correction; changes() = 0 tells it apart.
    remember: db.prepare<[string, string, number, number]>('INSERT INTO pos_intervals (mall, store, start_ms, end_ms) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
    overlapping: db.prepare<[string, string, number, number], KnownInterval>(
      'SELECT start_ms AS startMs, end_ms AS endMs FROM pos_intervals WHERE mall = ? AND store = ? AND start_ms < ? AND end_ms > ?',
    ),
    forget: db.prepare<[number]>('DELETE FROM pos_intervals WHERE end_ms < ?'),
  };
}
