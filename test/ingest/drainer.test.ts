import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { Drainer } from '../../ingest/drainer.ts';
import { createIngestMetrics } from '../../ingest/metrics.ts';
import { coalesce, Outbox } from '../../ingest/outbox.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import { type Point, StoreError, type TimeSeriesStore } from '../../ingest/store/types.ts';
import { tempDir } from '../support/tmp.ts';

const t0 = Date.parse('2026-11-27T02:00:00Z');
const point = (store: string, minute: number, entries: number): Point => ({
  measurement: 'footfall',
  tags: { mall: 'm1', store },
  fields: { entries: { int: entries } },
  tsMs: t0 + minute * 60_000,
});

/** A real SQLite store whose availability the test switches, as an outage would. */
class SwitchableStore implements TimeSeriesStore {
  readonly kind = 'sqlite' as const;
  failure: StoreError | undefined;
  writes = 0;
  constructor(readonly inner: SqliteStore) {}
  open = () => this.inner.open();
  close = () => this.inner.close();
  ping = () => this.inner.ping();
  query: TimeSeriesStore['query'] = (q) => this.inner.query(q);
  async write(points: readonly Point[]): Promise<void> {
    this.writes += 1;
    if (this.failure) throw this.failure;
    await this.inner.write(points);
  }
}

describe('outbox and drainer', () => {
  let db: Database.Database;
  let outbox: Outbox;
  let store: SwitchableStore;
  let drainer: Drainer;

  beforeEach(async () => {
    const dir = tempDir('drainer');
    db = new Database(path.join(dir, 'ingest.sqlite'));
    outbox = new Outbox(db);
    store = new SwitchableStore(new SqliteStore({ dataDir: dir }, createLogger('silent')));
    await store.open();
    const metrics = createIngestMetrics(createMetricsRegistry(false));
    drainer = new Drainer(outbox, store, { batchSize: 3, flushIntervalMs: 10, baseBackoffMs: 5, maxBackoffMs: 20 }, metrics, createLogger('silent'));
  });
  afterEach(async () => {
    await drainer.stop({ drain: false, timeoutMs: 0 });
    await store.close();
    db.close();
  });

  const sumEntries = async (): Promise<number> => {
    const rows = await store.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', fromMs: t0, toMs: t0 + 3_600_000 });
    return rows[0]?.values.entries ?? 0;
  };

  it('coalesces points on the same series and time, later fields winning', () => {
    const merged = coalesce([point('a', 0, 1), point('b', 0, 5), point('a', 0, 3)]);
    expect(merged).toHaveLength(2);
    expect(merged[0]?.fields.entries).toEqual({ int: 3 });
  });

  it('keeps points in the outbox while the store is down and replays them in order', async () => {
    store.failure = new StoreError('connect ECONNREFUSED', true);
    outbox.append([point('a', 0, 1)]);
    outbox.append([point('a', 0, 4), point('a', 1, 2)]);
    await expect(drainer.flush()).rejects.toThrow(/store unavailable/);
    expect(outbox.depthPoints).toBe(3);
    expect(drainer.state.state).toBe('spooling');
    store.failure = undefined;
    await drainer.flush();
    expect(outbox.depthPoints).toBe(0);
    expect(drainer.state.state).toBe('ok');
    expect(await sumEntries()).toBe(6); // minute 0 = 4 (the later full value), minute 1 = 2
  });

  it('survives a restart: a new outbox on the same file still holds the spooled points', async () => {
    store.failure = new StoreError('timeout', true);
    outbox.append([point('a', 0, 7)]);
    const reopened = new Outbox(db);
    expect(reopened.recount()).toEqual({ rows: 1, points: 1 });
  });

  it('moves a batch the store refuses for good aside and keeps going', async () => {
    outbox.append([point('a', 0, 1)]);
    store.failure = new StoreError('field type conflict', false);
    await drainer.flush();
    store.failure = undefined;
    outbox.append([point('a', 1, 2)]);
    await drainer.flush();
    expect(await sumEntries()).toBe(2);
    const rejected = db.prepare('SELECT error FROM outbox_rejected').all() as { error: string }[];
    expect(rejected).toEqual([{ error: 'field type conflict' }]);
  });

  it('writes in batches of the configured size', async () => {
    for (let i = 0; i < 7; i += 1) outbox.append([point('a', i, 1)]);
    await drainer.flush();
    expect(store.writes).toBe(3); // 3 + 3 + 1
    expect(await sumEntries()).toBe(7);
  });

  it('drains on its own once started, backing off while the store fails', async () => {
    store.failure = new StoreError('503 Service Unavailable', true);
    drainer.start();
    outbox.append([point('a', 0, 5)]);
    drainer.notify();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(store.writes).toBeGreaterThan(1);
    expect(outbox.depthPoints).toBe(1);
    store.failure = undefined;
    for (let i = 0; i < 100 && outbox.depthPoints > 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(outbox.depthPoints).toBe(0);
    expect(await sumEntries()).toBe(5);
  });
});

describe('concurrent flushes', () => {
  it('never let an older full value overwrite a newer one', async () => {
    const dir = tempDir('drainer-order');
    const db = new Database(path.join(dir, 'ingest.sqlite'));
    const outbox = new Outbox(db);
    const inner = new SqliteStore({ dataDir: dir }, createLogger('silent'));
    await inner.open();
    // A store whose first write is slow, as a write racing a restart of InfluxDB can be.
    let writes = 0;
    const slowFirst: TimeSeriesStore = {
      kind: 'sqlite',
      open: () => inner.open(),
      close: () => inner.close(),
      ping: () => inner.ping(),
      query: (q) => inner.query(q),
      write: async (points) => {
        writes += 1;
        if (writes === 1) await new Promise((resolve) => setTimeout(resolve, 100));
        await inner.write(points);
      },
    };
    const drainer = new Drainer(outbox, slowFirst, { batchSize: 100, flushIntervalMs: 10, baseBackoffMs: 5, maxBackoffMs: 20 }, createIngestMetrics(createMetricsRegistry(false)), createLogger('silent'));
    outbox.append([point('a', 0, 1)]);
    const first = drainer.flush();
    outbox.append([point('a', 0, 9)]); // the same minute, a newer full value
    const second = drainer.flush();
    await Promise.all([first, second]);
    const rows = await inner.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', fromMs: t0, toMs: t0 + 60_000 });
    expect(rows[0]?.values.entries).toBe(9);
    await inner.close();
    db.close();
  });
});
