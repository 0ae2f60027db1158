import { describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { DeadLetters } from '../../ingest/dead-letters.ts';
import { DoorProcessor } from '../../ingest/door/processor.ts';
import { createIngestMetrics } from '../../ingest/metrics.ts';
import { Outbox } from '../../ingest/outbox.ts';
import { type DeviceDirectory, Pipeline } from '../../ingest/pipeline.ts';
import { PosProcessor } from '../../ingest/pos.ts';
import { MemberLinks } from '../../ingest/portal/member-links.ts';
import { MemberVisits } from '../../ingest/portal/member-visits.ts';
import { PortalProcessor } from '../../ingest/portal/processor.ts';
import { ProbeProcessor } from '../../ingest/probe/processor.ts';
import { Settings } from '../../ingest/settings.ts';
import { openStateDb } from '../../ingest/state-db.ts';
import { StatusProcessor } from '../../ingest/status-processor.ts';
import type { Point } from '../../ingest/store/types.ts';
import { tempDir } from '../support/tmp.ts';

const t0 = Date.parse('2026-03-10T02:00:00Z');
const minuteMs = 60_000;
const topic = 'plaza/v1/m1/s1/probe-1/probe';

/** The device registry's answer for the one probe these tests use. */
const directory: DeviceDirectory = {
  lookup: (deviceId) => (deviceId === 'probe-1' ? { mall: 'm1', store: 's1', kind: 'probe' } : undefined),
};

/** A pipeline with the real processors on a real state database in a temp dir. */
function setUp() {
  const db = openStateDb(tempDir('pipeline'));
  const settings = new Settings(configSchema.parse({}).malls);
  const registry = createMetricsRegistry(false);
  const metrics = createIngestMetrics(registry);
  const logger = createLogger('silent');
  const links = new MemberLinks();
  const visits = new MemberVisits();
  const outbox = new Outbox(db);
  const pipeline = new Pipeline(
    db,
    {
      door: new DoorProcessor(settings),
      probe: new ProbeProcessor({ masterSecret: 'test-master-secret-0123456789', settings, logger, members: { links, visits } }),
      status: new StatusProcessor(),
      portal: new PortalProcessor(links, visits),
      pos: new PosProcessor(),
    },
    outbox,
    new DeadLetters(db, metrics.invalid, logger),
    directory,
    metrics,
  );
  const series = new Map<string, string>();
  pipeline.onCommitted((points: readonly Point[]) => {
    for (const p of points) series.set(`${p.measurement},${JSON.stringify(p.tags)}@${p.tsMs}.${p.tsNsOffset ?? 0}`, JSON.stringify(p.fields));
  });
  return { db, pipeline, outbox, series, registry };
}

function probeMessage(seq: number, sightings: { mac: string; ts: number; rssi: number }[]): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, boot: 'b1', seq, ts: Math.max(...sightings.map((s) => s.ts)), obs: sightings }));
}

const first = probeMessage(1, [
  { mac: '00:1a:2b:3c:4d:01', ts: t0, rssi: -55 },
  { mac: '00:1a:2b:3c:4d:02', ts: t0 + 1000, rssi: -80 },
]);
// Extends both visits into later minutes: the phone at −55 dBm becomes a visitor.
const second = probeMessage(2, [
  { mac: '00:1a:2b:3c:4d:01', ts: t0 + 6 * minuteMs, rssi: -55 },
  { mac: '00:1a:2b:3c:4d:02', ts: t0 + 3 * minuteMs, rssi: -80 },
]);

describe('pipeline transactions', () => {
  it('a message whose savepoint rolls back inside a batch is applied in full when redelivered', () => {
    const clean = setUp();
    clean.pipeline.beginBatch();
    clean.pipeline.handle(topic, first, t0 + 1000);
    clean.pipeline.handle(topic, second, t0 + 6 * minuteMs);
    clean.pipeline.commitBatch();

    const faulty = setUp();
    faulty.pipeline.beginBatch();
    faulty.pipeline.handle(topic, first, t0 + 1000);
    // The second message's outbox write fails after the processor changed its in-memory state (disk full).
    const append = faulty.outbox.append.bind(faulty.outbox);
    faulty.outbox.append = () => {
      throw new Error('SQLITE_FULL: database or disk is full');
    };
    expect(() => faulty.pipeline.handle(topic, second, t0 + 6 * minuteMs)).toThrow('SQLITE_FULL');
    faulty.outbox.append = append;
    faulty.pipeline.commitBatch(); // the first message commits; the broker redelivers the second
    expect(faulty.pipeline.handle(topic, second, t0 + 6 * minuteMs)).toBe('stored');

    expect([...faulty.series].sort()).toEqual([...clean.series].sort());
    // Both phones in the first minute, the near one now a visitor: the redelivered message's effect is there.
    expect(presenceAt(faulty.series, t0)).toMatchObject({ devices: 2, visitors: 1, passers_by: 1 });
  });

  it('reports how many messages each commit made durable', async () => {
    const { pipeline, registry } = setUp();
    pipeline.handle(topic, first, t0 + 1000); // on its own: a commit of one
    pipeline.beginBatch();
    pipeline.handle(topic, second, t0 + 6 * minuteMs);
    pipeline.handle(topic, probeMessage(3, [{ mac: '00:1a:2b:3c:4d:03', ts: t0 + 7 * minuteMs, rssi: -60 }]), t0 + 7 * minuteMs);
    pipeline.handle('plaza/v1/m1/s1/unknown-device/probe', first, t0 + 7 * minuteMs); // a dead letter is durable too
    pipeline.commitBatch();
    const text = await registry.metrics();
    expect(text).toMatch(/^plaza_ingest_commit_messages_count 2$/m);
    expect(text).toMatch(/^plaza_ingest_commit_messages_sum 4$/m);
    expect(text).toMatch(/^plaza_ingest_commit_seconds_count 1$/m);
  });

  it('a failed batch commit drops the processors’ caches with the transaction', () => {
    const clean = setUp();
    clean.pipeline.handle(topic, first, t0 + 1000);
    clean.pipeline.handle(topic, second, t0 + 6 * minuteMs);

    const faulty = setUp();
    faulty.pipeline.handle(topic, first, t0 + 1000);
    // COMMIT fails as on a full disk or an I/O error; a deferred foreign-key violation is a portable way to get there.
    faulty.db.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE guard (ref INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)');
    faulty.db.pragma('foreign_keys = ON');
    faulty.pipeline.beginBatch();
    faulty.pipeline.handle(topic, second, t0 + 6 * minuteMs);
    faulty.db.exec('INSERT INTO guard (ref) VALUES (1)');
    expect(() => faulty.pipeline.commitBatch()).toThrow('FOREIGN KEY');
    expect(faulty.db.inTransaction).toBe(false);
    faulty.db.pragma('foreign_keys = OFF');
    expect(faulty.pipeline.handle(topic, second, t0 + 6 * minuteMs)).toBe('stored');

    expect([...faulty.series].sort()).toEqual([...clean.series].sort());
    expect(presenceAt(faulty.series, t0)).toMatchObject({ devices: 2, visitors: 1, passers_by: 1 });
  });
});

/** The presence fields of store s1 at tsMs, as plain numbers. */
function presenceAt(series: Map<string, string>, tsMs: number): Record<string, number> | undefined {
  const entry = [...series].find(([key]) => key.startsWith('presence,') && key.includes('"store":"s1"') && key.includes(`@${tsMs}.`));
  if (entry === undefined) return undefined;
  const fields = JSON.parse(entry[1]) as Record<string, number | { int: number }>;
  return Object.fromEntries(Object.entries(fields).map(([name, value]) => [name, typeof value === 'object' ? value.int : value]));
}
