import type { FieldValue, Point } from './types.ts';
import { presentTags, validatePoints } from './validate.ts';

/**
 * InfluxDB line protocol (1.x reference, "Line protocol syntax"):
 *   measurement[,tag=value...] field=value[,field=value...] timestamp
 * Measurement: escape ',' and ' '. Tag keys, tag values, field keys: escape ',', '=' and ' '.
 * String field values: double-quoted, escape '"' and '\'. Integers end in 'i'. Tags sorted by key (the
 * order InfluxDB stores them in, so it need not sort). Names and tag values holding a backslash or a control
 * character are refused by validatePoint: 1.x cannot represent every such string.
 */

export type Precision = 'ms' | 'ns';

export interface EncodedBatch {
  body: string;
  precision: Precision;
}

const measurementSpecial = /[, ]/g;
const keySpecial = /[,= ]/g;
const stringSpecial = /["\\]/g;

export function escapeMeasurement(name: string): string {
  return name.replace(measurementSpecial, '\\$&');
}

/** For tag keys, tag values and field keys. */
export function escapeKey(text: string): string {
  return text.replace(keySpecial, '\\$&');
}

export function encodeFieldValue(value: FieldValue): string {
  if (typeof value === 'object') return `${value.int}i`;
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return `"${value.replace(stringSpecial, '\\$&')}"`;
}

const nsPerMs = 1_000_000n;

function timestamp(point: Point, precision: Precision): string {
  if (precision === 'ms') return String(point.tsMs);
  // BigInt: epoch ns exceed 2^53, so float arithmetic would corrupt the last digits.
  return (BigInt(point.tsMs) * nsPerMs + BigInt(point.tsNsOffset ?? 0)).toString();
}

/** One line, without the trailing newline. The point must have passed validatePoint. */
export function encodeLine(point: Point, precision: Precision): string {
  let line = escapeMeasurement(point.measurement);
  for (const [key, value] of presentTags(point.tags)) line += `,${escapeKey(key)}=${escapeKey(value)}`;
  let first = true;
  for (const [key, value] of Object.entries(point.fields)) {
    line += `${first ? ' ' : ','}${escapeKey(key)}=${encodeFieldValue(value)}`;
    first = false;
  }
  return `${line} ${timestamp(point, precision)}`;
}

/** The coarsest precision that keeps every point exact: ms unless some point has a sub-ms offset. */
export function precisionFor(points: readonly Point[]): Precision {
  return points.some((point) => point.tsNsOffset !== undefined && point.tsNsOffset !== 0) ? 'ns' : 'ms';
}

/** Validates every point (throwing a non-retryable StoreError on the first bad one) and encodes the batch. */
export function encodeBatch(points: readonly Point[]): EncodedBatch {
  validatePoints(points);
  const precision = precisionFor(points);
  return { body: points.map((point) => encodeLine(point, precision)).join('\n'), precision };
}
