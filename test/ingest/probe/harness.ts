import path from 'node:path';
import type Database from 'better-sqlite3';
import { configSchema } from '../../../core/config.ts';
import { createLogger } from '../../../core/logger.ts';
import { ProbeProcessor } from '../../../ingest/probe/processor.ts';
import type { ProbeProcessorOptions } from '../../../ingest/probe/options.ts';
import { Settings } from '../../../ingest/settings.ts';
import { openStateDb } from '../../../ingest/state-db.ts';
import type { Point } from '../../../ingest/store/types.ts';
import { probePayloadSchema, type ProbePayload } from '../../../protocol/payloads/probe.ts';
import type { DeviceTopic } from '../../../protocol/topics.ts';
import { tempDir } from '../../support/tmp.ts';

export const minuteMs = 60_000;
/** 10:00 on 2026-03-10 in Asia/Shanghai (UTC+8, the default mall time zone). */
export const t0 = Date.parse('2026-03-10T02:00:00Z');
export const masterSecret = 'test-master-secret-0123456789';

/** The `malls` config section as a user writes it (defaults filled in by the real schema). */
export type MallsConfig = Record<string, { timeZone?: string; stores?: Record<string, Record<string, number>> }>;

export interface SightingInput {
  mac: string;
  rssi?: number;
  ts: number;
  assoc?: boolean;
  fp?: string;
  sn?: number;
}

/**
 * A probe processor on a real SQLite state database in a temp dir. Every call runs in a transaction like the
 * pipeline's; emitted points are folded into `series` the way the store overwrites same series + timestamp.
 */
export class ProbeHarness {
  readonly dir: string;
  db: Database.Database;
  processor: ProbeProcessor;
  readonly series = new Map<string, Point>();
  readonly emitted: Point[] = [];
  private seqs = new Map<string, number>();

  constructor(
    private readonly malls: MallsConfig = {},
    private readonly overrides: Partial<ProbeProcessorOptions> = {},
  ) {
    this.dir = tempDir('probe');
    this.db = openStateDb(this.dir);
    this.processor = this.newProcessor();
  }

  newProcessor(): ProbeProcessor {
    const processor = new ProbeProcessor({ masterSecret, settings: new Settings(configSchema.parse({ malls: this.malls }).malls), logger: createLogger('silent'), ...this.overrides });
    processor.migrate(this.db);
    return processor;
  }

  /** Simulates a restart: closes the database, reopens it and builds a fresh processor. */
  restart(): void {
    this.db.close();
    this.db = openStateDb(this.dir);
    this.processor = this.newProcessor();
  }

  payload(device: string, sightings: SightingInput[], seq?: number): ProbePayload {
    const next = seq ?? (this.seqs.get(device) ?? 0) + 1;
    this.seqs.set(device, Math.max(next, this.seqs.get(device) ?? 0));
    const ts = Math.max(t0, ...sightings.map((s) => s.ts));
    return probePayloadSchema.parse({ v: 1, boot: 'boot-1', seq: next, ts, obs: sightings.map((s) => ({ rssi: -60, ...s })) });
  }

  send(sightings: SightingInput[], options: { store?: string; mall?: string; device?: string; receivedAtMs?: number; seq?: number } = {}): Point[] {
    const device = options.device ?? 'probe-1';
    const payload = this.payload(device, sightings, options.seq);
    return this.sendPayload(payload, options);
  }

  sendPayload(payload: ProbePayload, options: { store?: string; mall?: string; device?: string; receivedAtMs?: number } = {}): Point[] {
    const topic: DeviceTopic<'probe'> = { mall: options.mall ?? 'm1', store: options.store ?? 's1', device: options.device ?? 'probe-1', channel: 'probe' };
    const receivedAtMs = options.receivedAtMs ?? Math.max(...payload.obs.map((o) => o.ts), t0);
    const points = this.db.transaction(() => this.processor.process(topic, payload, receivedAtMs))();
    this.record(points);
    return points;
  }

  tick(nowMs: number): Point[] {
    const points = this.db.transaction(() => this.processor.tick(nowMs))();
    this.record(points);
    return points;
  }

  /** Latest fields of a series point as plain numbers. */
  value(measurement: string, tsMs: number, store = 's1', mall = 'm1'): Record<string, number> | undefined {
    const point = [...this.series.values()].find((p) => p.measurement === measurement && p.tsMs === tsMs && p.tags.store === store && p.tags.mall === mall);
    return point === undefined ? undefined : numbers(point);
  }

  /** Every stored point of a measurement, in time order. */
  points(measurement: string, store = 's1'): Array<Record<string, number> & { tsMs: number }> {
    return [...this.series.values()]
      .filter((p) => p.measurement === measurement && p.tags.store === store)
      .sort((a, b) => a.tsMs - b.tsMs || (a.tsNsOffset ?? 0) - (b.tsNsOffset ?? 0))
      .map((p) => ({ ...numbers(p), tsMs: p.tsMs }));
  }

  count(table: string): number {
    return this.db.prepare<[], number>(`SELECT count(*) FROM ${table}`).pluck().get() ?? 0;
  }

  private record(points: Point[]): void {
    for (const point of points) {
      this.emitted.push(point);
      const tags = Object.entries(point.tags)
        .sort()
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      this.series.set(`${point.measurement},${tags}@${point.tsMs}.${point.tsNsOffset ?? 0}`, point);
    }
  }
}

export function numbers(point: Point): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, value] of Object.entries(point.fields)) {
    out[name] = typeof value === 'object' ? value.int : Number(value);
  }
  return out;
}

export function dbFiles(dir: string): string[] {
  return ['ingest.sqlite', 'ingest.sqlite-wal', 'ingest.sqlite-shm'].map((name) => path.join(dir, name));
}
