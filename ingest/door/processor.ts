import type Database from 'better-sqlite3';
import type { DoorPayload } from '../../protocol/payloads/door.ts';
import type { DeviceTopic } from '../../protocol/topics.ts';
import { type Processor, RejectedReading } from '../processor.ts';
import type { Settings } from '../settings.ts';
import type { Point } from '../store/types.ts';
import { businessDayStartMs, dayMs, floorToMinute } from '../time.ts';

export interface TimeBounds {
  /** Device timestamps further than this ahead of receive time are replaced by receive time, in ms. */
  futureSkewMaxMs: number;
  /** Readings older than this (by device time) are rejected, in ms. */
  lateDataMaxMs: number;
}

export const defaultTimeBounds: TimeBounds = {
  futureSkewMaxMs: 5 * 60 * 1000, // 5 min
  lateDataMaxMs: 7 * 24 * 60 * 60 * 1000, // 7 days
};

export interface DoorStats {
  duplicates: number;
  skewCorrected: number;
  resets: number;
}

interface Reading {
  seq: number;
  ts_ms: number;
  total_in: number;
  total_out: number;
}

interface MinuteRow {
  minute_ms: number;
  entries: number;
  exits: number;
  occupancy: number;
}

/**
 * Door counters → per-store per-minute entries, exits and occupancy.
 *
 * Every reading is kept (device, boot, seq) for the late-data window. A reading's delta is its totals minus
 * those of the previous seq of the same boot (or its totals when it is the first seen of the boot, or when a
 * total fell: a counter reset). A late reading that lands between two known ones also changes the delta of
 * its successor; both minutes are adjusted. Repeats of (device, boot, seq) are ignored. So the minute sums
 * are an exact function of the set of readings, whatever the order and repetition of arrival.
 */
export class DoorProcessor implements Processor<'door'> {
  readonly stats: DoorStats = { duplicates: 0, skewCorrected: 0, resets: 0 };
  private statements: ReturnType<typeof prepare> | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly bounds: TimeBounds = defaultTimeBounds,
  ) {}

  migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS door_readings (
        device TEXT NOT NULL,
        boot TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL,
        total_in INTEGER NOT NULL,
        total_out INTEGER NOT NULL,
        PRIMARY KEY (device, boot, seq)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS door_readings_ts ON door_readings (ts_ms);
      CREATE TABLE IF NOT EXISTS door_minutes (
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        minute_ms INTEGER NOT NULL,
        entries INTEGER NOT NULL,
        exits INTEGER NOT NULL,
        occupancy INTEGER NOT NULL,
        PRIMARY KEY (mall, store, minute_ms)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS mall_minutes (
        mall TEXT NOT NULL,
        minute_ms INTEGER NOT NULL,
        step INTEGER NOT NULL,
        occupancy INTEGER NOT NULL,
        PRIMARY KEY (mall, minute_ms)
      ) WITHOUT ROWID;
    `);
    this.statements = prepare(db);
  }

  process(topic: DeviceTopic<'door'>, payload: DoorPayload, receivedAtMs: number): Point[] {
    const s = this.statements;
    if (s === undefined) throw new Error('DoorProcessor used before migrate()');
    let tsMs = payload.ts;
    if (tsMs > receivedAtMs + this.bounds.futureSkewMaxMs) {
      tsMs = receivedAtMs;
      this.stats.skewCorrected += 1;
    }
    if (tsMs < receivedAtMs - this.bounds.lateDataMaxMs) throw new RejectedReading('reading older than the late-data window');

    const inserted = s.insert.run(topic.device, payload.boot, payload.seq, tsMs, payload.in, payload.out);
    if (inserted.changes === 0) {
      this.stats.duplicates += 1;
      return [];
    }
    const prev = s.prev.get(topic.device, payload.boot, payload.seq);
    const next = s.next.get(topic.device, payload.boot, payload.seq);
    const current: Reading = { seq: payload.seq, ts_ms: tsMs, total_in: payload.in, total_out: payload.out };

    const changes = new Map<number, { entries: number; exits: number }>();
    const add = (minuteMs: number, entries: number, exits: number): void => {
      const change = changes.get(minuteMs) ?? { entries: 0, exits: 0 };
      change.entries += entries;
      change.exits += exits;
      changes.set(minuteMs, change);
    };
    const own = this.delta(prev, current);
    add(floorToMinute(tsMs), own.in, own.out);
    if (next !== undefined) {
      const before = this.delta(prev, next);
      const after = this.delta(current, next);
      add(floorToMinute(next.ts_ms), after.in - before.in, after.out - before.out);
    }

    const points: Point[] = [];
    const { mall, store } = topic;
    const minutes = [...changes.keys()].sort((a, b) => a - b);
    const dayStartOf = (minuteMs: number): number => businessDayStartMs(minuteMs, this.settings.timeZoneOf(mall), this.settings.dayResetHourOf(mall));
    for (const minuteMs of minutes) {
      const change = changes.get(minuteMs) as { entries: number; exits: number };
      // A new minute starts at the running value before it, so inserting it alone changes no one's occupancy.
      const before = s.occupancyBefore.get(mall, store, minuteMs, dayStartOf(minuteMs))?.occupancy ?? 0;
      s.upsertMinute.run(mall, store, minuteMs, change.entries, change.exits, before);
    }
    // Occupancy depends on every earlier minute of the business day: recompute from the earliest change on.
    const done = new Set<number>();
    for (const minuteMs of minutes) {
      const dayStart = dayStartOf(minuteMs);
      if (done.has(dayStart)) continue;
      done.add(dayStart);
      const mallChanges = this.recomputeOccupancy(mall, store, minuteMs, dayStart, new Set(minutes), points);
      this.updateMallOccupancy(mall, dayStart, mallChanges, points);
    }
    return points;
  }

  /** Drops readings and minutes past the late-data window, keeping each boot's newest reading as its anchor. */
  prune(nowMs: number): number {
    const s = this.statements;
    if (s === undefined) return 0;
    const cutoff = nowMs - this.bounds.lateDataMaxMs - dayMs;
    return s.pruneReadings.run(cutoff, cutoff).changes + s.pruneMinutes.run(cutoff - dayMs).changes + s.pruneMallMinutes.run(cutoff - dayMs).changes;
  }

  private delta(prev: Reading | undefined, reading: Reading): { in: number; out: number } {
    if (prev === undefined) return { in: reading.total_in, out: reading.total_out };
    const fellIn = reading.total_in < prev.total_in;
    const fellOut = reading.total_out < prev.total_out;
    // A falling total within one boot is a counter reset: the new total counts from zero.
    return { in: fellIn ? reading.total_in : reading.total_in - prev.total_in, out: fellOut ? reading.total_out : reading.total_out - prev.total_out };
  }

  /**
   * Recomputes a store's occupancy from a minute to the end of its business day. Returns how the store's step
   * changes moved, per minute (new step − old step), for the mall total.
   */
  private recomputeOccupancy(mall: string, store: string, fromMinuteMs: number, dayStartMs: number, changed: Set<number>, points: Point[]): Map<number, number> {
    const s = this.statements as ReturnType<typeof prepare>;
    const lastChanged = Math.max(...changed);
    const stepChanges = new Map<number, number>();
    let previousDiff = 0;
    let occupancy = s.occupancyBefore.get(mall, store, fromMinuteMs, dayStartMs)?.occupancy ?? 0;
    const rows = s.minutesFrom.all(mall, store, fromMinuteMs, dayStartMs + dayMs);
    for (const row of rows) {
      occupancy = Math.max(0, occupancy + row.entries - row.exits);
      const diff = occupancy - row.occupancy;
      // The step at this minute is (its occupancy − the previous minute's): it moves by this diff minus the previous one.
      if (diff !== previousDiff) stepChanges.set(row.minute_ms, diff - previousDiff);
      previousDiff = diff;
      if (occupancy !== row.occupancy) s.setOccupancy.run(occupancy, mall, store, row.minute_ms);
      else if (!changed.has(row.minute_ms)) {
        // Past the last changed minute with an unchanged running value, every later minute is unchanged too.
        if (row.minute_ms > lastChanged) break;
        continue;
      }
      points.push({
        measurement: 'footfall',
        tags: { mall, store },
        fields: { entries: { int: row.entries }, exits: { int: row.exits }, occupancy: { int: occupancy } },
        tsMs: row.minute_ms,
      });
    }
    return stepChanges;
  }

  /**
   * The mall's occupancy is the sum of its stores' (each clamped on its own), kept as a sum of per-minute steps.
   * Written as its own series so dashboards need no subquery (InfluxDB 1.x mishandles fill() in subqueries).
   */
  private updateMallOccupancy(mall: string, dayStartMs: number, stepChanges: Map<number, number>, points: Point[]): void {
    if (stepChanges.size === 0) return;
    const s = this.statements as ReturnType<typeof prepare>;
    const minutes = [...stepChanges.keys()].sort((a, b) => a - b);
    for (const minuteMs of minutes) {
      const before = s.mallOccupancyBefore.get(mall, minuteMs, dayStartMs)?.occupancy ?? 0;
      s.addMallStep.run(mall, minuteMs, stepChanges.get(minuteMs) as number, before);
    }
    const first = minutes[0] as number;
    const last = minutes[minutes.length - 1] as number;
    let occupancy = s.mallOccupancyBefore.get(mall, first, dayStartMs)?.occupancy ?? 0;
    for (const row of s.mallMinutesFrom.all(mall, first, dayStartMs + dayMs)) {
      occupancy += row.step;
      if (occupancy === row.occupancy) {
        if (row.minute_ms > last) break;
        if (!stepChanges.has(row.minute_ms)) continue;
      } else {
        s.setMallOccupancy.run(occupancy, mall, row.minute_ms);
      }
      points.push({ measurement: 'mall_occupancy', tags: { mall }, fields: { occupancy: { int: occupancy } }, tsMs: row.minute_ms });
    }
  }
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare<[string, string, number, number, number, number]>(
      'INSERT OR IGNORE INTO door_readings (device, boot, seq, ts_ms, total_in, total_out) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    prev: db.prepare<[string, string, number], Reading>(
      'SELECT seq, ts_ms, total_in, total_out FROM door_readings WHERE device = ? AND boot = ? AND seq < ? ORDER BY seq DESC LIMIT 1',
    ),
    next: db.prepare<[string, string, number], Reading>(
      'SELECT seq, ts_ms, total_in, total_out FROM door_readings WHERE device = ? AND boot = ? AND seq > ? ORDER BY seq ASC LIMIT 1',
    ),
    upsertMinute: db.prepare<[string, string, number, number, number, number]>(
      `INSERT INTO door_minutes (mall, store, minute_ms, entries, exits, occupancy) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (mall, store, minute_ms) DO UPDATE SET entries = entries + excluded.entries, exits = exits + excluded.exits`,
    ),
    occupancyBefore: db.prepare<[string, string, number, number], { occupancy: number }>(
      'SELECT occupancy FROM door_minutes WHERE mall = ? AND store = ? AND minute_ms < ? AND minute_ms >= ? ORDER BY minute_ms DESC LIMIT 1',
    ),
    minutesFrom: db.prepare<[string, string, number, number], MinuteRow>(
      'SELECT minute_ms, entries, exits, occupancy FROM door_minutes WHERE mall = ? AND store = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms',
    ),
    setOccupancy: db.prepare<[number, string, string, number]>('UPDATE door_minutes SET occupancy = ? WHERE mall = ? AND store = ? AND minute_ms = ?'),
    pruneReadings: db.prepare<[number, number]>(
      `DELETE FROM door_readings WHERE ts_ms < ? AND seq < (
         SELECT MAX(r2.seq) FROM door_readings r2 WHERE r2.device = door_readings.device AND r2.boot = door_readings.boot AND r2.ts_ms < ?)`,
    ),
    pruneMinutes: db.prepare<[number]>('DELETE FROM door_minutes WHERE minute_ms < ?'),
    pruneMallMinutes: db.prepare<[number]>('DELETE FROM mall_minutes WHERE minute_ms < ?'),
    mallOccupancyBefore: db.prepare<[string, number, number], { occupancy: number }>(
      'SELECT occupancy FROM mall_minutes WHERE mall = ? AND minute_ms < ? AND minute_ms >= ? ORDER BY minute_ms DESC LIMIT 1',
    ),
    addMallStep: db.prepare<[string, number, number, number]>(
      `INSERT INTO mall_minutes (mall, minute_ms, step, occupancy) VALUES (?, ?, ?, ?)
       ON CONFLICT (mall, minute_ms) DO UPDATE SET step = step + excluded.step`,
    ),
    mallMinutesFrom: db.prepare<[string, number, number], { minute_ms: number; step: number; occupancy: number }>(
      'SELECT minute_ms, step, occupancy FROM mall_minutes WHERE mall = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms',
    ),
    setMallOccupancy: db.prepare<[number, string, number]>('UPDATE mall_minutes SET occupancy = ? WHERE mall = ? AND minute_ms = ?'),
  };
}
