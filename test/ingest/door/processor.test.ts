import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DoorProcessor } from '../../../ingest/door/processor.ts';
import { RejectedReading } from '../../../ingest/processor.ts';
import { Settings } from '../../../ingest/settings.ts';
import type { Point } from '../../../ingest/store/types.ts';
import type { DoorPayload } from '../../../protocol/payloads/door.ts';
import type { DeviceTopic } from '../../../protocol/topics.ts';
import { tempDir } from '../../support/tmp.ts';

const t0 = Date.parse('2026-11-27T02:00:00Z'); // 10:00 in Asia/Shanghai
const minute = 60_000;
const topic = (device = 'door-1', store = 's1'): DeviceTopic<'door'> => ({ mall: 'm1', store, device, channel: 'door' });
const reading = (seq: number, tsMs: number, inTotal: number, outTotal: number, boot = 'b1'): DoorPayload => ({ v: 1, boot, seq, ts: tsMs, in: inTotal, out: outTotal });

/** Latest full value per (store, minute), as the store would hold it after overwrites. */
function latest(points: Point[]): Map<string, { entries: number; exits: number; occupancy: number }> {
  const map = new Map<string, { entries: number; exits: number; occupancy: number }>();
  for (const p of points.filter((point) => point.measurement === 'footfall')) {
    const f = p.fields as Record<string, { int: number }>;
    map.set(`${p.tags.store}@${(p.tsMs - t0) / minute}`, { entries: f.entries?.int ?? 0, exits: f.exits?.int ?? 0, occupancy: f.occupancy?.int ?? 0 });
  }
  return map;
}

describe('DoorProcessor', () => {
  let db: Database.Database;
  let door: DoorProcessor;
  let emitted: Point[];
  const run = (payload: DoorPayload, t = topic(), receivedAtMs = t0 + 3_600_000): Point[] => {
    const points = db.transaction(() => door.process(t, payload, receivedAtMs))();
    emitted.push(...points);
    return points;
  };
  const totals = () => {
    let entries = 0;
    let exits = 0;
    for (const v of latest(emitted).values()) {
      entries += v.entries;
      exits += v.exits;
    }
    return { entries, exits };
  };

  beforeEach(() => {
    db = new Database(path.join(tempDir('door'), 'ingest.sqlite'));
    door = new DoorProcessor(new Settings({}));
    door.migrate(db);
    emitted = [];
  });
  afterEach(() => db.close());

  it('turns running totals into per-minute deltas', () => {
    run(reading(1, t0 + 10_000, 3, 1));
    run(reading(2, t0 + minute + 5_000, 7, 2));
    run(reading(3, t0 + 2 * minute, 7, 6));
    const byMinute = latest(emitted);
    expect(byMinute.get('s1@0')).toEqual({ entries: 3, exits: 1, occupancy: 2 });
    expect(byMinute.get('s1@1')).toEqual({ entries: 4, exits: 1, occupancy: 5 });
    expect(byMinute.get('s1@2')).toEqual({ entries: 0, exits: 4, occupancy: 1 });
  });

  it('ignores a repeated (device, boot, seq) and counts it', () => {
    run(reading(1, t0, 5, 0));
    expect(run(reading(1, t0, 5, 0))).toEqual([]);
    expect(door.stats.duplicates).toBe(1);
    expect(totals()).toEqual({ entries: 5, exits: 0 });
  });

  it('places out-of-order readings in their minutes and fixes the successor', () => {
    run(reading(1, t0, 2, 0));
    run(reading(3, t0 + 2 * minute, 10, 4));
    run(reading(2, t0 + minute, 6, 1)); // late: splits the 8 entries between minutes 1 and 2
    const byMinute = latest(emitted);
    expect(byMinute.get('s1@1')?.entries).toBe(4);
    expect(byMinute.get('s1@2')?.entries).toBe(4);
    expect(byMinute.get('s1@2')?.occupancy).toBe(6);
    expect(totals()).toEqual({ entries: 10, exits: 4 });
  });

  it('loses nothing across a gap in seq', () => {
    run(reading(1, t0, 1, 0));
    run(reading(5, t0 + 4 * minute, 9, 3)); // seq 2–4 lost
    expect(totals()).toEqual({ entries: 9, exits: 3 });
  });

  it('treats a new boot id as a reset', () => {
    run(reading(1, t0, 10, 2));
    run(reading(1, t0 + minute, 3, 1, 'b2'));
    run(reading(2, t0 + 2 * minute, 5, 1, 'b2'));
    expect(totals()).toEqual({ entries: 15, exits: 3 });
  });

  it('treats a falling total within a boot as a counter reset', () => {
    run(reading(1, t0, 10, 2));
    run(reading(2, t0 + minute, 3, 0));
    expect(door.stats.duplicates).toBe(0);
    expect(totals()).toEqual({ entries: 13, exits: 2 });
  });

  it('gives the same result whatever the arrival order and repetition', () => {
    const readings = [reading(1, t0, 2, 0), reading(2, t0 + minute, 5, 1), reading(3, t0 + 3 * minute, 9, 4), reading(1, t0 + 4 * minute, 2, 1, 'b2'), reading(2, t0 + 5 * minute, 6, 3, 'b2')];
    for (const r of readings) run(r);
    const inOrder = latest(emitted);
    db.close();
    db = new Database(path.join(tempDir('door'), 'ingest.sqlite'));
    door = new DoorProcessor(new Settings({}));
    door.migrate(db);
    emitted = [];
    for (const index of [4, 2, 0, 2, 3, 1, 4, 0]) run(readings[index] as DoorPayload);
    expect(latest(emitted)).toEqual(inOrder);
  });

  it('sums doors of one store and keeps stores apart', () => {
    run(reading(1, t0, 4, 0), topic('door-1', 's1'));
    run(reading(1, t0 + 1000, 6, 1), topic('door-2', 's1'));
    run(reading(1, t0 + 2000, 1, 0), topic('door-3', 's2'));
    const byMinute = latest(emitted);
    expect(byMinute.get('s1@0')).toEqual({ entries: 10, exits: 1, occupancy: 9 });
    expect(byMinute.get('s2@0')).toEqual({ entries: 1, exits: 0, occupancy: 1 });
  });

  it('clamps occupancy at zero and resets it at the mall day boundary', () => {
    const midnightShanghai = Date.parse('2026-11-27T16:00:00Z');
    run(reading(1, midnightShanghai - 2 * minute, 0, 3), topic(), midnightShanghai);
    run(reading(2, midnightShanghai - minute, 5, 3), topic(), midnightShanghai);
    run(reading(3, midnightShanghai + minute, 6, 3), topic(), midnightShanghai + 2 * minute);
    const values = emitted
      .filter((p) => p.measurement === 'footfall')
      .sort((a, b) => a.tsMs - b.tsMs)
      .map((p) => (p.fields.occupancy as { int: number }).int);
    expect(values).toEqual([0, 5, 1]);
  });

  it('rewrites later occupancy when a late reading arrives', () => {
    run(reading(1, t0, 5, 0));
    run(reading(3, t0 + 10 * minute, 5, 5));
    const late = run(reading(2, t0 + 5 * minute, 5, 4));
    const byMinute = latest(late);
    expect(byMinute.get('s1@5')).toEqual({ entries: 0, exits: 4, occupancy: 1 });
    expect(byMinute.get('s1@10')).toEqual({ entries: 0, exits: 1, occupancy: 0 });
  });

  it('keeps the mall occupancy equal to the sum of its stores’, whatever the arrival order', () => {
    // Three stores, readings with exits larger than entries (clamping), a late reading and a repeat.
    const script: [string, string, DoorPayload][] = [
      ['door-1', 's1', reading(1, t0, 5, 0)],
      ['door-2', 's2', reading(1, t0 + 30_000, 2, 0)],
      ['door-1', 's1', reading(2, t0 + 2 * minute, 6, 4)],
      ['door-3', 's3', reading(1, t0 + 3 * minute, 0, 2)],
      ['door-2', 's2', reading(2, t0 + 4 * minute, 9, 3)],
      ['door-1', 's1', reading(3, t0 + 6 * minute, 8, 10)],
      ['door-3', 's3', reading(2, t0 + 7 * minute, 4, 2)],
    ];
    for (const index of [0, 2, 5, 1, 4, 3, 6, 2, 1]) {
      const [device, store, payload] = script[index] as [string, string, DoorPayload];
      run(payload, topic(device, store));
    }
    const mall = new Map<number, number>();
    for (const p of emitted.filter((point) => point.measurement === 'mall_occupancy')) mall.set(p.tsMs, (p.fields.occupancy as { int: number }).int);
    const storeRows = [...latest(emitted).entries()].map(([key, v]) => ({ store: key.split('@')[0] as string, minute: Number(key.split('@')[1]), occupancy: v.occupancy }));
    for (let m = 0; m <= 7; m += 1) {
      let sum = 0;
      for (const store of ['s1', 's2', 's3']) {
        const rows = storeRows.filter((r) => r.store === store && r.minute <= m).sort((a, b) => b.minute - a.minute);
        sum += rows[0]?.occupancy ?? 0;
      }
      const written = [...mall.entries()].filter(([ts]) => ts <= t0 + m * minute).sort(([a], [b]) => b - a)[0]?.[1] ?? 0;
      expect(written, `minute ${m}`).toBe(sum);
    }
    // By hand: s1 5 → 2 → 0 (clamped), s2 2 → 6, s3 0 (clamped) → 4: the mall ends at 0 + 6 + 4.
    expect(mall.get(t0 + 7 * minute)).toBe(10);
  });

  it('corrects a clock far in the future to receive time and counts it', () => {
    const received = t0 + 3_600_000;
    const points = run(reading(1, received + 3_600_000, 2, 0), topic(), received);
    expect(door.stats.skewCorrected).toBe(1);
    expect(points[0]?.tsMs).toBe(Math.floor(received / minute) * minute);
  });

  it('rejects readings older than the late-data window', () => {
    expect(() => run(reading(1, t0 - 8 * 24 * 3_600_000, 2, 0), topic(), t0)).toThrow(RejectedReading);
  });

  it('keeps each boot anchored when pruning old readings', () => {
    const day = 24 * 3_600_000;
    run(reading(1, t0, 5, 0), topic(), t0);
    run(reading(2, t0 + minute, 8, 0), topic(), t0);
    door.prune(t0 + 9 * day);
    // A reading of the same boot after pruning still counts only its delta.
    const points = run(reading(3, t0 + 9 * day, 10, 0), topic(), t0 + 9 * day);
    expect((points[0]?.fields.entries as { int: number }).int).toBe(2);
  });
});
