import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AlertEvent } from '../../protocol/payloads/alert.ts';
import type { AlertKind, AlertView } from '../live/snapshot.ts';

/** An alert as the engine holds it. */
export interface Alert {
  id: string;
  key: string;
  kind: AlertKind;
  mall: string;
  store: string;
  device: string | undefined;
  raisedMs: number;
  detail: Record<string, number | string | null>;
}

interface AlertRow {
  id: string;
  key: string;
  kind: AlertKind;
  mall: string;
  store: string;
  device: string | null;
  raised_ms: number;
  cleared_ms: number | null;
  detail: string;
  clear_reason: string | null;
}

/** Most alerts one history query returns. */
export const maxHistoryRows = 5000;

/**
 * Alerts as events in `<dataDir>/dashboards.sqlite`: one row per alert (raised, cleared) and one event row per
 * transition, written together. Open alerts are read back at start so a restart neither repeats nor forgets them.
 */
export class AlertLog {
  private constructor(private readonly db: Database.Database) {}

  static open(dataDir: string): AlertLog {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(path.join(dataDir, 'dashboards.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(`
      CREATE TABLE IF NOT EXISTS alerts (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        device TEXT,
        raised_ms INTEGER NOT NULL,
        cleared_ms INTEGER,
        detail TEXT NOT NULL,
        clear_reason TEXT
      );
      CREATE INDEX IF NOT EXISTS alerts_mall_raised ON alerts (mall, raised_ms);
      CREATE INDEX IF NOT EXISTS alerts_open ON alerts (cleared_ms) WHERE cleared_ms IS NULL;
      CREATE TABLE IF NOT EXISTS alert_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('raised', 'cleared')),
        ts_ms INTEGER NOT NULL,
        payload TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS alert_events_ts ON alert_events (ts_ms);
    `);
    return new AlertLog(db);
  }

  close(): void {
    this.db.close();
  }

  /** Records one transition (the same event the MQTT topic carries). */
  record(event: AlertEvent, key: string): void {
    const tx = this.db.transaction(() => {
      if (event.event === 'raised') {
        this.db
          .prepare('INSERT OR IGNORE INTO alerts (id, key, kind, mall, store, device, raised_ms, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
          .run(event.id, key, event.kind, event.mall, event.store, event.device ?? null, event.raisedTs, JSON.stringify(event.detail));
      } else {
        this.db.prepare('UPDATE alerts SET cleared_ms = ?, clear_reason = ? WHERE id = ? AND cleared_ms IS NULL').run(event.ts, event.clearReason ?? 'resolved', event.id);
      }
      this.db.prepare('INSERT INTO alert_events (alert_id, event, ts_ms, payload) VALUES (?, ?, ?, ?)').run(event.id, event.event, event.ts, JSON.stringify(event));
    });
    tx();
  }

  openAlerts(): Alert[] {
    const rows = this.db.prepare('SELECT * FROM alerts WHERE cleared_ms IS NULL ORDER BY raised_ms').all() as AlertRow[];
    return rows.map((row) => ({
      id: row.id,
      key: row.key,
      kind: row.kind,
      mall: row.mall,
      store: row.store,
      device: row.device ?? undefined,
      raisedMs: row.raised_ms,
      detail: JSON.parse(row.detail) as Alert['detail'],
    }));
  }

  /** Alerts of a mall that were open at some time in [fromMs, toMs), newest first. */
  history(mall: string, fromMs: number, toMs: number, limit = maxHistoryRows): AlertView[] {
    const rows = this.db
      .prepare('SELECT * FROM alerts WHERE mall = ? AND raised_ms < ? AND (cleared_ms IS NULL OR cleared_ms >= ?) ORDER BY raised_ms DESC, id LIMIT ?')
      .all(mall, toMs, fromMs, limit) as AlertRow[];
    return rows.map(toView);
  }

  /** Deletes alerts cleared before cutoffMs and their events (retention). */
  prune(cutoffMs: number): number {
    const tx = this.db.transaction(() => {
      this.db.prepare('DELETE FROM alert_events WHERE alert_id IN (SELECT id FROM alerts WHERE cleared_ms < ?)').run(cutoffMs);
      return this.db.prepare('DELETE FROM alerts WHERE cleared_ms < ?').run(cutoffMs).changes;
    });
    return tx();
  }
}

export function toView(row: AlertRow): AlertView {
  return {
    id: row.id,
    kind: row.kind,
    mall: row.mall,
    store: row.store,
    device: row.device,
    raisedAt: new Date(row.raised_ms).toISOString(),
    clearedAt: row.cleared_ms === null ? null : new Date(row.cleared_ms).toISOString(),
    detail: JSON.parse(row.detail) as AlertView['detail'],
    clearReason: row.clear_reason,
  };
}

export function openAlertView(alert: Alert): AlertView {
  return {
    id: alert.id,
    kind: alert.kind,
    mall: alert.mall,
    store: alert.store,
    device: alert.device ?? null,
    raisedAt: new Date(alert.raisedMs).toISOString(),
    clearedAt: null,
    detail: alert.detail,
    clearReason: null,
  };
}
