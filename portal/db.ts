import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * The portal's SQLite database (`<dataDir>/portal.sqlite`): members, consents and pending one-time codes.
 * Phones and names are encrypted at rest, codes are stored only as HMACs, and no MAC ever reaches it.
 */
export function openPortalDatabase(dataDir: string): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  return openDatabaseFile(path.join(dataDir, 'portal.sqlite'));
}

export function openDatabaseFile(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 2000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS members (
      member_id TEXT PRIMARY KEY,
      phone_index TEXT NOT NULL UNIQUE,
      phone_enc TEXT NOT NULL,
      name_enc TEXT,
      created_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS consents (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      member_id TEXT NOT NULL REFERENCES members (member_id) ON DELETE CASCADE,
      type TEXT NOT NULL CHECK (type IN ('terms', 'analytics', 'marketing')),
      action TEXT NOT NULL CHECK (action IN ('granted', 'withdrawn')),
      text_version TEXT NOT NULL,
      language TEXT NOT NULL,
      ts_ms INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS consents_by_member ON consents (member_id, type, id);
    CREATE TABLE IF NOT EXISTS otp_challenges (
      id TEXT PRIMARY KEY,
      code_hash TEXT NOT NULL,
      sent_ms INTEGER NOT NULL,
      expires_ms INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      consumed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS otp_by_expiry ON otp_challenges (expires_ms);
  `);
  return db;
}
