import path from 'node:path';
import type { ServiceCredentials } from '../../broker/registry.ts';
import { startMosquitto } from '../../test/support/mosquitto.ts';
import { freePort, waitForPort } from '../../test/support/ports.ts';
import { Child, waitUntil } from './processes.ts';
import { parseMetrics, type Scrape } from './prometheus.ts';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
const plazaBin = path.join(repoRoot, 'bin/plaza.js');

/** A process whose CPU and memory the bench reports. */
export interface Measured {
  name: string;
  pid: number;
}

export interface BrokerUnderTest {
  url: string;
  process: Measured;
  /** Why the broker process ended, with its last output, or null while it runs. */
  died(): Error | null;
  stop(): Promise<void>;
}

/** Only what a process needs from the environment, so a stray PLAZA_* of the shell cannot change a run. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[key] !== undefined) env[key] = process.env[key];
  return env;
}

/** The embedded aedes broker as its own process (`plaza broker`), on the registry in dataDir. */
export async function startAedes(dataDir: string): Promise<BrokerUnderTest> {
  const port = await freePort();
  const env = { ...baseEnv(), PLAZA_DATA_DIR: dataDir, PLAZA_MQTT_HOST: '127.0.0.1', PLAZA_MQTT_PORT: String(port), PLAZA_LOG_LEVEL: 'warn' };
  const child = Child.spawn('plaza broker', process.execPath, [plazaBin, 'broker'], env, repoRoot);
  await waitForPort(port, { timeoutMs: 30_000, failed: () => (child.exitReason === null ? null : child.failure(child.exitReason)) });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    process: { name: 'broker (aedes)', pid: child.pid },
    died: () => (child.exitReason === null ? null : child.failure(child.exitReason)),
    stop: () => child.stop(),
  };
}

/** A real Mosquitto process with every given user (password file + default ACL of test/support). */
export async function startMosquittoBroker(users: readonly { username: string; password: string }[], maxInflightMessages?: number): Promise<BrokerUnderTest> {
  const extraConfig = maxInflightMessages === undefined ? [] : [`max_inflight_messages ${maxInflightMessages}`];
  const mosquitto = await startMosquitto({ users, startTimeoutMs: 30_000, extraConfig });
  return { url: mosquitto.url, process: { name: 'broker (mosquitto)', get pid() { return mosquitto.pid ?? -1; } }, died: () => mosquitto.died(), stop: () => mosquitto.stop() };
}

/** What the bench reads from a consumer under test (ingest or a peer). */
export interface ConsumerUnderTest {
  process: Measured;
  /** Messages whose effect is durable: committed by ingest, or written to InfluxDB by a peer. */
  durable(): number;
  /** Points accepted by InfluxDB. */
  pointsWritten(): number;
  /** Points waiting between the consumer and InfluxDB (ingest's outbox, a peer's unanswered writes). */
  pendingPoints(): number;
  /** Latest full scrape of ingest's /metrics (undefined for peers). */
  scrape(): Scrape | undefined;
  /** Fetches fresh figures now. */
  refresh(): Promise<void>;
  stop(): Promise<void>;
}

export interface IngestProcessOptions {
  dataDir: string;
  mqttUrl: string;
  service: ServiceCredentials;
  influxUrl: string;
  hashSecret: string;
  /** Directory for `node --cpu-prof` output; no profiling when undefined. */
  profileDir: string | undefined;
}

/** `node bin/plaza.js ingest` in its own process, with its ops server's /metrics on a free loopback port. */
export async function startIngestProcess(options: IngestProcessOptions): Promise<ConsumerUnderTest> {
  const opsPort = await freePort();
  const env = {
    ...baseEnv(),
    PLAZA_DATA_DIR: options.dataDir,
    PLAZA_MQTT_URL: options.mqttUrl,
    PLAZA_MQTT_USERNAME: options.service.username,
    PLAZA_MQTT_PASSWORD: options.service.password,
    PLAZA_HASH_SECRET: options.hashSecret,
    PLAZA_INFLUX_URL: options.influxUrl,
    PLAZA_OPS_HOST: '127.0.0.1',
    PLAZA_OPS_PORT: String(opsPort),
    PLAZA_LOG_LEVEL: 'warn',
  };
  const profile = options.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.profileDir];
  const child = Child.spawn('plaza ingest', process.execPath, [...profile, plazaBin, 'ingest'], env, repoRoot);
  const base = `http://127.0.0.1:${opsPort}`;
  await waitUntil(
    async () => {
      if (child.exitReason !== null) throw child.failure(child.exitReason);
      try {
        return (await fetch(`${base}/health`)).status === 200;
      } catch {
        return false;
      }
    },
    60_000,
    () => child.failure('GET /health did not answer 200 within 60 s').message,
  );
  let latest: Scrape | undefined;
  const value = (name: string): number => latest?.samples.get(name) ?? 0;
  const sumOf = (name: string): number => {
    let sum = 0;
    for (const [key, v] of latest?.samples ?? []) if (key === name || key.startsWith(`${name}{`)) sum += v;
    return sum;
  };
  return {
    process: { name: 'ingest', pid: child.pid },
    durable: () => sumOf('plaza_ingest_messages_received_total'),
    pointsWritten: () => value('plaza_ingest_points_written_total'),
    pendingPoints: () => value('plaza_ingest_spool_points'),
    scrape: () => latest,
    refresh: async () => {
      const response = await fetch(`${base}/metrics`);
      if (!response.ok) throw new Error(`ingest /metrics answered ${response.status}`);
      latest = parseMetrics(await response.text(), performance.now());
    },
    stop: () => child.stop(),
  };
}

export interface PeerOptions {
  mqttUrl: string;
  service: ServiceCredentials;
  influxUrl: string;
  db: string;
  mode: 'per-message' | 'batched';
}

interface PeerStats {
  received: number;
  written: number;
  failed: number;
  pendingPoints: number;
  subscribed: boolean;
  /** Failed writes by HTTP status or socket error code. */
  failuresByCause?: Record<string, number>;
}

/** The Node-RED-style peer (bench/peers/node-red-influx.ts) in its own process. */
export async function startPeerProcess(options: PeerOptions): Promise<ConsumerUnderTest & { stats(): PeerStats }> {
  const args = [
    '--import',
    'tsx',
    path.join(repoRoot, 'bench/peers/node-red-influx.ts'),
    '--mqtt-url',
    options.mqttUrl,
    '--username',
    options.service.username,
    '--password',
    options.service.password,
    '--client-id',
    `${options.service.username}-peer`,
    '--influx-url',
    options.influxUrl,
    '--db',
    options.db,
    '--mode',
    options.mode,
  ];
  const child = Child.spawn(`peer (${options.mode})`, process.execPath, args, baseEnv(), repoRoot);
  let stats: PeerStats = { received: 0, written: 0, failed: 0, pendingPoints: 0, subscribed: false };
  child.onLine((line) => {
    try {
      stats = JSON.parse(line) as PeerStats;
    } catch {
      // not a stats line
    }
  });
  await waitUntil(
    () => {
      if (child.exitReason !== null) throw child.failure(child.exitReason);
      return stats.subscribed;
    },
    30_000,
    () => child.failure('not subscribed within 30 s').message,
  );
  return {
    process: { name: `peer (${options.mode})`, pid: child.pid },
    durable: () => stats.written + stats.failed,
    pointsWritten: () => stats.written,
    pendingPoints: () => stats.pendingPoints,
    scrape: () => undefined,
    refresh: async () => undefined,
    stats: () => stats,
    stop: () => child.stop(),
  };
}

