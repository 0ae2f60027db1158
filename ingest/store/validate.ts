import { StoreError, type FieldValue, type Point, type SeriesQuery, type SeriesRow } from './types.ts';

/**
 * Checks shared by both adapters, so a point or query that one store refuses the other refuses too.
 * Errors are not retryable (the same input fails the same way again) and name the offending thing, never a
 * value that could be personal data (points carry no raw MAC by contract; names and tag values are ours).
 */

// Line protocol cannot carry control characters in names or tag values, and InfluxDB 1.x unescapes only
// `\,` `\=` `\ ` there, so a backslash before one of those (or at the end) cannot be written faithfully.
const forbiddenInName = /[\u0000-\u001f\u007f\\]/;

export type FieldType = 'integer' | 'float' | 'boolean' | 'string';

export function fieldTypeOf(value: FieldValue): FieldType {
  if (typeof value === 'object') return 'integer';
  if (typeof value === 'number') return 'float';
  if (typeof value === 'boolean') return 'boolean';
  return 'string';
}

function checkName(kind: string, name: string, where: string): void {
  if (name === '') throw new StoreError(`${where}: empty ${kind}`, false);
  if (forbiddenInName.test(name)) {
    throw new StoreError(`${where}: ${kind} ${JSON.stringify(name)} contains a backslash or control character`, false);
  }
}

/** Tags with an empty value are dropped: InfluxDB cannot store them and treats a missing tag as ''. */
export function presentTags(tags: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(tags)
    .filter(([, value]) => value !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Throws a StoreError naming the point (by index) and the problem. */
export function validatePoint(point: Point, index: number): void {
  const where = `point ${index} (${JSON.stringify(point.measurement)})`;
  checkName('measurement', point.measurement, where);
  if (point.measurement.startsWith('#')) throw new StoreError(`${where}: measurement must not start with '#'`, false);
  if (!Number.isSafeInteger(point.tsMs)) throw new StoreError(`${where}: tsMs must be a safe integer, got ${point.tsMs}`, false);
  const ns = point.tsNsOffset;
  if (ns !== undefined && (!Number.isInteger(ns) || ns < 0 || ns > 999_999)) {
    throw new StoreError(`${where}: tsNsOffset must be an integer in 0..999999, got ${ns}`, false);
  }
  for (const [key, value] of Object.entries(point.tags)) {
    checkName('tag key', key, where);
    if (key === 'time') throw new StoreError(`${where}: "time" cannot be a tag key`, false);
    if (forbiddenInName.test(value)) {
      throw new StoreError(`${where}: value of tag ${JSON.stringify(key)} contains a backslash or control character`, false);
    }
  }
  const fields = Object.entries(point.fields);
  if (fields.length === 0) throw new StoreError(`${where}: a point needs at least one field`, false);
  for (const [key, value] of fields) {
    checkName('field key', key, where);
    if (key === 'time') throw new StoreError(`${where}: "time" cannot be a field key`, false);
    if (key in point.tags) throw new StoreError(`${where}: ${JSON.stringify(key)} is both a tag and a field`, false);
    if (typeof value === 'object') {
      if (!Number.isSafeInteger(value.int)) {
        throw new StoreError(`${where}: integer field ${JSON.stringify(key)} must be a safe integer, got ${value.int}`, false);
      }
    } else if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new StoreError(`${where}: field ${JSON.stringify(key)} must be a finite number, got ${value}`, false);
    }
  }
}

export function validatePoints(points: readonly Point[]): void {
  points.forEach(validatePoint);
}

/** Throws a StoreError when the query cannot be answered the same way by both adapters. */
export function validateQuery(query: SeriesQuery): void {
  const where = `query on ${JSON.stringify(query.measurement)}`;
  if (query.measurement === '') throw new StoreError(`${where}: empty measurement`, false);
  if (query.fields.length === 0) throw new StoreError(`${where}: no fields requested`, false);
  if (new Set(query.fields).size !== query.fields.length) throw new StoreError(`${where}: a field is requested twice`, false);
  for (const field of query.fields) if (field === '') throw new StoreError(`${where}: empty field name`, false);
  if (!Number.isSafeInteger(query.fromMs) || !Number.isSafeInteger(query.toMs)) {
    throw new StoreError(`${where}: fromMs and toMs must be safe integers`, false);
  }
  if (query.everyMs !== undefined && (!Number.isSafeInteger(query.everyMs) || query.everyMs <= 0)) {
    throw new StoreError(`${where}: everyMs must be a positive integer, got ${query.everyMs}`, false);
  }
  if (query.everyMs !== undefined && query.aggregate === 'none') {
    throw new StoreError(`${where}: aggregate 'none' returns raw points and takes no everyMs`, false);
  }
  for (const key of [...Object.keys(query.where ?? {}), ...(query.groupBy ?? [])]) {
    if (key === '' || key === 'time') throw new StoreError(`${where}: invalid tag key ${JSON.stringify(key)}`, false);
  }
}

/** The start of the epoch-aligned bucket holding tsMs (floor, also for times before 1970). */
export function bucketStart(tsMs: number, everyMs: number): number {
  return tsMs - (((tsMs % everyMs) + everyMs) % everyMs);
}

/** The one row order both adapters return: by group tag values (in groupBy order), then by time. */
export function sortRows(rows: SeriesRow[], groupBy: readonly string[]): SeriesRow[] {
  return rows.sort((a, b) => {
    for (const key of groupBy) {
      const x = a.tags[key] ?? '';
      const y = b.tags[key] ?? '';
      if (x !== y) return x < y ? -1 : 1;
    }
    return a.tsMs - b.tsMs;
  });
}
