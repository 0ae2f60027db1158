import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Logger } from '../../core/logger.ts';
import { buildSelect, quoteIdent } from './influxql.ts';
import { encodeBatch } from './line-protocol.ts';
import { StoreError, type Point, type SeriesQuery, type SeriesRow, type TimeSeriesStore } from './types.ts';
import { sortRows, validateQuery } from './validate.ts';

const gzip = promisify(gzipCallback);

/** Tunables of the InfluxDB adapter, with units. */
export const influxDefaults = {
  /** Whole request, including reading the answer: 10 s. */
  timeoutMs: 10_000,
  /** Write bodies larger than this are sent gzip-compressed: 64 KiB (about 1,000 points). */
  gzipAboveBytes: 64 * 1024,
} as const;

export interface InfluxStoreOptions {
  /** Base URL, e.g. http://influx:8086 (a path prefix behind a proxy is kept). */
  url: string;
  db: string;
  /** Retention policy to write to and read from; absent: the database's default policy. */
  rp?: string;
  /** InfluxQL duration (`400d`, `52w`, `INF`): open() creates `rp` with it when the policy is missing. */
  rpDuration?: string;
  /** `Authorization: Token …` (InfluxDB 2.x/3.x v1 compatibility). Wins over username/password. */
  token?: string;
  /** InfluxDB 1.x user, sent as HTTP basic auth (kept out of URLs, so out of proxy and error logs). */
  username?: string;
  password?: string;
  timeoutMs?: number;
  gzipAboveBytes?: number;
}

interface InfluxSeries {
  tags?: Record<string, string>;
  columns?: string[];
  values?: unknown[][];
  partial?: boolean;
}

interface QueryBody {
  results?: { error?: string; series?: InfluxSeries[] }[];
  error?: string;
}

interface Answer {
  status: number;
  text: string;
}

const durationPattern = /^(INF|[1-9][0-9]*(h|d|w))$/;

/** The time-series store over InfluxDB's HTTP API v1 (`/write`, `/query`, `/ping`): 1.x, 2.x and 3.x accept it. */
export class InfluxStore implements TimeSeriesStore {
  readonly kind = 'influx';
  private endpoint: { base: URL; authorization: string | undefined } | undefined;

  constructor(
    private readonly options: InfluxStoreOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * CREATE DATABASE, then the retention policy when rp and rpDuration are set. Both statements are idempotent
   * in 1.x. InfluxDB 2.x/3.x refuse them (databases are buckets made by their own tools), as does a 1.x user
   * without admin rights: then open() logs a warning and carries on; writes will tell if the database is missing.
   * A policy that exists with other settings is left as it is (an operator's choice is not overwritten).
   */
  async open(): Promise<void> {
    const { db, rp, rpDuration } = this.options;
    if (rpDuration !== undefined && !durationPattern.test(rpDuration)) {
      throw new StoreError(`InfluxDB retention policy duration ${JSON.stringify(rpDuration)} is not like 400d, 52w, 720h or INF`, false);
    }
    await this.define(`CREATE DATABASE ${quoteIdent(db)}`, `create database ${JSON.stringify(db)}`);
    if (rp !== undefined && rpDuration !== undefined) {
      await this.define(
        `CREATE RETENTION POLICY ${quoteIdent(rp)} ON ${quoteIdent(db)} DURATION ${rpDuration} REPLICATION 1`,
        `create retention policy ${JSON.stringify(rp)}`,
      );
    }
  }

  async write(points: readonly Point[]): Promise<void> {
    if (points.length === 0) return;
    const { body, precision } = encodeBatch(points);
    const params: Record<string, string> = { db: this.options.db, precision };
    if (this.options.rp !== undefined) params.rp = this.options.rp;
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    let payload: string | Buffer = body;
    if (Buffer.byteLength(body) > (this.options.gzipAboveBytes ?? influxDefaults.gzipAboveBytes)) {
      payload = await gzip(body);
      headers['content-encoding'] = 'gzip';
    }
    const answer = await this.send('POST', 'write', params, headers, payload, `write of ${points.length} points`);
    if (answer.status >= 200 && answer.status < 300) return;
    const message = errorText(answer.text);
    const dropped = /partial write:.*dropped=(\d+)/s.exec(message);
    if (dropped !== null) {
      // 1.x wrote the other points of the batch; the dropped ones would fail the same way again.
      throw new StoreError(`InfluxDB ${message}`, false, Number(dropped[1]));
    }
    throw httpError(`write of ${points.length} points`, answer.status, message);
  }

  /** Buckets without data are omitted (fill(none)); rows are sorted by group tags, then time. */
  async query(query: SeriesQuery): Promise<SeriesRow[]> {
    validateQuery(query);
    if (query.fromMs >= query.toMs) return [];
    for (const accepted of Object.values(query.where ?? {})) if (typeof accepted !== 'string' && accepted.length === 0) return [];
    const q = buildSelect(query, this.options.rp);
    const answer = await this.send('GET', 'query', { db: this.options.db, q, epoch: 'ms' }, {}, undefined, `query on ${JSON.stringify(query.measurement)}`);
    const body = this.parseQueryAnswer(answer, `query on ${JSON.stringify(query.measurement)}`);
    const rows: SeriesRow[] = [];
    for (const series of body.results?.[0]?.series ?? []) {
      if (series.partial === true) {
        throw new StoreError(`InfluxDB truncated the answer to the query on ${JSON.stringify(query.measurement)} (max-row-limit); narrow the range`, false);
      }
      const columns = series.columns ?? [];
      const tags: Record<string, string> = {};
      for (const key of query.groupBy ?? []) tags[key] = series.tags?.[key] ?? '';
      for (const record of series.values ?? []) {
        const values: Record<string, number | null> = {};
        for (const field of query.fields) values[field] = numeric(record[columns.indexOf(field)]);
        rows.push({ tsMs: Number(record[0]), tags: { ...tags }, values });
      }
    }
    return sortRows(rows, query.groupBy ?? []);
  }

  async ping(): Promise<void> {
    const answer = await this.send('GET', 'ping', {}, {}, undefined, 'ping');
    if (answer.status < 200 || answer.status >= 300) throw httpError('ping', answer.status, errorText(answer.text));
  }

  async close(): Promise<void> {
    // Nothing to release: requests use fetch's shared connection pool and each has its own timeout.
  }

  private async define(statement: string, what: string): Promise<void> {
    const form = new URLSearchParams({ q: statement }).toString();
    const answer = await this.send('POST', 'query', {}, { 'content-type': 'application/x-www-form-urlencoded' }, form, what);
    // Wrong credentials would fail every write too: say so now instead of warning.
    if (answer.status === 401) throw httpError(what, answer.status, errorText(answer.text));
    try {
      this.parseQueryAnswer(answer, what);
    } catch (error) {
      if (!(error instanceof StoreError) || error.retryable) throw error;
      this.logger.warn({ db: this.options.db, reason: error.message }, `InfluxDB refused to ${what}; continuing with what exists`);
    }
  }

  private parseQueryAnswer(answer: Answer, what: string): QueryBody {
    if (answer.status < 200 || answer.status >= 300) throw httpError(what, answer.status, errorText(answer.text));
    let body: QueryBody;
    try {
      body = JSON.parse(answer.text) as QueryBody;
    } catch {
      throw new StoreError(`InfluxDB ${what}: answer is not JSON: ${answer.text.slice(0, 200)}`, false);
    }
    const error = body.error ?? body.results?.find((result) => result.error !== undefined)?.error;
    if (error !== undefined) throw new StoreError(`InfluxDB ${what} failed: ${error.slice(0, 500)}`, false);
    return body;
  }

  private target(): { base: URL; authorization: string | undefined } {
    if (this.endpoint !== undefined) return this.endpoint;
    let base: URL;
    try {
      base = new URL(this.options.url);
    } catch {
      throw new StoreError('InfluxDB url is not a valid URL', false);
    }
    const { token } = this.options;
    let username = this.options.username;
    let password = this.options.password;
    // fetch refuses URLs with credentials; credentials in the URL become basic auth unless given separately.
    if (base.username !== '' || base.password !== '') {
      username ??= decodeURIComponent(base.username);
      password ??= decodeURIComponent(base.password);
      base.username = '';
      base.password = '';
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    base.search = '';
    base.hash = '';
    let authorization: string | undefined;
    if (token !== undefined) authorization = `Token ${token}`;
    else if (username !== undefined) authorization = `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
    this.endpoint = { base, authorization };
    return this.endpoint;
  }

  private async send(
    method: 'GET' | 'POST',
    path: 'write' | 'query' | 'ping',
    params: Record<string, string>,
    headers: Record<string, string>,
    body: string | Buffer | undefined,
    what: string,
  ): Promise<Answer> {
    const { base, authorization } = this.target();
    const url = new URL(path, base);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    const allHeaders = authorization === undefined ? headers : { ...headers, authorization };
    const timeoutMs = this.options.timeoutMs ?? influxDefaults.timeoutMs;
    try {
      const response = await fetch(url, { method, headers: allHeaders, body, signal: AbortSignal.timeout(timeoutMs) });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      throw new StoreError(`InfluxDB ${what} at ${base.host}: ${describeFailure(error, timeoutMs)}`, true);
    }
  }
}

/** 5xx, 408 and 429 are worth retrying (2.x/3.x answer 429 when rate limited); other 4xx are not. */
function httpError(what: string, status: number, message: string): StoreError {
  const retryable = status >= 500 || status === 408 || status === 429;
  return new StoreError(`InfluxDB ${what} failed with HTTP ${status}: ${message}`, retryable);
}

/** The server's own words: `{"error": …}` (1.x), `{"message": …}` (2.x/3.x), or the raw text. */
function errorText(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (typeof body.error === 'string') return body.error.slice(0, 500);
    if (typeof body.message === 'string') return body.message.slice(0, 500);
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim().slice(0, 500) || '(no message)';
}

function describeFailure(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}

function numeric(value: unknown): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return null;
}
