import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './ports.ts';
import { findBinary, ServiceProcess } from './processes.ts';
import { tempDir } from './tmp.ts';

export interface InfluxAuth {
  username: string;
  password: string;
}

export interface StartInfluxdOptions {
  /** Turn on HTTP auth and create an admin user (returned as `admin`). */
  auth?: boolean;
  /** How long to wait for /ping to answer 204, in ms. */
  startTimeoutMs?: number;
}

export interface InfluxHandle {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** The temp dir holding the config, meta, data and wal dirs. */
  readonly dataDir: string;
  /** The current influxd process id (changes on restart). */
  readonly pid: number | undefined;
  /** The admin user, when started with `{ auth: true }`. */
  readonly admin: InfluxAuth | undefined;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait: a crash, for outage tests. */
  kill(): Promise<void>;
  /** Starts again on the same port and data dir (stops first if still running). */
  restart(): Promise<void>;
}

const defaultStartTimeoutMs = 30_000;

function influxConfig(dir: string, httpPort: number, rpcPort: number, auth: boolean): string {
  // Only what differs from the defaults; the monitor store and query logs are off to keep two CI cores free.
  return `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"

[meta]
  dir = ${JSON.stringify(path.join(dir, 'meta'))}
  logging-enabled = false

[data]
  dir = ${JSON.stringify(path.join(dir, 'data'))}
  wal-dir = ${JSON.stringify(path.join(dir, 'wal'))}
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = ${auth}
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
`;
}

/** Starts a real influxd (1.x) on free loopback ports in a fresh temp dir; resolves once /ping answers 204. */
export async function startInfluxd(options: StartInfluxdOptions = {}): Promise<InfluxHandle> {
  const binary = findBinary('influxd');
  const dir = tempDir('plaza-influxd');
  for (const sub of ['meta', 'data', 'wal']) mkdirSync(path.join(dir, sub));
  const [port, rpcPort] = [await freePort(), await freePort()];
  const configPath = path.join(dir, 'influxdb.conf');
  writeFileSync(configPath, influxConfig(dir, port, rpcPort, options.auth === true));
  const url = `http://127.0.0.1:${port}`;
  const service = new ServiceProcess(`influxd (port ${port})`, binary, ['run', '-config', configPath], dir);
  const timeoutMs = options.startTimeoutMs ?? defaultStartTimeoutMs;

  const boot = async (): Promise<void> => {
    service.start();
    try {
      await waitForPing(url, service, timeoutMs);
    } catch (error) {
      await service.kill();
      throw error;
    }
  };

  await boot();
  let admin: InfluxAuth | undefined;
  if (options.auth === true) {
    admin = { username: 'admin', password: randomBytes(12).toString('hex') };
    // With auth on and no users yet, influxd accepts exactly this statement without credentials.
    await query(url, '', `CREATE USER "${admin.username}" WITH PASSWORD '${admin.password}' WITH ALL PRIVILEGES`);
  }
  return {
    url,
    port,
    dataDir: dir,
    get pid() {
      return service.pid;
    },
    admin,
    stop: () => service.stop(),
    kill: () => service.kill(),
    restart: async () => {
      await service.stop();
      await boot();
    },
  };
}

async function waitForPing(url: string, service: ServiceProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (service.exitReason !== null) throw service.failure(`${service.exitReason} before answering /ping`);
    try {
      const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1000) });
      if (response.status === 204) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw service.failure(`GET ${url}/ping did not answer 204 within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}

export interface InfluxStatementResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
}

export interface InfluxRequestOptions {
  auth?: InfluxAuth;
  /** Timestamps as numbers in this unit instead of RFC 3339 strings. */
  epoch?: 'ns' | 'u' | 'ms' | 's';
}

function headersFor(auth: InfluxAuth | undefined, contentType: string): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (auth !== undefined) headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  return headers;
}

/** Runs InfluxQL (POST /query, so DDL works too); throws on an HTTP error or any statement error. */
export async function query(url: string, db: string, q: string, options: InfluxRequestOptions = {}): Promise<InfluxStatementResult[]> {
  const form = new URLSearchParams({ q });
  if (db !== '') form.set('db', db);
  if (options.epoch !== undefined) form.set('epoch', options.epoch);
  const response = await fetch(`${url}/query`, { method: 'POST', headers: headersFor(options.auth, 'application/x-www-form-urlencoded'), body: form });
  const text = await response.text();
  if (!response.ok) throw new Error(`influx query failed with HTTP ${response.status}: ${text.slice(0, 500)} (query: ${q.slice(0, 200)})`);
  const body = JSON.parse(text) as { results?: InfluxStatementResult[]; error?: string };
  if (body.error !== undefined) throw new Error(`influx query failed: ${body.error} (query: ${q.slice(0, 200)})`);
  const results = body.results ?? [];
  const failed = results.find((result) => result.error !== undefined);
  if (failed !== undefined) throw new Error(`influx statement ${failed.statement_id} failed: ${failed.error ?? ''} (query: ${q.slice(0, 200)})`);
  return results;
}

/** The rows of the first statement's series as objects (columns plus series tags). */
export async function queryRows(url: string, db: string, q: string, options: InfluxRequestOptions = {}): Promise<Record<string, unknown>[]> {
  const [first] = await query(url, db, q, options);
  const rows: Record<string, unknown>[] = [];
  for (const series of first?.series ?? []) {
    for (const values of series.values ?? []) {
      const row: Record<string, unknown> = { ...series.tags };
      series.columns.forEach((column, index) => {
        row[column] = values[index];
      });
      rows.push(row);
    }
  }
  return rows;
}

/** Writes line protocol (POST /write); throws unless influxd answers 204. */
export async function writeLines(
  url: string,
  db: string,
  lines: string | readonly string[],
  options: { auth?: InfluxAuth; precision?: 'ns' | 'u' | 'ms' | 's' } = {},
): Promise<void> {
  const params = new URLSearchParams({ db, precision: options.precision ?? 'ms' });
  const body = typeof lines === 'string' ? lines : lines.join('\n');
  const response = await fetch(`${url}/write?${params.toString()}`, { method: 'POST', headers: headersFor(options.auth, 'text/plain; charset=utf-8'), body });
  if (response.status !== 204) throw new Error(`influx write failed with HTTP ${response.status}: ${(await response.text()).slice(0, 500)}`);
}
