import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * The ingest state database (`<dataDir>/ingest.sqlite`): processors' working state, the outbox and dead
 * letters, so one transaction makes a message's whole effect durable. WAL with synchronous=NORMAL survives a
 * killed process (committed transactions are in the WAL); only an OS crash or power loss can lose the last
 * commits — see docs/operations.md for synchronous=FULL.
 */
export function openStateDb(dataDir: string, fileName = 'ingest.sqlite'): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, fileName));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}
