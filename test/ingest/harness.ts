import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { expect, vi } from 'vitest';
import type { DeviceCredentials, DeviceRegistry } from '../../broker/registry.ts';
import { type Config, loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry, type Registry } from '../../core/metrics.ts';
import { Ingest, type IngestDeps } from '../../ingest/index.ts';
import type { PrepareThreadOptions } from '../../ingest/prepare/thread.ts';
import { ProbeProcessor } from '../../ingest/probe/processor.ts';
import { createStore } from '../../ingest/store/index.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import { type DeviceTopic, deviceTopic, encodePayload } from '../../protocol/topics.ts';
import { connectClient } from '../support/broker.ts';

export const hashSecret = 'test-master-secret-0123456789';

export interface IngestUnderTest {
  ingest: Ingest;
  store: TimeSeriesStore;
  metrics: Registry;
  config: Config;
  logFile: string;
  stop(): Promise<void>;
}

/** A real Ingest component against a real broker and a real store (SQLite, or InfluxDB when influxUrl is given). */
export async function startIngest(options: {
  dataDir: string;
  registry: DeviceRegistry;
  mqtt: { url: string; username: string; password: string };
  influxUrl?: string;
  malls?: string[];
  instance?: string;
  batchSize?: number;
  /** PLAZA_INGEST_PREPARE_THREAD; with 'on', startIngest waits until the thread is up. */
  prepareThread?: 'on' | 'off';
  prepareThreadOptions?: Partial<PrepareThreadOptions>;
  /** Replaces the probe processor (a test double that fails on purpose). */
  probe?: IngestDeps['probe'];
}): Promise<IngestUnderTest> {
  const env: Record<string, string> = { PLAZA_DATA_DIR: options.dataDir, PLAZA_HASH_SECRET: hashSecret, PLAZA_INGEST_FLUSH_INTERVAL_MS: '50' };
  if (options.influxUrl) env.PLAZA_INFLUX_URL = options.influxUrl;
  if (options.malls) env.PLAZA_INGEST_MALLS = options.malls.join(',');
  if (options.instance) env.PLAZA_INGEST_INSTANCE = options.instance;
  if (options.batchSize) env.PLAZA_INGEST_BATCH_SIZE = String(options.batchSize);
  if (options.prepareThread) env.PLAZA_INGEST_PREPARE_THREAD = options.prepareThread;
  const config = loadConfig({ env });
  const logFile = path.join(options.dataDir, `ingest-${Date.now()}.log`);
  const logStream = createWriteStream(logFile, { flags: 'a' });
  const logger = createLogger('debug', logStream);
  const metrics = createMetricsRegistry(false);
  const store = createStore(config, logger);
  const ingest = new Ingest({
    config,
    logger,
    metrics,
    store,
    directory: { lookup: (id) => options.registry.getDevice(id) },
    probe: options.probe ?? ((settings, members, optOuts) => new ProbeProcessor({ masterSecret: hashSecret, settings, logger, members, optOuts })),
    mqtt: options.mqtt,
    prepareThread: options.prepareThreadOptions,
  });
  await ingest.start();
  if (options.prepareThread === 'on') await ingest.prepareThreadReady();
  return {
    ingest,
    store,
    metrics,
    config,
    logFile,
    stop: async () => {
      await ingest.stop();
      await new Promise<void>((resolve) => logStream.end(resolve));
    },
  };
}

/** A device publishing with its own credentials, QoS 1. */
export class TestDevice {
  private constructor(
    readonly creds: DeviceCredentials,
    readonly client: MqttClient,
  ) {}

  static async connect(url: string, creds: DeviceCredentials): Promise<TestDevice> {
    const client = await connectClient(url, { clientId: creds.id, username: creds.username, password: creds.password, reconnectPeriod: 200, clean: true });
    return new TestDevice(creds, client);
  }

  get address(): Omit<DeviceTopic, 'channel'> {
    return { mall: this.creds.mall, store: this.creds.store, device: this.creds.id };
  }

  door(seq: number, tsMs: number, inTotal: number, outTotal: number, boot = 'boot-1'): Promise<void> {
    return this.raw('door', encodePayload('door', { v: 1, boot, seq, ts: tsMs, in: inTotal, out: outTotal }));
  }

  async raw(channel: 'door' | 'probe' | 'status', payload: Buffer | string): Promise<void> {
    await this.client.publishAsync(deviceTopic(this.address, channel), payload, { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

/** Entries and exits per store summed over a range, read back from the store. */
export async function footfallTotals(store: TimeSeriesStore, mall: string, fromMs: number, toMs: number): Promise<Record<string, { entries: number; exits: number }>> {
  const rows = await store.query({ measurement: 'footfall', fields: ['entries', 'exits'], aggregate: 'sum', where: { mall }, fromMs, toMs, groupBy: ['store'] });
  const result: Record<string, { entries: number; exits: number }> = {};
  for (const row of rows) result[row.tags.store ?? ''] = { entries: row.values.entries ?? 0, exits: row.values.exits ?? 0 };
  return result;
}

/** Waits until the stored totals equal the expected ones (flushing ingest's outbox as it goes). */
export async function expectTotals(
  flush: () => Promise<void>,
  store: TimeSeriesStore,
  mall: string,
  fromMs: number,
  toMs: number,
  expected: Record<string, { entries: number; exits: number }>,
  timeoutMs = 45_000,
): Promise<void> {
  let last: unknown;
  await vi.waitFor(
    async () => {
      await flush().catch(() => undefined);
      last = await footfallTotals(store, mall, fromMs, toMs);
      if (JSON.stringify(sortKeys(last as Record<string, unknown>)) !== JSON.stringify(sortKeys(expected))) {
        throw new Error(`stored ${JSON.stringify(last)} != expected ${JSON.stringify(expected)}`);
      }
    },
    { timeout: timeoutMs, interval: 100 },
  );
}

function sortKeys(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
}

export function readLog(file: string): string {
  return readFileSync(file, 'utf8');
}

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** The environment of a `plaza ingest` process against a test broker, writing to SQLite under dataDir. */
export function ingestProcessEnv(options: { dataDir: string; mqttUrl: string; service: { username: string; password: string }; opsPort: number; extra?: Record<string, string> }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PLAZA_DATA_DIR: options.dataDir,
    PLAZA_MQTT_URL: options.mqttUrl,
    PLAZA_MQTT_USERNAME: options.service.username,
    PLAZA_MQTT_PASSWORD: options.service.password,
    PLAZA_HASH_SECRET: hashSecret,
    PLAZA_OPS_PORT: String(options.opsPort),
    PLAZA_OPS_HOST: '127.0.0.1',
    PLAZA_LOG_LEVEL: 'warn',
    PLAZA_INGEST_FLUSH_INTERVAL_MS: '20',
    ...options.extra,
  };
}

/**
 * `plaza ingest` as its own process (so it can be killed with SIGKILL), ready once its /health answers 200.
 * `env` is its whole environment (ingestProcessEnv); `opsPort` the PLAZA_OPS_PORT in it.
 */
export async function spawnIngest(env: NodeJS.ProcessEnv, opsPort: number): Promise<ChildProcess> {
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/plaza.js'), 'ingest'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await vi.waitFor(
    async () => {
      if (proc.exitCode !== null) throw new Error(`ingest exited: ${stderr}`);
      const response = await fetch(`http://127.0.0.1:${opsPort}/health`);
      expect(response.status).toBe(200);
    },
    { timeout: 90_000, interval: 200 },
  );
  return proc;
}
