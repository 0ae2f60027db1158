/**
 * The time-series store contract. Two adapters implement it: InfluxDB over the HTTP API v1 and an embedded
 * SQLite store. One contract test suite (test/ingest/store/contract.test.ts) runs against both.
 */

/** A field value. Integers are tagged so InfluxDB stores them as integers (`5i`), not floats. */
export type FieldValue = { int: number } | number | boolean | string;

export interface Point {
  measurement: string;
  /** Low-cardinality tags only (mall, store, method, …): never a device hash or member id. */
  tags: Readonly<Record<string, string>>;
  fields: Readonly<Record<string, FieldValue>>;
  /** Timestamp in epoch ms. */
  tsMs: number;
  /**
   * Sub-millisecond part in ns (0–999 999). Lets per-visit points that start in the same ms stay distinct
   * while replays of the same point still land on the same series + timestamp (idempotent overwrite).
   */
  tsNsOffset?: number;
}

export type Aggregate = 'sum' | 'max' | 'min' | 'mean' | 'last' | 'count' | 'none';

/** A structured query both adapters translate: InfluxQL for InfluxDB, SQL for SQLite. */
export interface SeriesQuery {
  measurement: string;
  fields: readonly string[];
  aggregate: Aggregate;
  /** Tag filters: a value or a list of accepted values. */
  where?: Readonly<Record<string, string | readonly string[]>>;
  /** Half-open time range [fromMs, toMs). */
  fromMs: number;
  toMs: number;
  /** Bucket width in ms, aligned to the epoch as InfluxDB's GROUP BY time() does. Absent: one bucket. */
  everyMs?: number;
  /** Tags to group by; each row carries their values. */
  groupBy?: readonly string[];
}

export interface SeriesRow {
  /** Bucket start (aggregates) or point time (aggregate 'none'), epoch ms. */
  tsMs: number;
  tags: Record<string, string>;
  /** null where a bucket has no value for the field. */
  values: Record<string, number | null>;
}

/** Thrown by adapters. retryable: network errors, timeouts and 5xx; not retryable: 4xx, schema conflicts. */
export class StoreError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** Points the store dropped (InfluxDB partial write), when known. */
    readonly droppedPoints?: number,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface TimeSeriesStore {
  readonly kind: 'influx' | 'sqlite';
  /** Prepares the store (creates the database / tables, retention policy). Idempotent. */
  open(): Promise<void>;
  /** Writes points; the same measurement + tags + timestamp overwrites the fields given (idempotent). */
  write(points: readonly Point[]): Promise<void>;
  query(query: SeriesQuery): Promise<SeriesRow[]>;
  /** Resolves when the store answers; rejects with StoreError otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
