import type Database from 'better-sqlite3';
import type { SeriesQuery, SeriesRow } from './types.ts';
import { sortRows } from './validate.ts';

/**
 * SeriesQuery → SQL over the embedded store, with InfluxDB's semantics: half-open range, epoch-aligned
 * buckets (one bucket starting at fromMs without everyMs), buckets without data omitted, last = the value
 * with the latest timestamp in the bucket. Only numbers come back: booleans as 1/0, strings as null.
 */

interface SeriesRecord {
  id: number;
  tags: string;
}

interface FieldRecord {
  id: number;
  name: string;
  type: string;
}

interface Group {
  tags: Record<string, string>;
}

const aggregateSql = {
  sum: 'SUM(p.value)',
  max: 'MAX(p.value)',
  min: 'MIN(p.value)',
  mean: 'AVG(p.value)',
  count: 'COUNT(p.value)',
  // SQLite documents that bare columns in a query with a single max() come from the row holding the max.
  last: 'MAX(p.ts_ms * 1000000 + p.ts_ns) AS latest, p.value',
} as const;

function matches(tags: Record<string, string>, where: SeriesQuery['where']): boolean {
  for (const [key, accepted] of Object.entries(where ?? {})) {
    const value = tags[key] ?? '';
    if (typeof accepted === 'string' ? value !== accepted : !accepted.includes(value)) return false;
  }
  return true;
}

/** Runs a validated query with a non-empty range. */
export function runQuery(db: Database.Database, query: SeriesQuery): SeriesRow[] {
  const groupBy = query.groupBy ?? [];
  const groups: Group[] = [];
  const groupIds = new Map<string, number>();
  const seriesToGroup: [number, number][] = [];
  const series = db.prepare<[string], SeriesRecord>('SELECT id, tags FROM series WHERE measurement = ?').all(query.measurement);
  for (const record of series) {
    const tags = Object.fromEntries(JSON.parse(record.tags) as [string, string][]);
    if (!matches(tags, query.where)) continue;
    const groupTags: Record<string, string> = {};
    for (const key of groupBy) groupTags[key] = tags[key] ?? '';
    const key = JSON.stringify(groupBy.map((k) => groupTags[k]));
    let gid = groupIds.get(key);
    if (gid === undefined) {
      gid = groups.length;
      groups.push({ tags: groupTags });
      groupIds.set(key, gid);
    }
    seriesToGroup.push([record.id, gid]);
  }
  const placeholders = query.fields.map(() => '?').join(', ');
  const fields = db
    .prepare<unknown[], FieldRecord>(`SELECT id, name, type FROM fields WHERE measurement = ? AND name IN (${placeholders})`)
    .all(query.measurement, ...query.fields);
  if (seriesToGroup.length === 0 || fields.length === 0) return [];
  const fieldById = new Map(fields.map((field) => [field.id, field]));
  const fieldIds = fields.map((field) => field.id).join(', ');
  const from = `
    FROM points p
    JOIN (SELECT json_extract(value, '$[0]') AS series_id, json_extract(value, '$[1]') AS gid FROM json_each(?)) g
      ON g.series_id = p.series_id
    WHERE p.field_id IN (${fieldIds}) AND p.ts_ms >= ? AND p.ts_ms < ?`;
  const params = [JSON.stringify(seriesToGroup), query.fromMs, query.toMs];

  const rows: SeriesRow[] = [];
  const emptyValues = (): Record<string, number | null> => Object.fromEntries(query.fields.map((field) => [field, null]));
  const numeric = (fieldId: number, value: unknown): number | null =>
    typeof value === 'number' && fieldById.get(fieldId)?.type !== 'string' ? value : null;

  if (query.aggregate === 'none') {
    type Raw = { gid: number; series_id: number; ts_ms: number; ts_ns: number; field_id: number; value: unknown };
    const raw = db.prepare<unknown[], Raw>(`SELECT g.gid, p.series_id, p.ts_ms, p.ts_ns, p.field_id, p.value ${from} ORDER BY p.ts_ms, p.ts_ns, p.series_id`).all(...params);
    const byPoint = new Map<string, SeriesRow>();
    for (const r of raw) {
      const key = `${r.series_id}:${r.ts_ms}:${r.ts_ns}`;
      let row = byPoint.get(key);
      if (row === undefined) {
        row = { tsMs: r.ts_ms, tags: { ...groups[r.gid]?.tags }, values: emptyValues() };
        byPoint.set(key, row);
        rows.push(row);
      }
      const name = fieldById.get(r.field_id)?.name;
      if (name !== undefined) row.values[name] = numeric(r.field_id, r.value);
    }
    // Like InfluxDB, a raw row whose requested fields are all strings (so null here) is still a point.
    return sortRows(rows, groupBy);
  }

  const bucket = query.everyMs === undefined ? '?' : 'p.ts_ms - (((p.ts_ms % ?) + ?) % ?)';
  const bucketParams = query.everyMs === undefined ? [query.fromMs] : [query.everyMs, query.everyMs, query.everyMs];
  type Agg = { gid: number; bucket: number; field_id: number; value: unknown };
  const sql = `SELECT g.gid AS gid, ${bucket} AS bucket, p.field_id AS field_id, ${aggregateSql[query.aggregate]} ${
    query.aggregate === 'last' ? '' : 'AS value'
  } ${from} GROUP BY g.gid, bucket, p.field_id`;
  const aggregated = db.prepare<unknown[], Agg>(sql).all(...bucketParams, ...params);
  const byBucket = new Map<string, SeriesRow>();
  for (const r of aggregated) {
    const key = `${r.gid}:${r.bucket}`;
    let row = byBucket.get(key);
    if (row === undefined) {
      row = { tsMs: r.bucket, tags: { ...groups[r.gid]?.tags }, values: emptyValues() };
      byBucket.set(key, row);
      rows.push(row);
    }
    const name = fieldById.get(r.field_id)?.name;
    if (name !== undefined) row.values[name] = query.aggregate === 'count' ? Number(r.value) : numeric(r.field_id, r.value);
  }
  return sortRows(rows, groupBy);
}
