import type Database from 'better-sqlite3';

/**
 * Tables of the embedded time-series store (`<dataDir>/timeseries.sqlite`).
 * - series: one row per measurement + tag set (tags as a JSON array of [key, value] sorted by key, empty
 *   values dropped), like an InfluxDB series key.
 * - fields: one row per measurement + field name with its type; a write of another type is a conflict, as
 *   in InfluxDB (which checks per shard; here per measurement, which is stricter).
 * - points: one row per series, field and timestamp (ms + sub-ms ns). The primary key is the upsert key and
 *   the query index: a range scan per (series, field) over time. STRICT + ANY keeps integers INTEGER and
 *   floats REAL, so sum() of an integer field stays an integer.
 */
export const schemaVersion = 1;

export function migrateTimeseries(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS series (
      id INTEGER PRIMARY KEY,
      measurement TEXT NOT NULL,
      tags TEXT NOT NULL,
      UNIQUE (measurement, tags)
    ) STRICT;
    CREATE TABLE IF NOT EXISTS fields (
      id INTEGER PRIMARY KEY,
      measurement TEXT NOT NULL,
      name TEXT NOT NULL,
      type TEXT NOT NULL CHECK (type IN ('integer', 'float', 'boolean', 'string')),
      UNIQUE (measurement, name)
    ) STRICT;
    CREATE TABLE IF NOT EXISTS points (
      series_id INTEGER NOT NULL REFERENCES series (id),
      field_id INTEGER NOT NULL REFERENCES fields (id),
      ts_ms INTEGER NOT NULL,
      ts_ns INTEGER NOT NULL,
      value ANY NOT NULL,
      PRIMARY KEY (series_id, field_id, ts_ms, ts_ns)
    ) STRICT, WITHOUT ROWID;
  `);
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > schemaVersion) {
    throw new Error(`timeseries.sqlite has schema version ${version}, newer than this code (${schemaVersion})`);
  }
  if (version < schemaVersion) db.pragma(`user_version = ${schemaVersion}`);
}
