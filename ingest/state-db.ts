import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * The ingest state database (`<dataDir>/ingest.sqlite`): processors' working state, the outbox and dead
 * letters, so one transaction makes a message's whole effect durable. WAL with synchronous=NORMAL survives a
 * killed process (committed transactions are in the WAL); only an OS crash or power loss can lose the last
 * commits — see docs/operations.md for synchronous=FULL.
 */
/** WAL size, in pages (4 KiB), at which a commit also checkpoints. */
const walAutocheckpointPages = 10_000;

export function openStateDb(dataDir: string, fileName = 'ingest.sqlite'): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, fileName));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // A checkpoint fsyncs the WAL and the database on the event loop's thread. At the default 1000 pages it
  // ran every ~170 messages and blocked ingest for most of its time (npm run bench:ingest, docs/benchmarks.md);
  // 10,000 pages (~40 MB of WAL) checkpoints ten times less often and writes back hot pages once, not ten times.
  db.pragma(`wal_autocheckpoint = ${walAutocheckpointPages}`);
  return db;
}
