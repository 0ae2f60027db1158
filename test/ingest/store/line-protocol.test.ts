import { describe, expect, it } from 'vitest';
import { buildSelect, quoteIdent, quoteString } from '../../../ingest/store/influxql.ts';
import { encodeBatch, encodeFieldValue, encodeLine, escapeKey, escapeMeasurement } from '../../../ingest/store/line-protocol.ts';
import { StoreError, type Point } from '../../../ingest/store/types.ts';

const base: Point = { measurement: 'footfall', tags: { store: 's1', mall: 'm1' }, fields: { entries: { int: 5 } }, tsMs: 1_700_000_000_000 };

function refusal(points: Point[]): string {
  try {
    encodeBatch(points);
  } catch (error) {
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).retryable).toBe(false);
    return (error as Error).message;
  }
  throw new Error('encodeBatch accepted the batch');
}

describe('line protocol', () => {
  it('escapes measurements, tag keys, tag values and field keys as InfluxDB 1.x documents', () => {
    expect(escapeMeasurement('my measure,ment=x')).toBe('my\\ measure\\,ment=x');
    expect(escapeKey('a b,c=d"e')).toBe('a\\ b\\,c\\=d"e');
    expect(escapeKey('中文')).toBe('中文');
    const line = encodeLine(
      { measurement: 'foot fall', tags: { 'st ore': 'a=b, c', mall: 'm' }, fields: { 'en,tries': { int: 1 }, 'x=y': 'q"\\' }, tsMs: 7 },
      'ms',
    );
    expect(line).toBe('foot\\ fall,mall=m,st\\ ore=a\\=b\\,\\ c en\\,tries=1i,x\\=y="q\\"\\\\" 7');
  });

  it('encodes integers with i, floats plainly, booleans and quoted strings', () => {
    expect(encodeFieldValue({ int: 5 })).toBe('5i');
    expect(encodeFieldValue({ int: -9_007_199_254_740_991 })).toBe('-9007199254740991i');
    expect(encodeFieldValue(5)).toBe('5');
    expect(encodeFieldValue(0.1)).toBe('0.1');
    expect(encodeFieldValue(1e21)).toBe('1e+21');
    expect(encodeFieldValue(true)).toBe('true');
    expect(encodeFieldValue(false)).toBe('false');
    expect(encodeFieldValue('a "b" \\ c\nd')).toBe('"a \\"b\\" \\\\ c\nd"');
  });

  it('sorts tags by key and leaves out empty tag values', () => {
    expect(encodeLine({ ...base, tags: { z: '1', a: '2', m: '' } }, 'ms')).toBe('footfall,a=2,z=1 entries=5i 1700000000000');
  });

  it('uses ms precision unless a point has a sub-ms offset, then exact ns via BigInt', () => {
    expect(encodeBatch([base, { ...base, tsNsOffset: 0 }])).toEqual({
      precision: 'ms',
      body: 'footfall,mall=m1,store=s1 entries=5i 1700000000000\nfootfall,mall=m1,store=s1 entries=5i 1700000000000',
    });
    const ns = encodeBatch([{ ...base, tsMs: 1_700_000_000_123, tsNsOffset: 456_789 }, base]);
    expect(ns.precision).toBe('ns');
    // 1700000000123 * 1e6 + 456789 as a float would end in ...456768.
    expect(ns.body).toBe('footfall,mall=m1,store=s1 entries=5i 1700000000123456789\nfootfall,mall=m1,store=s1 entries=5i 1700000000000000000');
  });

  it('refuses NaN, Infinity, unsafe integers and unrepresentable names with a message naming the point and field', () => {
    expect(refusal([base, { ...base, fields: { entries: Number.NaN } }])).toBe('point 1 ("footfall"): field "entries" must be a finite number, got NaN');
    expect(refusal([{ ...base, fields: { exits: Number.NEGATIVE_INFINITY } }])).toContain('field "exits" must be a finite number, got -Infinity');
    expect(refusal([{ ...base, fields: { entries: { int: 2 ** 53 } } }])).toContain('must be a safe integer');
    expect(refusal([{ ...base, fields: { entries: { int: 0.5 } } }])).toContain('must be a safe integer');
    expect(refusal([{ ...base, tags: { store: 'a\\' } }])).toContain('value of tag "store" contains a backslash');
    expect(refusal([{ ...base, tags: { store: 'a\nb' } }])).toContain('control character');
    expect(refusal([{ ...base, measurement: '' }])).toContain('empty measurement');
    expect(refusal([{ ...base, measurement: '#comment' }])).toContain("must not start with '#'");
    expect(refusal([{ ...base, fields: {} }])).toContain('at least one field');
    expect(refusal([{ ...base, fields: { store: 1 } }])).toContain('both a tag and a field');
    expect(refusal([{ ...base, tsNsOffset: 1_000_000 }])).toContain('tsNsOffset');
    expect(refusal([{ ...base, tsMs: 1.5 }])).toContain('tsMs must be a safe integer');
  });
});

describe('InfluxQL', () => {
  it('quotes identifiers and string literals so they cannot be closed early', () => {
    expect(quoteIdent('store')).toBe('"store"');
    expect(quoteIdent('a"b\\c\nd')).toBe('"a\\"b\\\\c\\nd"');
    expect(quoteString("x' OR 'a'='a")).toBe("'x\\' OR \\'a\\'=\\'a'");
    expect(quoteString("x\\' OR 1=1")).toBe("'x\\\\\\' OR 1=1'");
    expect(quoteString('中文 "店"')).toBe("'中文 \"店\"'");
  });

  it('builds grouped aggregates, single-bucket aggregates and raw selects', () => {
    expect(
      buildSelect(
        {
          measurement: 'footfall',
          fields: ['entries', 'exits'],
          aggregate: 'sum',
          where: { mall: 'x', store: ['a', 'b', 'a'] },
          fromMs: 1000,
          toMs: 61000,
          everyMs: 60000,
          groupBy: ['store'],
        },
        undefined,
      ),
    ).toBe(
      `SELECT sum("entries") AS "entries", sum("exits") AS "exits" FROM "footfall" WHERE "mall" = 'x' AND ("store" = 'a' OR "store" = 'b') AND time >= 1000ms AND time < 61000ms GROUP BY time(60000ms), "store" fill(none)`,
    );
    expect(buildSelect({ measurement: 'm', fields: ['v'], aggregate: 'last', fromMs: 90_000, toMs: 150_000 }, 'r p')).toBe(
      'SELECT last("v") AS "v" FROM "r p"."m" WHERE time >= 90000ms AND time < 150000ms GROUP BY time(60000ms, 30000ms) fill(none)',
    );
    expect(buildSelect({ measurement: 'm', fields: ['v', 'w'], aggregate: 'none', fromMs: 0, toMs: 10, groupBy: ['store'] }, undefined)).toBe(
      'SELECT "v", "w" FROM "m" WHERE time >= 0ms AND time < 10ms GROUP BY "store"',
    );
  });
});
