import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * Shoppers who asked not to be counted (docs/privacy.md "Opting out"): their devices' stable link hashes, the
 * least needed to recognise and drop their sightings. Shared by every ingest instance like the registry:
 * `<dataDir>/optouts.sqlite`. Written by `plaza optout`, read by ingest (reloaded when it changes).
 */
export class OptOuts {
  private readonly hashes = new Set<string>();
  private loadedVersion = -1;

  private constructor(private readonly db: Database.Database) {
    this.reload();
  }

  static open(dataDir: string): OptOuts {
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(path.join(dataDir, 'optouts.sqlite'));
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE IF NOT EXISTS optouts (link_hash TEXT PRIMARY KEY, created_ms INTEGER NOT NULL) WITHOUT ROWID');
    return new OptOuts(db);
  }

  has(linkHash: string): boolean {
    return this.hashes.has(linkHash);
  }

  get size(): number {
    return this.hashes.size;
  }

  add(linkHash: string): boolean {
    const added = this.db.prepare('INSERT OR IGNORE INTO optouts (link_hash, created_ms) VALUES (?, ?)').run(linkHash, Date.now()).changes > 0;
    this.hashes.add(linkHash);
    return added;
  }

  remove(linkHash: string): boolean {
    const removed = this.db.prepare('DELETE FROM optouts WHERE link_hash = ?').run(linkHash).changes > 0;
    this.hashes.delete(linkHash);
    return removed;
  }

  /** Picks up changes made by another process (SQLite's data_version changes on every foreign commit). */
  reload(): void {
    const version = this.db.pragma('data_version', { simple: true }) as number;
    if (version === this.loadedVersion) return;
    this.loadedVersion = version;
    this.hashes.clear();
    for (const row of this.db.prepare('SELECT link_hash FROM optouts').all() as { link_hash: string }[]) this.hashes.add(row.link_hash);
  }

  close(): void {
    this.db.close();
  }
}
