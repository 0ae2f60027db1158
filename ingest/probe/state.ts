import type Database from 'better-sqlite3';

/** The tables the split of probe_visit added (also created by the migration from the wide layout). */
const splitTables = `
  -- A number per store (sid): visit ids are sid * 2^32 + a per-store sequence, so one store's visits sit
  -- together in probe_visit_hot in the order they were opened.
  CREATE TABLE IF NOT EXISTS probe_store (
    sid INTEGER PRIMARY KEY, mall TEXT NOT NULL, store TEXT NOT NULL, UNIQUE (mall, store)
  );

  -- What every sighting may change, in a narrow row keyed by vid: a probe's batch updates ~90 visits of its
  -- store, which now share a few pages (recent visits of a store are adjacent) instead of one page each among
  -- the store's closed visits; per update ~1.7 instead of ~5 µs, and the commit writes ~200 instead of ~400-3000
  -- bytes (docs/benchmarks.md). tail_sn, tail_ms: the identity's cluster tail (last sequence number, its time).
  CREATE TABLE IF NOT EXISTS probe_visit_hot (
    vid INTEGER PRIMARY KEY,
    first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, max_rssi INTEGER NOT NULL,
    visitor INTEGER NOT NULL, estimated INTEGER NOT NULL, connected INTEGER NOT NULL,
    seen_base INTEGER NOT NULL, seen BLOB NOT NULL, conn_base INTEGER, conn BLOB, tail_sn INTEGER, tail_ms INTEGER
  );
`;

/**
 * The probe processor's working state in the ingest state database. Keyed by pseudonyms only; per-device
 * rows (probe_ident, probe_alias, probe_visit) live hours, per-store counters live for the late-data window.
 */
const schema = `
  -- Held a cache-staleness counter before the pipeline reported rollbacks itself.
  DROP TABLE IF EXISTS probe_meta;
  -- Indexes by day, used only to seal a store's day once (a scan of the store's rows does that): every new
  -- pseudonym inserted into them at a random place, so each commit dirtied more of their pages as they grew.
  DROP INDEX IF EXISTS probe_ident_day;
  DROP INDEX IF EXISTS probe_alias_day;
  DROP INDEX IF EXISTS probe_visit_day;
  -- Processed (device, boot, seq) as ranges [lo, hi]: one row per device and boot while nothing is lost.
  CREATE TABLE IF NOT EXISTS probe_msg (
    device TEXT NOT NULL, boot TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    PRIMARY KEY (device, boot, lo)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS probe_msg_updated ON probe_msg (updated_ms);

  -- A device of one store on one local day (identity = a MAC pseudonym); also the day's unique-device set.
  CREATE TABLE IF NOT EXISTS probe_ident (
    mall TEXT NOT NULL, store TEXT NOT NULL, identity TEXT NOT NULL,
    day TEXT NOT NULL, day_start_ms INTEGER NOT NULL,
    kind INTEGER NOT NULL, visitor_day INTEGER NOT NULL, fph TEXT,
    PRIMARY KEY (mall, store, identity)
  ) WITHOUT ROWID;

  -- Further random MACs merged into a device by fingerprint + sequence number.
  CREATE TABLE IF NOT EXISTS probe_alias (
    mall TEXT NOT NULL, store TEXT NOT NULL, mac TEXT NOT NULL, identity TEXT NOT NULL, day TEXT NOT NULL,
    PRIMARY KEY (mall, store, mac)
  ) WITHOUT ROWID;

${splitTables}
  -- A visit's identity, class and schedule: written when it opens, closes, reopens or is rescheduled. vkey: the
  -- time of the sighting that opened the visit, unique per identity.
  CREATE TABLE IF NOT EXISTS probe_visit (
    mall TEXT NOT NULL, store TEXT NOT NULL, identity TEXT NOT NULL, vkey INTEGER NOT NULL, vid INTEGER NOT NULL,
    day TEXT NOT NULL, randomized INTEGER NOT NULL,
    closed INTEGER NOT NULL, point_ms INTEGER, close_after_ms INTEGER NOT NULL, expires_ms INTEGER, fph TEXT,
    PRIMARY KEY (mall, store, identity, vkey)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS probe_visit_fph ON probe_visit (mall, store, fph) WHERE fph IS NOT NULL;
  -- close_after_ms is a lower bound of the closing time, refreshed only when tick() finds it passed.
  CREATE INDEX IF NOT EXISTS probe_visit_due ON probe_visit (close_after_ms) WHERE closed = 0;
  CREATE INDEX IF NOT EXISTS probe_visit_expiry ON probe_visit (expires_ms) WHERE closed = 1;

  CREATE TRIGGER IF NOT EXISTS probe_visit_delete AFTER DELETE ON probe_visit BEGIN
    DELETE FROM probe_visit_hot WHERE vid = old.vid;
  END;

  CREATE TABLE IF NOT EXISTS probe_minute (
    mall TEXT NOT NULL, store TEXT NOT NULL, minute_ms INTEGER NOT NULL,
    devices INTEGER NOT NULL, visitors INTEGER NOT NULL, passers_by INTEGER NOT NULL,
    connected INTEGER NOT NULL, unclustered INTEGER NOT NULL,
    PRIMARY KEY (mall, store, minute_ms)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS probe_minute_ts ON probe_minute (minute_ms);

  CREATE TABLE IF NOT EXISTS probe_visit_agg (
    mall TEXT NOT NULL, store TEXT NOT NULL, minute_ms INTEGER NOT NULL,
    visits INTEGER NOT NULL, visitors INTEGER NOT NULL, passers_by INTEGER NOT NULL, dwell_s_sum INTEGER NOT NULL,
    b0 INTEGER NOT NULL, b1 INTEGER NOT NULL, b2 INTEGER NOT NULL, b3 INTEGER NOT NULL, b4 INTEGER NOT NULL,
    unclustered INTEGER NOT NULL,
    PRIMARY KEY (mall, store, minute_ms)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS probe_visit_agg_ts ON probe_visit_agg (minute_ms);

  CREATE TABLE IF NOT EXISTS probe_day (
    mall TEXT NOT NULL, store TEXT NOT NULL, day TEXT NOT NULL,
    day_start_ms INTEGER NOT NULL, day_end_ms INTEGER NOT NULL,
    devices INTEGER NOT NULL, visitors INTEGER NOT NULL, unclustered INTEGER NOT NULL,
    set_expires_ms INTEGER NOT NULL, sealed INTEGER NOT NULL,
    PRIMARY KEY (mall, store, day)
  ) WITHOUT ROWID;
`;

export interface IdentRow {
  identity: string;
  day: string;
  day_start_ms: number;
  kind: number;
  visitor_day: number;
  fph: string | null;
}

export interface VisitRow {
  vkey: number;
  vid: number;
  first_ms: number;
  last_ms: number;
  max_rssi: number;
  visitor: number;
  estimated: number;
  randomized: number;
  connected: number;
  closed: number;
  point_ms: number | null;
  expires_ms: number | null;
  seen_base: number;
  seen: Buffer;
  conn_base: number | null;
  conn: Buffer | null;
  tail_sn: number | null;
  tail_ms: number | null;
}

export interface MinuteCounts {
  devices: number;
  visitors: number;
  passers_by: number;
  connected: number;
  unclustered: number;
}

export interface VisitAggCounts {
  visits: number;
  visitors: number;
  passers_by: number;
  dwell_s_sum: number;
  b0: number;
  b1: number;
  b2: number;
  b3: number;
  b4: number;
  unclustered: number;
}

export interface DayCounts {
  devices: number;
  visitors: number;
  unclustered: number;
  day_start_ms: number;
}

/** first_ms … tail_ms: the columns every visit write sets (probe_visit_hot). */
export type VisitHotColumns = [number, number, number, number, number, number, number, Uint8Array, number | null, Uint8Array | null, number | null, number | null];
/** closed, point_ms, close_after_ms, expires_ms, fph (probe_visit). */
export type VisitColdColumns = [number, number | null, number, number | null, string | null];
type VisitKey = [string, string, string, number];

export interface DueVisit {
  vkey: number;
  mall: string;
  store: string;
  identity: string;
}

/** Creates the tables (idempotent) and prepares every statement once. */
export function openProbeState(db: Database.Database) {
  // Before the schema: it would put the trigger of the new layout on an old-layout probe_visit.
  migrateSplitVisits(db);
  db.exec(schema);
  const visitColumns =
    'v.vkey, v.vid, h.first_ms, h.last_ms, h.max_rssi, h.visitor, h.estimated, v.randomized, h.connected, v.closed, v.point_ms, v.expires_ms, h.seen_base, h.seen, h.conn_base, h.conn, h.tail_sn, h.tail_ms';
  return {
    msgFloor: db.prepare<[string, string, number], { lo: number; hi: number }>(
      'SELECT lo, hi FROM probe_msg WHERE device = ? AND boot = ? AND lo <= ? ORDER BY lo DESC LIMIT 1',
    ),
    msgAt: db.prepare<[string, string, number], { lo: number; hi: number }>('SELECT lo, hi FROM probe_msg WHERE device = ? AND boot = ? AND lo = ?'),
    msgSetHi: db.prepare<[number, number, string, string, number]>('UPDATE probe_msg SET hi = ?, updated_ms = ? WHERE device = ? AND boot = ? AND lo = ?'),
    msgDelete: db.prepare<[string, string, number]>('DELETE FROM probe_msg WHERE device = ? AND boot = ? AND lo = ?'),
    msgInsert: db.prepare<[string, string, number, number, number]>('INSERT INTO probe_msg (device, boot, lo, hi, updated_ms) VALUES (?, ?, ?, ?, ?)'),

    identGet: db.prepare<[string, string, string], IdentRow>(
      'SELECT identity, day, day_start_ms, kind, visitor_day, fph FROM probe_ident WHERE mall = ? AND store = ? AND identity = ?',
    ),
    identUpsert: db.prepare<[string, string, string, string, number, number, number, string | null]>(
      `INSERT INTO probe_ident (mall, store, identity, day, day_start_ms, kind, visitor_day, fph)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (mall, store, identity) DO UPDATE SET kind = excluded.kind, visitor_day = excluded.visitor_day, fph = excluded.fph`,
    ),
    clusterCandidates: db.prepare<[string, string, string, number], string>(
      `SELECT DISTINCT v.identity FROM probe_visit v JOIN probe_visit_hot h ON h.vid = v.vid
       WHERE v.mall = ? AND v.store = ? AND v.fph = ? AND h.tail_ms >= ?`,
    ).pluck(),
    aliasGet: db.prepare<[string, string, string], string>('SELECT identity FROM probe_alias WHERE mall = ? AND store = ? AND mac = ?').pluck(),
    aliasInsert: db.prepare<[string, string, string, string, string]>(
      'INSERT OR IGNORE INTO probe_alias (mall, store, mac, identity, day) VALUES (?, ?, ?, ?, ?)',
    ),

    visitsOf: db.prepare<[string, string, string], VisitRow>(
      `SELECT ${visitColumns} FROM probe_visit v JOIN probe_visit_hot h ON h.vid = v.vid
       WHERE v.mall = ? AND v.store = ? AND v.identity = ? ORDER BY h.first_ms`,
    ),
    visitInsert: db.prepare<[...VisitKey, number, string, number, ...VisitColdColumns]>(
      `INSERT INTO probe_visit (mall, store, identity, vkey, vid, day, randomized, closed, point_ms, close_after_ms, expires_ms, fph)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    visitHotInsert: db.prepare<[number, ...VisitHotColumns]>(
      `INSERT INTO probe_visit_hot (vid, first_ms, last_ms, max_rssi, visitor, estimated, connected, seen_base, seen, conn_base, conn, tail_sn, tail_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    /** The per-sighting update. */
    visitUpdateHot: db.prepare<[...VisitHotColumns, number]>(
      `UPDATE probe_visit_hot SET first_ms = ?, last_ms = ?, max_rssi = ?, visitor = ?, estimated = ?, connected = ?,
         seen_base = ?, seen = ?, conn_base = ?, conn = ?, tail_sn = ?, tail_ms = ?
       WHERE vid = ?`,
    ),
    /** Closing, reopening, rescheduling, a new fingerprint: the indexed columns. */
    visitUpdateCold: db.prepare<[...VisitColdColumns, ...VisitKey]>(
      `UPDATE probe_visit SET closed = ?, point_ms = ?, close_after_ms = ?, expires_ms = ?, fph = ?
       WHERE mall = ? AND store = ? AND identity = ? AND vkey = ?`,
    ),
    storeId: db.prepare<[string, string], number>('SELECT sid FROM probe_store WHERE mall = ? AND store = ?').pluck(),
    storeIdInsert: db.prepare<[string, string], number>('INSERT INTO probe_store (mall, store) VALUES (?, ?) RETURNING sid').pluck(),
    lastVid: db.prepare<[number, number], number | null>('SELECT max(vid) FROM probe_visit_hot WHERE vid >= ? AND vid < ?').pluck(),
    dueVisits: db.prepare<[number, number], DueVisit>(
      'SELECT vkey, mall, store, identity FROM probe_visit WHERE closed = 0 AND close_after_ms < ? ORDER BY close_after_ms LIMIT ?',
    ),

    minuteAdd: db.prepare<[string, string, number, number, number, number, number, number], MinuteCounts>(
      `INSERT INTO probe_minute (mall, store, minute_ms, devices, visitors, passers_by, connected, unclustered)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (mall, store, minute_ms) DO UPDATE SET devices = devices + excluded.devices,
         visitors = visitors + excluded.visitors, passers_by = passers_by + excluded.passers_by,
         connected = connected + excluded.connected, unclustered = unclustered + excluded.unclustered
       RETURNING devices, visitors, passers_by, connected, unclustered`,
    ),
    visitAggAdd: db.prepare<[string, string, number, number, number, number, number, number, number, number, number, number, number], VisitAggCounts>(
      `INSERT INTO probe_visit_agg (mall, store, minute_ms, visits, visitors, passers_by, dwell_s_sum, b0, b1, b2, b3, b4, unclustered)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (mall, store, minute_ms) DO UPDATE SET visits = visits + excluded.visits,
         visitors = visitors + excluded.visitors, passers_by = passers_by + excluded.passers_by,
         dwell_s_sum = dwell_s_sum + excluded.dwell_s_sum, b0 = b0 + excluded.b0, b1 = b1 + excluded.b1,
         b2 = b2 + excluded.b2, b3 = b3 + excluded.b3, b4 = b4 + excluded.b4, unclustered = unclustered + excluded.unclustered
       RETURNING visits, visitors, passers_by, dwell_s_sum, b0, b1, b2, b3, b4, unclustered`,
    ),
    dayAdd: db.prepare<[string, string, string, number, number, number, number, number, number], DayCounts>(
      `INSERT INTO probe_day (mall, store, day, day_start_ms, day_end_ms, devices, visitors, unclustered, set_expires_ms, sealed)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
       ON CONFLICT (mall, store, day) DO UPDATE SET devices = devices + excluded.devices,
         visitors = visitors + excluded.visitors, unclustered = unclustered + excluded.unclustered,
         set_expires_ms = max(set_expires_ms, excluded.set_expires_ms), sealed = 0
       RETURNING devices, visitors, unclustered, day_start_ms`,
    ),

    daySealed: db.prepare<[string, string, string], number>('SELECT sealed FROM probe_day WHERE mall = ? AND store = ? AND day = ?').pluck(),
    purgeClosedVisits: db.prepare<[number]>('DELETE FROM probe_visit WHERE closed = 1 AND expires_ms < ?'),
    expiredDays: db.prepare<[number], { mall: string; store: string; day: string }>(
      'SELECT mall, store, day FROM probe_day WHERE sealed = 0 AND set_expires_ms < ?',
    ),
    sealIdents: db.prepare<[string, string, string]>('DELETE FROM probe_ident WHERE mall = ? AND store = ? AND day = ?'),
    sealAliases: db.prepare<[string, string, string]>('DELETE FROM probe_alias WHERE mall = ? AND store = ? AND day = ?'),
    sealVisits: db.prepare<[string, string, string]>('DELETE FROM probe_visit WHERE mall = ? AND store = ? AND day = ?'),
    sealDay: db.prepare<[string, string, string]>('UPDATE probe_day SET sealed = 1 WHERE mall = ? AND store = ? AND day = ?'),
    purgeMinutes: db.prepare<[number]>('DELETE FROM probe_minute WHERE minute_ms < ?'),
    purgeVisitAggs: db.prepare<[number]>('DELETE FROM probe_visit_agg WHERE minute_ms < ?'),
    purgeDays: db.prepare<[number]>('DELETE FROM probe_day WHERE day_end_ms < ?'),
    purgeMsgs: db.prepare<[number]>('DELETE FROM probe_msg WHERE updated_ms < ?'),
  };
}

export type ProbeStatements = ReturnType<typeof openProbeState>;

/**
 * Records (device, boot, seq) as processed; false when it already was. Ranges merge, so a device that loses
 * nothing keeps one row per boot.
 */
export function markMessage(s: ProbeStatements, device: string, boot: string, seq: number, nowMs: number): boolean {
  const floor = s.msgFloor.get(device, boot, seq);
  if (floor !== undefined && floor.hi >= seq) return false;
  const next = s.msgAt.get(device, boot, seq + 1);
  if (floor !== undefined && floor.hi === seq - 1) {
    if (next !== undefined) s.msgDelete.run(device, boot, next.lo);
    s.msgSetHi.run(next?.hi ?? seq, nowMs, device, boot, floor.lo);
  } else if (next !== undefined) {
    s.msgDelete.run(device, boot, next.lo);
    s.msgInsert.run(device, boot, seq, next.hi, nowMs);
  } else {
    s.msgInsert.run(device, boot, seq, seq, nowMs);
  }
  return true;
}

/** Visit ids of one store: sid * 2^32 + sequence (2^32 visits per store; sid below 2^21 keeps ids exact). */
export const vidsPerStore = 2 ** 32;

/**
 * Moves a database written before probe_visit_hot existed (visit rows with every column) to the split layout,
 * keeping every visit, in one transaction.
 */
function migrateSplitVisits(db: Database.Database): void {
  const columns = db.prepare<[], { name: string }>("SELECT name FROM pragma_table_info('probe_visit')").all().map((c) => c.name);
  if (!columns.includes('first_ms')) return;
  db.transaction(() => {
    db.exec(splitTables);
    db.exec(`
      INSERT OR IGNORE INTO probe_store (mall, store) SELECT DISTINCT mall, store FROM probe_visit ORDER BY mall, store;
      CREATE TEMP TABLE probe_visit_ids AS
        SELECT v.mall, v.store, v.identity, v.vkey,
               s.sid * ${vidsPerStore} + row_number() OVER (PARTITION BY v.mall, v.store ORDER BY v.first_ms, v.identity, v.vkey) AS vid
        FROM probe_visit v JOIN probe_store s ON s.mall = v.mall AND s.store = v.store;
      INSERT INTO probe_visit_hot (vid, first_ms, last_ms, max_rssi, visitor, estimated, connected, seen_base, seen, conn_base, conn, tail_sn, tail_ms)
        SELECT i.vid, v.first_ms, v.last_ms, v.max_rssi, v.visitor, v.estimated, v.connected, v.seen_base, v.seen, v.conn_base, v.conn, v.tail_sn, v.tail_ms
        FROM probe_visit v JOIN probe_visit_ids i ON i.mall = v.mall AND i.store = v.store AND i.identity = v.identity AND i.vkey = v.vkey;
      CREATE TABLE probe_visit_split (
        mall TEXT NOT NULL, store TEXT NOT NULL, identity TEXT NOT NULL, vkey INTEGER NOT NULL, vid INTEGER NOT NULL,
        day TEXT NOT NULL, randomized INTEGER NOT NULL,
        closed INTEGER NOT NULL, point_ms INTEGER, close_after_ms INTEGER NOT NULL, expires_ms INTEGER, fph TEXT,
        PRIMARY KEY (mall, store, identity, vkey)
      ) WITHOUT ROWID;
      INSERT INTO probe_visit_split
        SELECT v.mall, v.store, v.identity, v.vkey, i.vid, v.day, v.randomized, v.closed, v.point_ms, v.close_after_ms, v.expires_ms, v.fph
        FROM probe_visit v JOIN probe_visit_ids i ON i.mall = v.mall AND i.store = v.store AND i.identity = v.identity AND i.vkey = v.vkey;
      DROP TABLE probe_visit_ids;
      DROP TABLE probe_visit;
      ALTER TABLE probe_visit_split RENAME TO probe_visit;
    `);
    db.exec(schema);
  })();
}
