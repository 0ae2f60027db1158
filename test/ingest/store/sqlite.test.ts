import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../core/config.ts';
import { createLogger } from '../../../core/logger.ts';
import { createStore } from '../../../ingest/store/index.ts';
import { InfluxStore } from '../../../ingest/store/influx.ts';
import { SqliteStore, sqliteDefaults, timeseriesFileName } from '../../../ingest/store/sqlite.ts';
import { StoreError, type Point } from '../../../ingest/store/types.ts';
import { tempDir } from '../../support/tmp.ts';

/** SQLite-only behaviour: the file, WAL, persistence, retention; and createStore's choice of adapter. */

const logger = createLogger('silent');
const dayMs = 24 * 60 * 60 * 1000;
const t0 = 1_700_000_400_000;

function point(entries: number, tsMs: number): Point {
  return { measurement: 'footfall', tags: { mall: 'm1', store: 'a' }, fields: { entries: { int: entries } }, tsMs };
}

const stores: SqliteStore[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

function open(options: Partial<ConstructorParameters<typeof SqliteStore>[0]> = {}): SqliteStore {
  const store = new SqliteStore({ dataDir: path.join(tempDir('plaza-sqlite-store'), 'nested'), ...options }, logger);
  stores.push(store);
  return store;
}

async function total(store: SqliteStore, fromMs: number, toMs: number): Promise<number | null | undefined> {
  return (await store.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', fromMs, toMs }))[0]?.values.entries;
}

describe('SqliteStore', () => {
  it('creates <dataDir>/timeseries.sqlite in WAL mode and keeps data across reopen', async () => {
    const store = open({ now: () => t0 });
    await store.open();
    await store.write([point(4, t0), point(5, t0 + 1)]);
    await store.close();
    expect(existsSync(store.file)).toBe(true);
    expect(path.basename(store.file)).toBe(timeseriesFileName);
    const db = new Database(store.file, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    await store.open();
    await store.open();
    expect(await total(store, t0, t0 + 60_000)).toBe(9);
  });

  it('prunes points past retention: on open, on prune(nowMs), and every pruneIntervalMs', async () => {
    vi.useFakeTimers();
    let nowMs = t0 + 10 * dayMs;
    const store = open({ retentionDays: 6, pruneIntervalMs: 60_000, now: () => nowMs });
    await store.open();
    await store.write([point(1, t0), point(2, t0 + 5 * dayMs), point(4, t0 + 8 * dayMs)]);
    expect(store.prune(nowMs)).toBe(1);
    expect(await total(store, t0 - dayMs, t0 + 11 * dayMs)).toBe(6);
    nowMs = t0 + 11 * dayMs + 1;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(await total(store, t0 - dayMs, t0 + 12 * dayMs)).toBe(4);
    await store.close();

    // Reopening prunes at once.
    nowMs = t0 + 20 * dayMs;
    await store.open();
    expect(await total(store, t0 - dayMs, t0 + 21 * dayMs)).toBeUndefined();
  });

  it('defaults to 400 days of retention', async () => {
    expect(sqliteDefaults.retentionDays).toBe(400);
    const store = open();
    await store.open();
    await store.write([point(1, t0), point(2, t0 + 1)]);
    expect(store.prune(t0 + 400 * dayMs)).toBe(0);
    expect(store.prune(t0 + 400 * dayMs + 1)).toBe(1);
  });

  it('refuses work when not open, with a non-retryable StoreError', async () => {
    const store = open();
    await expect(store.write([point(1, t0)])).rejects.toThrow(/not open/);
    await expect(store.write([point(1, t0)])).rejects.toMatchObject({ name: 'StoreError', retryable: false });
    await expect(store.ping()).rejects.toBeInstanceOf(StoreError);
  });
});

describe('createStore', () => {
  it('picks SQLite under dataDir without an InfluxDB URL, InfluxDB with one', async () => {
    const dataDir = tempDir('plaza-create-store');
    const embedded = createStore(loadConfig({ env: { PLAZA_DATA_DIR: dataDir, PLAZA_RETENTION_DAYS: '30' } }), logger);
    expect(embedded).toBeInstanceOf(SqliteStore);
    await embedded.open();
    await embedded.close();
    expect(existsSync(path.join(dataDir, timeseriesFileName))).toBe(true);

    const influx = createStore(loadConfig({ env: { PLAZA_DATA_DIR: dataDir, PLAZA_INFLUX_URL: 'http://127.0.0.1:1', PLAZA_INFLUX_RP: 'plaza' } }), logger);
    expect(influx).toBeInstanceOf(InfluxStore);
    expect(influx.kind).toBe('influx');
    // The retention policy gets the configured retention (default 400 days).
    expect((influx as unknown as { options: { rp: string; rpDuration: string } }).options).toMatchObject({ rp: 'plaza', rpDuration: '400d' });
  });
});
