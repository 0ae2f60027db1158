import type { Point } from '../store/types.ts';
import type { LocalDay } from './days.ts';
import type { ProbeStatements } from './state.ts';
import { dwellBucketIndex, dwellBuckets, dwellSOf, type Visit, visitNsOffset } from './visits.ts';

/** Measurement names written by the probe processor (docs/data-model.md). */
export const probeMeasurements = {
  presence: 'presence',
  visit: 'visit',
  visits: 'visits',
  devicesDaily: 'devices_daily',
} as const;

interface MinuteDelta {
  mall: string;
  store: string;
  minuteMs: number;
  d: Int32Array; // devices, visitors, passers_by, connected, unclustered
}

interface AggDelta {
  mall: string;
  store: string;
  minuteMs: number;
  d: Float64Array; // visits, visitors, passers_by, dwell_s_sum, b0…b4, unclustered
}

interface DayDelta {
  mall: string;
  store: string;
  day: LocalDay;
  d: Int32Array; // devices, visitors, unclustered
}

const int = (n: number): { int: number } => ({ int: n });

/**
 * What one message or tick changed: counter deltas per store-minute, per store-day and per visit-start
 * minute, plus closed-visit points. flush() applies the deltas and returns each changed row's full value.
 */
export class Changes {
  private readonly minutes = new Map<string, MinuteDelta>();
  private readonly aggs = new Map<string, AggDelta>();
  private readonly days = new Map<string, DayDelta>();
  private readonly visitPoints = new Map<string, Point>();

  minute(mall: string, store: string, minute: number, devices: number, visitors: number, connected: number, unclustered: number): void {
    const minuteMs = minute * 60_000;
    const key = `${mall}\0${store}\0${minuteMs}`;
    let delta = this.minutes.get(key);
    if (delta === undefined) {
      delta = { mall, store, minuteMs, d: new Int32Array(5) };
      this.minutes.set(key, delta);
    }
    const d = delta.d;
    d[0] = (d[0] ?? 0) + devices;
    d[1] = (d[1] ?? 0) + visitors;
    d[2] = (d[2] ?? 0) + devices - visitors;
    d[3] = (d[3] ?? 0) + connected;
    d[4] = (d[4] ?? 0) + unclustered;
  }

  /** Adds (sign 1) or removes (sign −1, on reopening) a closed visit's share of its start minute's aggregate. */
  closedVisit(mall: string, store: string, visit: Visit, sign: 1 | -1): void {
    const minuteMs = Math.floor((visit.pointMs ?? visit.firstMs) / 60_000) * 60_000;
    const key = `${mall}\0${store}\0${minuteMs}`;
    let delta = this.aggs.get(key);
    if (delta === undefined) {
      delta = { mall, store, minuteMs, d: new Float64Array(10) };
      this.aggs.set(key, delta);
    }
    const d = delta.d;
    const add = (i: number, n: number): void => {
      d[i] = (d[i] ?? 0) + sign * n;
    };
    add(0, 1);
    add(visit.visitor ? 1 : 2, 1);
    if (visit.visitor) {
      const dwellS = dwellSOf(visit);
      add(3, dwellS);
      add(4 + dwellBucketIndex(dwellS), 1);
    }
    if (visit.estimated) add(9, 1);
  }

  visitPoint(mall: string, store: string, identity: string, visit: Visit): void {
    const tsMs = visit.pointMs ?? visit.firstMs;
    const tsNsOffset = visitNsOffset(identity);
    this.visitPoints.set(`${mall}\0${store}\0${tsMs}\0${tsNsOffset}`, {
      measurement: probeMeasurements.visit,
      tags: { mall, store },
      fields: {
        dwell_s: int(dwellSOf(visit)),
        max_rssi_dbm: int(visit.maxRssi),
        visitor: int(visit.visitor ? 1 : 0),
        randomized: int(visit.randomized ? 1 : 0),
        estimated: int(visit.estimated ? 1 : 0),
        connected: int(visit.connected ? 1 : 0),
      },
      tsMs,
      tsNsOffset,
    });
  }

  day(mall: string, store: string, day: LocalDay, devices: number, visitors: number, unclustered: number): void {
    const key = `${mall}\0${store}\0${day.date}`;
    let delta = this.days.get(key);
    if (delta === undefined) {
      delta = { mall, store, day, d: new Int32Array(3) };
      this.days.set(key, delta);
    }
    const d = delta.d;
    d[0] = (d[0] ?? 0) + devices;
    d[1] = (d[1] ?? 0) + visitors;
    d[2] = (d[2] ?? 0) + unclustered;
  }

  /** Applies the deltas to the counter tables; returns the full value of every row that changed. */
  flush(s: ProbeStatements, nowMs: number, stateGraceMs: number): Point[] {
    const points: Point[] = [];
    for (const { mall, store, minuteMs, d } of this.minutes.values()) {
      if (isZero(d)) continue;
      const row = s.minuteAdd.get(mall, store, minuteMs, d[0] ?? 0, d[1] ?? 0, d[2] ?? 0, d[3] ?? 0, d[4] ?? 0);
      if (row === undefined) continue;
      points.push({
        measurement: probeMeasurements.presence,
        tags: { mall, store },
        fields: {
          devices: int(row.devices),
          visitors: int(row.visitors),
          passers_by: int(row.passers_by),
          connected: int(row.connected),
          unclustered: int(row.unclustered),
        },
        tsMs: minuteMs,
      });
    }
    for (const { mall, store, minuteMs, d } of this.aggs.values()) {
      if (isZero(d)) continue;
      const v = (i: number): number => d[i] ?? 0;
      const row = s.visitAggAdd.get(mall, store, minuteMs, v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7), v(8), v(9));
      if (row === undefined) continue;
      const buckets = [row.b0, row.b1, row.b2, row.b3, row.b4];
      const fields: Record<string, { int: number }> = {
        visits: int(row.visits),
        visitors: int(row.visitors),
        passers_by: int(row.passers_by),
        dwell_s_sum: int(row.dwell_s_sum),
        unclustered: int(row.unclustered),
      };
      dwellBuckets.forEach((bucket, i) => {
        fields[bucket.field] = int(buckets[i] ?? 0);
      });
      points.push({ measurement: probeMeasurements.visits, tags: { mall, store }, fields, tsMs: minuteMs });
    }
    for (const { mall, store, day, d } of this.days.values()) {
      if (isZero(d)) continue;
      const expiresMs = Math.max(day.endMs, nowMs) + stateGraceMs;
      const row = s.dayAdd.get(mall, store, day.date, day.startMs, day.endMs, d[0] ?? 0, d[1] ?? 0, d[2] ?? 0, expiresMs);
      if (row === undefined) continue;
      points.push({
        measurement: probeMeasurements.devicesDaily,
        tags: { mall, store },
        fields: { devices: int(row.devices), visitors: int(row.visitors), unclustered: int(row.unclustered) },
        tsMs: row.day_start_ms,
      });
    }
    points.push(...this.visitPoints.values());
    return points;
  }
}

function isZero(d: ArrayLike<number>): boolean {
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) return false;
  return true;
}
