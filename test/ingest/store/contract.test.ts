import Database from 'better-sqlite3';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.ts';
import { InfluxStore } from '../../../ingest/store/influx.ts';
import { SqliteStore, timeseriesFileName } from '../../../ingest/store/sqlite.ts';
import { StoreError, type FieldValue, type Point, type SeriesQuery, type TimeSeriesStore } from '../../../ingest/store/types.ts';
import { queryRows, startInfluxd, type InfluxHandle } from '../../support/influxd.ts';
import { tempDir } from '../../support/tmp.ts';

/**
 * One suite, both adapters: what the ingest pipeline and the API rely on must hold for InfluxDB (a real
 * influxd) and for the embedded SQLite store alike.
 */

const logger = createLogger('silent');
const minuteMs = 60_000;
/** 2023-11-14T22:00:00Z: a minute boundary, so bucket starts are easy to read. */
const t0 = 1_700_000_400_000;

interface Harness {
  store: TimeSeriesStore;
  /** The type the adapter stored a field as: 'integer' | 'float' | … (adapter-specific introspection). */
  fieldType(measurement: string, field: string): Promise<string | undefined>;
}

let influx: InfluxHandle | undefined;
let dbCounter = 0;

afterAll(async () => {
  await influx?.stop();
});

const adapters: { name: string; setup: () => Promise<Harness> }[] = [
  {
    name: 'sqlite',
    setup: async () => {
      const dir = tempDir('plaza-store-contract');
      const store = new SqliteStore({ dataDir: dir }, logger);
      await store.open();
      return {
        store,
        fieldType: async (measurement, field) => {
          const db = new Database(path.join(dir, timeseriesFileName), { readonly: true });
          try {
            const row = db
              .prepare<[string, string], { t: string }>(
                'SELECT DISTINCT typeof(p.value) AS t FROM points p JOIN fields f ON f.id = p.field_id WHERE f.measurement = ? AND f.name = ?',
              )
              .get(measurement, field);
            return row?.t === 'real' ? 'float' : row?.t;
          } finally {
            db.close();
          }
        },
      };
    },
  },
  {
    name: 'influx',
    setup: async () => {
      influx ??= await startInfluxd();
      const url = influx.url;
      const db = `contract${++dbCounter}`;
      const store = new InfluxStore({ url, db }, logger);
      await store.open();
      return {
        store,
        fieldType: async (measurement, field) => {
          const rows = await queryRows(url, db, `SHOW FIELD KEYS FROM "${measurement}"`);
          return rows.find((row) => row.fieldKey === field)?.fieldType as string | undefined;
        },
      };
    },
  },
];

function footfall(store: string, tsMs: number, fields: Record<string, FieldValue>, extra: Partial<Point> = {}): Point {
  return { measurement: 'footfall', tags: { mall: 'm1', store }, fields, tsMs, ...extra };
}

const int = (n: number): FieldValue => ({ int: n });

describe.each(adapters)('time-series store contract: $name', ({ setup }) => {
  let harness: Harness;
  let store: TimeSeriesStore;

  beforeEach(async () => {
    harness = await setup();
    store = harness.store;
  });
  afterEach(async () => {
    await store.close();
  });

  const sumQuery = (overrides: Partial<SeriesQuery> = {}): SeriesQuery => ({
    measurement: 'footfall',
    fields: ['entries', 'exits'],
    aggregate: 'sum',
    fromMs: t0,
    toMs: t0 + 10 * minuteMs,
    everyMs: minuteMs,
    groupBy: ['store'],
    ...overrides,
  });

  it('answers ping and opens idempotently', async () => {
    await store.ping();
    await store.open();
    await store.ping();
  });

  it('sums per minute bucket and store, omitting empty buckets', async () => {
    await store.write([
      footfall('a', t0 + 1_000, { entries: int(2), exits: int(1) }),
      footfall('a', t0 + 59_999, { entries: int(3), exits: int(0) }),
      footfall('a', t0 + 2 * minuteMs, { entries: int(4), exits: int(5) }),
      footfall('b', t0 + 30_000, { entries: int(7), exits: int(6) }),
    ]);
    expect(await store.query(sumQuery())).toEqual([
      { tsMs: t0, tags: { store: 'a' }, values: { entries: 5, exits: 1 } },
      { tsMs: t0 + 2 * minuteMs, tags: { store: 'a' }, values: { entries: 4, exits: 5 } },
      { tsMs: t0, tags: { store: 'b' }, values: { entries: 7, exits: 6 } },
    ]);
    // Without groupBy the stores add up; without everyMs the whole range is one bucket starting at fromMs.
    expect(await store.query(sumQuery({ groupBy: undefined }))).toEqual([
      { tsMs: t0, tags: {}, values: { entries: 12, exits: 7 } },
      { tsMs: t0 + 2 * minuteMs, tags: {}, values: { entries: 4, exits: 5 } },
    ]);
    expect(await store.query(sumQuery({ everyMs: undefined, fromMs: t0 + 500 }))).toEqual([
      { tsMs: t0 + 500, tags: { store: 'a' }, values: { entries: 9, exits: 6 } },
      { tsMs: t0 + 500, tags: { store: 'b' }, values: { entries: 7, exits: 6 } },
    ]);
  });

  it('overwrites the same series and timestamp, so replaying a batch changes nothing', async () => {
    const batch = [footfall('a', t0, { entries: int(2), exits: int(1) }), footfall('a', t0 + 1_000, { entries: int(3), exits: int(1) })];
    await store.write(batch);
    await store.write(batch);
    expect(await store.query(sumQuery())).toEqual([{ tsMs: t0, tags: { store: 'a' }, values: { entries: 5, exits: 2 } }]);
    await store.write([footfall('a', t0, { entries: int(10), exits: int(1) })]);
    expect(await store.query(sumQuery())).toEqual([{ tsMs: t0, tags: { store: 'a' }, values: { entries: 13, exits: 2 } }]);
  });

  it('merges fields: a write overwrites the fields it gives and keeps the others', async () => {
    await store.write([footfall('a', t0, { entries: int(2), exits: int(1) })]);
    await store.write([footfall('a', t0, { entries: int(9) })]);
    await store.write([footfall('a', t0 + 1_000, { exits: int(4) })]);
    expect(await store.query(sumQuery({ aggregate: 'none', everyMs: undefined }))).toEqual([
      { tsMs: t0, tags: { store: 'a' }, values: { entries: 9, exits: 1 } },
      { tsMs: t0 + 1_000, tags: { store: 'a' }, values: { entries: null, exits: 4 } },
    ]);
  });

  it('keeps integers integers and floats floats, and refuses the other type on a known field', async () => {
    await store.write([
      { measurement: 'visits', tags: { store: 'a' }, fields: { count: int(3), dwellS: 1.5 }, tsMs: t0 },
      { measurement: 'visits', tags: { store: 'a' }, fields: { count: int(4), dwellS: 2.25 }, tsMs: t0 + 1 },
    ]);
    expect(await harness.fieldType('visits', 'count')).toBe('integer');
    expect(await harness.fieldType('visits', 'dwellS')).toBe('float');
    const rows = await store.query({ measurement: 'visits', fields: ['count', 'dwellS'], aggregate: 'sum', fromMs: t0, toMs: t0 + minuteMs });
    expect(rows).toEqual([{ tsMs: t0, tags: {}, values: { count: 7, dwellS: 3.75 } }]);
    const mean = await store.query({ measurement: 'visits', fields: ['count'], aggregate: 'mean', fromMs: t0, toMs: t0 + minuteMs });
    expect(mean[0]?.values.count).toBe(3.5);

    // A float into the integer field: that point is dropped, the others in the batch are written.
    const error = await store
      .write([
        { measurement: 'visits', tags: { store: 'a' }, fields: { count: 1.5 }, tsMs: t0 + 2 },
        { measurement: 'visits', tags: { store: 'b' }, fields: { count: int(5) }, tsMs: t0 + 2 },
      ])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ retryable: false, droppedPoints: 1 });
    expect((error as Error).message).toMatch(/field type conflict.*"count".*integer/);
    const after = await store.query({ measurement: 'visits', fields: ['count'], aggregate: 'sum', fromMs: t0, toMs: t0 + minuteMs, groupBy: ['store'] });
    expect(after).toEqual([
      { tsMs: t0, tags: { store: 'a' }, values: { count: 7 } },
      { tsMs: t0, tags: { store: 'b' }, values: { count: 5 } },
    ]);
  });

  it('filters on tag values and lists of values', async () => {
    await store.write([
      footfall('a', t0, { entries: int(1), exits: int(0) }),
      footfall('b', t0, { entries: int(10), exits: int(0) }),
      footfall('c', t0, { entries: int(100), exits: int(0) }),
      { measurement: 'footfall', tags: { mall: 'm2', store: 'a' }, fields: { entries: int(1000), exits: int(0) }, tsMs: t0 },
    ]);
    const total = async (where: SeriesQuery['where']): Promise<number | null | undefined> =>
      (await store.query(sumQuery({ where, groupBy: undefined, everyMs: undefined })))[0]?.values.entries;
    expect(await total(undefined)).toBe(1111);
    expect(await total({ mall: 'm1' })).toBe(111);
    expect(await total({ mall: 'm1', store: ['a', 'b'] })).toBe(11);
    expect(await total({ store: ['a'] })).toBe(1001);
    expect(await total({ store: ['a', 'zzz'], mall: ['m2', 'm1'] })).toBe(1001);
    expect(await total({ store: 'nope' })).toBeUndefined();
    expect(await total({ store: [] })).toBeUndefined();
  });

  it('treats the range as half-open [fromMs, toMs) and labels buckets by their epoch-aligned start', async () => {
    await store.write([
      footfall('a', t0 - 1, { entries: int(1) }),
      footfall('a', t0, { entries: int(2) }),
      footfall('a', t0 + 30_000, { entries: int(4) }),
      footfall('a', t0 + minuteMs - 1, { entries: int(8) }),
      footfall('a', t0 + minuteMs, { entries: int(16) }),
    ]);
    const q = sumQuery({ fields: ['entries'], fromMs: t0, toMs: t0 + minuteMs });
    expect(await store.query(q)).toEqual([{ tsMs: t0, tags: { store: 'a' }, values: { entries: 14 } }]);
    // A range starting mid-minute: the first bucket is still labelled with the minute's start.
    expect(await store.query({ ...q, fromMs: t0 + 30_000, toMs: t0 + 2 * minuteMs })).toEqual([
      { tsMs: t0, tags: { store: 'a' }, values: { entries: 12 } },
      { tsMs: t0 + minuteMs, tags: { store: 'a' }, values: { entries: 16 } },
    ]);
    expect(await store.query({ ...q, fromMs: t0 + minuteMs, toMs: t0 + minuteMs })).toEqual([]);
  });

  it('answers last, max, min, mean and count per bucket', async () => {
    await store.write([
      footfall('a', t0 + 5_000, { entries: int(7), exits: int(3) }),
      footfall('a', t0 + 40_000, { entries: int(2) }),
      footfall('a', t0 + 20_000, { entries: int(9), exits: int(1) }),
      footfall('a', t0 + minuteMs, { entries: int(4) }),
    ]);
    const run = async (aggregate: SeriesQuery['aggregate']) => (await store.query(sumQuery({ aggregate }))).map((row) => [row.tsMs, row.values]);
    expect(await run('last')).toEqual([
      [t0, { entries: 2, exits: 1 }],
      [t0 + minuteMs, { entries: 4, exits: null }],
    ]);
    expect(await run('max')).toEqual([
      [t0, { entries: 9, exits: 3 }],
      [t0 + minuteMs, { entries: 4, exits: null }],
    ]);
    expect(await run('min')).toEqual([
      [t0, { entries: 2, exits: 1 }],
      [t0 + minuteMs, { entries: 4, exits: null }],
    ]);
    expect(await run('mean')).toEqual([
      [t0, { entries: 6, exits: 2 }],
      [t0 + minuteMs, { entries: 4, exits: null }],
    ]);
    expect(await run('count')).toEqual([
      [t0, { entries: 3, exits: 2 }],
      [t0 + minuteMs, { entries: 1, exits: null }],
    ]);
  });

  it('keeps points with the same ms but different ns offsets distinct, and replays of them idempotent', async () => {
    const visit = (offset: number | undefined, dwellS: number): Point => ({
      measurement: 'visit',
      tags: { mall: 'm1', store: 'a' },
      fields: { dwellS: int(dwellS) },
      tsMs: t0 + 123,
      ...(offset === undefined ? {} : { tsNsOffset: offset }),
    });
    const batch = [visit(undefined, 60), visit(1, 120), visit(999_999, 180)];
    await store.write(batch);
    await store.write(batch);
    // Offset 0 is the same timestamp as no offset: it overwrites the first point.
    await store.write([visit(0, 61)]);
    const q: SeriesQuery = { measurement: 'visit', fields: ['dwellS'], aggregate: 'count', fromMs: t0, toMs: t0 + minuteMs };
    expect((await store.query(q))[0]?.values).toEqual({ dwellS: 3 });
    expect((await store.query({ ...q, aggregate: 'sum' }))[0]?.values).toEqual({ dwellS: 361 });
    const raw = await store.query({ ...q, aggregate: 'none' });
    expect(raw.map((row) => row.tsMs)).toEqual([t0 + 123, t0 + 123, t0 + 123]);
    expect(raw.map((row) => row.values.dwellS)).toEqual([61, 120, 180]);
  });

  it('round-trips tag values with spaces, commas, =, quotes and Chinese text', async () => {
    const names = ['a b', 'a,b', 'a=b', 'say "hi"', "it's", '中文 店铺', ' lead,=trail ', '"\'"'];
    await store.write(names.map((name, i) => footfall(name, t0, { entries: int(i + 1), exits: int(0) })));
    const rows = await store.query(sumQuery({ fields: ['entries'] }));
    expect(rows.map((row) => row.tags.store).sort()).toEqual([...names].sort());
    for (const [i, name] of names.entries()) {
      const only = await store.query(sumQuery({ fields: ['entries'], where: { store: name } }));
      expect(only).toEqual([{ tsMs: t0, tags: { store: name }, values: { entries: i + 1 } }]);
    }
  });

  it('cannot be made to run other InfluxQL through hostile tag values or keys', async () => {
    await store.write([footfall('a', t0, { entries: int(1), exits: int(0) }), footfall('b', t0, { entries: int(2), exits: int(0) })]);
    const hostile = [
      "x' OR 'a'='a",
      `x' OR "store" =~ /.*/ OR 'y`,
      "x\\' OR 1=1 --",
      "a'\nOR time > 0",
      "'; DROP DATABASE contract; --",
      "') GROUP BY * --",
    ];
    for (const value of hostile) {
      expect(await store.query(sumQuery({ where: { store: value } }))).toEqual([]);
      expect(await store.query(sumQuery({ where: { store: ['zzz', value] } }))).toEqual([]);
    }
    expect(await store.query(sumQuery({ where: { 'store" = \'a\' OR "mall': 'm1' } }))).toEqual([]);
    // The data is all still there.
    expect((await store.query(sumQuery({ groupBy: undefined })))[0]?.values.entries).toBe(3);
  });

  it('treats an empty tag value as an absent tag', async () => {
    await store.write([
      { measurement: 'footfall', tags: { mall: 'm1', store: '' }, fields: { entries: int(5) }, tsMs: t0 },
      footfall('a', t0, { entries: int(1) }),
    ]);
    expect(await store.query(sumQuery({ fields: ['entries'] }))).toEqual([
      { tsMs: t0, tags: { store: '' }, values: { entries: 5 } },
      { tsMs: t0, tags: { store: 'a' }, values: { entries: 1 } },
    ]);
  });

  it('refuses a batch with an invalid point before writing any of it', async () => {
    for (const bad of [
      footfall('a', t0, { entries: Number.NaN }),
      footfall('a', t0, { entries: Number.POSITIVE_INFINITY }),
      footfall('a', t0, { entries: int(1.5) }),
      footfall('a', t0, {}),
      footfall('a\\', t0, { entries: int(1) }),
      footfall('a', t0 + 0.5, { entries: int(1) }),
    ]) {
      const error = await store.write([footfall('b', t0, { entries: int(1) }), bad]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ retryable: false });
      expect((error as Error).message).toMatch(/^point 1 \("footfall"\)/);
    }
    expect(await store.query(sumQuery())).toEqual([]);
  });
});
