import type Database from 'better-sqlite3';
import type { Point } from '../store/types.ts';

/** How far back a member's earlier visit makes today's a repeat visit, in days. */
export const repeatWindowDays = 30;
/** How long a member's visit days are kept, in days (only for consented members). */
const keepDays = 2 * repeatWindowDays;

interface DayCounts {
  members: number;
  repeat_members: number;
  first_time_members: number;
}

/**
 * Visits of linked members (devices whose owner consented on the portal) → `member_visits` per store and local
 * day: unique members, of which repeat visitors (seen in this mall on another day within 30 days) and
 * first-time ones. Only consented members' visit days are stored, keyed by the member-scoped reference.
 */
export class MemberVisits {
  private statements: ReturnType<typeof prepare> | undefined;

  migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS member_days (
        member_ref TEXT NOT NULL,
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        day TEXT NOT NULL,
        day_start_ms INTEGER NOT NULL,
        PRIMARY KEY (member_ref, mall, day, store)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS member_day_counts (
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        day TEXT NOT NULL,
        day_start_ms INTEGER NOT NULL,
        members INTEGER NOT NULL,
        repeat_members INTEGER NOT NULL,
        first_time_members INTEGER NOT NULL,
        PRIMARY KEY (mall, store, day)
      ) WITHOUT ROWID;
    `);
    this.statements = prepare(db);
  }

  /** Records that a linked member was seen in a store on a local day; returns the day's new counts when they changed. */
  seen(memberRef: string, mall: string, store: string, day: { date: string; startMs: number }): Point[] {
    const s = this.statements;
    if (s === undefined) throw new Error('MemberVisits used before migrate()');
    if (s.insert.run(memberRef, mall, store, day.date, day.startMs).changes === 0) return [];
    const earlier = s.earlierVisit.get(memberRef, mall, day.startMs - repeatWindowDays * 86_400_000, day.startMs) !== undefined;
    const row = s.count.get(mall, store, day.date, day.startMs, earlier ? 1 : 0, earlier ? 0 : 1);
    if (row === undefined) return [];
    return [
      {
        measurement: 'member_visits',
        tags: { mall, store },
        fields: { members: { int: row.members }, repeat_members: { int: row.repeat_members }, first_time_members: { int: row.first_time_members } },
        tsMs: day.startMs,
      },
    ];
  }

  /** Forgets a member's visit days (consent withdrawn or member deleted). Counts already written stay: they are anonymous. */
  forget(memberRef: string): number {
    return this.statements?.forget.run(memberRef).changes ?? 0;
  }

  prune(nowMs: number): number {
    const cutoff = nowMs - keepDays * 86_400_000;
    const s = this.statements;
    if (s === undefined) return 0;
    return s.pruneDays.run(cutoff).changes + s.pruneCounts.run(cutoff).changes;
  }
}

function prepare(db: Database.Database) {
  return {
    insert: db.prepare<[string, string, string, string, number]>(
      'INSERT OR IGNORE INTO member_days (member_ref, mall, store, day, day_start_ms) VALUES (?, ?, ?, ?, ?)',
    ),
    earlierVisit: db.prepare<[string, string, number, number], { one: number }>(
      'SELECT 1 AS one FROM member_days WHERE member_ref = ? AND mall = ? AND day_start_ms >= ? AND day_start_ms < ? LIMIT 1',
    ),
    count: db.prepare<[string, string, string, number, number, number], DayCounts>(
      `INSERT INTO member_day_counts (mall, store, day, day_start_ms, members, repeat_members, first_time_members) VALUES (?, ?, ?, ?, 1, ?, ?)
       ON CONFLICT (mall, store, day) DO UPDATE SET members = members + 1,
         repeat_members = repeat_members + excluded.repeat_members, first_time_members = first_time_members + excluded.first_time_members
       RETURNING members, repeat_members, first_time_members`,
    ),
    forget: db.prepare<[string]>('DELETE FROM member_days WHERE member_ref = ?'),
    pruneDays: db.prepare<[number]>('DELETE FROM member_days WHERE day_start_ms < ?'),
    pruneCounts: db.prepare<[number]>('DELETE FROM member_day_counts WHERE day_start_ms < ?'),
  };
}
