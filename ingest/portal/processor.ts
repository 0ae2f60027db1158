import type Database from 'better-sqlite3';
import type { PortalLoginEvent, PortalMemberEvent } from '../../protocol/payloads/portal-login.ts';
import type { Point } from '../store/types.ts';
import { floorToMinute } from '../time.ts';
import type { MemberLinks } from './member-links.ts';
import type { MemberVisits } from './member-visits.ts';

/** How long event ids are remembered for de-duplication, in ms (8 days: beyond the late-data window). */
const eventMemoryMs = 8 * 24 * 60 * 60 * 1000;

interface MinuteRow {
  logins: number;
  member_logins: number;
  signups: number;
}

/**
 * Portal events → `portal_login` counts per store, method and minute, and member links (only with analytics
 * consent on a MAC the gateway vouched for). Redelivered events are ignored by event id.
 */
export class PortalProcessor {
  private statements: ReturnType<typeof prepare> | undefined;
  readonly stats = { duplicates: 0, linked: 0, unlinked: 0, linkRefused: 0 };

  constructor(
    private readonly links: MemberLinks,
    private readonly visits?: MemberVisits,
  ) {}

  /** A rolled-back transaction may have changed links in memory only. */
  discardCaches(): void {
    this.links.reload();
  }

  migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS portal_events (event_id TEXT PRIMARY KEY, ts_ms INTEGER NOT NULL) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS portal_events_ts ON portal_events (ts_ms);
      CREATE TABLE IF NOT EXISTS portal_minutes (
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        method TEXT NOT NULL,
        minute_ms INTEGER NOT NULL,
        logins INTEGER NOT NULL,
        member_logins INTEGER NOT NULL,
        signups INTEGER NOT NULL,
        PRIMARY KEY (mall, store, method, minute_ms)
      ) WITHOUT ROWID;
    `);
    this.links.migrate(db);
    this.statements = prepare(db);
  }

  login(event: PortalLoginEvent): Point[] {
    const s = this.ready();
    if (s.remember.run(event.eventId, event.ts).changes === 0) {
      this.stats.duplicates += 1;
      return [];
    }
    if (event.link !== undefined) {
      // The portal sends a link only with consent and a trusted MAC; checked again here because a link is the
      // one thing that makes a device identifiable across days.
      if (event.consents.analytics && event.macTrusted && event.member) {
        if (this.links.link(event.link.linkHash, event.link.memberRef, event.ts)) this.stats.linked += 1;
      } else {
        this.stats.linkRefused += 1;
      }
    }
    const minuteMs = floorToMinute(event.ts);
    const store = event.store ?? '';
    const row = s.add.get(event.mall, store, event.method, minuteMs, event.member ? 1 : 0, event.method === 'signup' ? 1 : 0);
    if (row === undefined) return [];
    return [
      {
        measurement: 'portal_login',
        tags: { mall: event.mall, method: event.method, ...(store === '' ? {} : { store }) },
        fields: { logins: { int: row.logins }, member_logins: { int: row.member_logins }, signups: { int: row.signups } },
        tsMs: minuteMs,
      },
    ];
  }

  member(event: PortalMemberEvent): Point[] {
    const s = this.ready();
    if (s.remember.run(event.eventId, event.ts).changes === 0) {
      this.stats.duplicates += 1;
      return [];
    }
    if (event.kind === 'link') {
      if (this.links.link(event.linkHash, event.memberRef, event.ts)) this.stats.linked += 1;
    } else {
      this.links.unlink(event.memberRef, event.ts);
      this.visits?.forget(event.memberRef);
      this.stats.unlinked += 1;
    }
    return [];
  }

  prune(nowMs: number): number {
    return this.ready().forget.run(nowMs - eventMemoryMs).changes;
  }

  private ready(): ReturnType<typeof prepare> {
    if (this.statements === undefined) throw new Error('PortalProcessor used before migrate()');
    return this.statements;
  }
}

function prepare(db: Database.Database) {
  return {
    remember: db.prepare<[string, number]>('INSERT OR IGNORE INTO portal_events (event_id, ts_ms) VALUES (?, ?)'),
    forget: db.prepare<[number]>('DELETE FROM portal_events WHERE ts_ms < ?'),
    add: db.prepare<[string, string, string, number, number, number], MinuteRow>(
      `INSERT INTO portal_minutes (mall, store, method, minute_ms, logins, member_logins, signups) VALUES (?, ?, ?, ?, 1, ?, ?)
       ON CONFLICT (mall, store, method, minute_ms) DO UPDATE SET
         logins = logins + 1, member_logins = member_logins + excluded.member_logins, signups = signups + excluded.signups
       RETURNING logins, member_logins, signups`,
    ),
  };
}
