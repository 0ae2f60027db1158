import type Database from 'better-sqlite3';

/**
 * Devices linked to members who gave analytics consent: link hash → member-scoped reference. Only linked
 * devices are stored; every other device's link hash is computed per sighting and thrown away. Unlinking
 * leaves a tombstone so a late, reordered login event cannot bring a withdrawn link back.
 */
export class MemberLinks {
  private readonly cache = new Map<string, string>();
  private statements: ReturnType<typeof prepare> | undefined;

  migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS member_links (
        link_hash TEXT PRIMARY KEY,
        member_ref TEXT NOT NULL,
        linked_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS member_links_member ON member_links (member_ref);
      CREATE TABLE IF NOT EXISTS member_unlinks (
        member_ref TEXT PRIMARY KEY,
        unlinked_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
    `);
    this.statements = prepare(db);
    this.reload();
  }

  /** Re-reads every link: after a rolled-back transaction the cache may hold links the database does not. */
  reload(): void {
    this.cache.clear();
    for (const row of this.ready().all.all()) this.cache.set(row.link_hash, row.member_ref);
  }

  /** The member a device belongs to, if its owner linked it with consent. */
  lookup(linkHash: string): string | undefined {
    return this.cache.get(linkHash);
  }

  get size(): number {
    return this.cache.size;
  }

  /** Links a device; ignored when the member withdrew consent after `atMs`. Returns whether it linked. */
  link(linkHash: string, memberRef: string, atMs: number): boolean {
    const s = this.ready();
    const tombstone = s.tombstone.get(memberRef);
    if (tombstone !== undefined && tombstone.unlinked_ms >= atMs) return false;
    s.upsert.run(linkHash, memberRef, atMs);
    this.cache.set(linkHash, memberRef);
    return true;
  }

  /** Removes every link of a member and stops linking events older than `atMs`. */
  unlink(memberRef: string, atMs: number): number {
    const s = this.ready();
    s.setTombstone.run(memberRef, atMs);
    const removed = s.removeMember.run(memberRef).changes;
    for (const [hash, ref] of this.cache) if (ref === memberRef) this.cache.delete(hash);
    return removed;
  }

  private ready(): ReturnType<typeof prepare> {
    if (this.statements === undefined) throw new Error('MemberLinks used before migrate()');
    return this.statements;
  }
}

function prepare(db: Database.Database) {
  return {
    all: db.prepare<[], { link_hash: string; member_ref: string }>('SELECT link_hash, member_ref FROM member_links'),
    upsert: db.prepare<[string, string, number]>(
      `INSERT INTO member_links (link_hash, member_ref, linked_ms) VALUES (?, ?, ?)
       ON CONFLICT (link_hash) DO UPDATE SET member_ref = excluded.member_ref, linked_ms = MAX(linked_ms, excluded.linked_ms)`,
    ),
    removeMember: db.prepare<[string]>('DELETE FROM member_links WHERE member_ref = ?'),
    tombstone: db.prepare<[string], { unlinked_ms: number }>('SELECT unlinked_ms FROM member_unlinks WHERE member_ref = ?'),
    setTombstone: db.prepare<[string, number]>(
      `INSERT INTO member_unlinks (member_ref, unlinked_ms) VALUES (?, ?)
       ON CONFLICT (member_ref) DO UPDATE SET unlinked_ms = MAX(unlinked_ms, excluded.unlinked_ms)`,
    ),
  };
}
