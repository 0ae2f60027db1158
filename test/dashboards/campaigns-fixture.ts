import { createLogger } from '../../core/logger.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import type { Point } from '../../ingest/store/types.ts';
import { seededRandom } from '../../dashboards/campaigns/report-math.ts';
import { wallToUtcMs } from '../../dashboards/campaigns/zoned-time.ts';
import { tempDir } from '../support/tmp.ts';

export const mall = 'm1';
export const timeZone = 'Asia/Shanghai';
export const dayMs = 24 * 3600 * 1000;
const slotMs = 15 * 60 * 1000;

/** Local midnight (Asia/Shanghai) of a Monday: 2026-01-05 is a Monday. */
export const firstMondayMs = wallToUtcMs(Date.UTC(2026, 0, 5), timeZone);

/** Entries per 15-min slot at factor 1, per local hour (10:00-22:00 open). */
const hourly = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 18, 24, 22, 18, 17, 19, 24, 30, 32, 26, 16, 0, 0];
const weekdayFactor = [0.8, 0.8, 0.85, 0.9, 1.1, 1.6, 1.5];

function poisson(random: () => number, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * gaussian(random)));
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = random();
  while (p > limit) {
    k += 1;
    p *= random();
  }
  return k;
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

export interface Effect {
  store: string;
  fromMs: number;
  toMs: number;
  factor: number;
}

/**
 * Footfall of stores a, b (campaign candidates) and c, d (controls) per 15-min slot over `days` days from
 * firstMondayMs, Poisson around a weekday × hour profile; `effects` multiply a store's rate in a window.
 * Returns the points (one per slot, stamped at its start) and the expected entries per store and slot.
 */
export function syntheticFootfall(options: { days: number; seed: number; effects: Effect[]; scale?: Record<string, number>; skip?: { store: string; dayIndex: number }[] }): Point[] {
  const random = seededRandom(options.seed);
  const scale: Record<string, number> = options.scale ?? { a: 1, b: 1.2, c: 0.9, d: 1.1 };
  const points: Point[] = [];
  for (let day = 0; day < options.days; day += 1) {
    const dayStart = firstMondayMs + day * dayMs;
    // Weather, events, paydays: a mall-wide day factor (±8 %) and a smaller one per store (±4 %).
    const mallDay = 1 + 0.08 * gaussian(random);
    const storeDay = Object.fromEntries(Object.keys(scale).map((store) => [store, 1 + 0.04 * gaussian(random)]));
    for (let slot = 0; slot < 96; slot += 1) {
      const tsMs = dayStart + slot * slotMs;
      const rate = (hourly[Math.floor(slot / 4)] ?? 0) * (weekdayFactor[day % 7] ?? 1);
      if (rate === 0) continue;
      for (const [store, s] of Object.entries(scale)) {
        if (options.skip?.some((k) => k.store === store && k.dayIndex === day)) continue;
        let lambda = rate * s * mallDay * (storeDay[store] ?? 1);
        for (const e of options.effects) if (e.store === store && tsMs >= e.fromMs && tsMs < e.toMs) lambda *= e.factor;
        points.push({ measurement: 'footfall', tags: { mall, store }, fields: { entries: { int: poisson(random, lambda) }, exits: { int: 0 } }, tsMs });
      }
    }
  }
  return points;
}

export async function storeWith(points: Point[]): Promise<SqliteStore> {
  const store = new SqliteStore({ dataDir: tempDir('campaign-report') }, createLogger('silent'));
  await store.open();
  for (let i = 0; i < points.length; i += 5000) await store.write(points.slice(i, i + 5000));
  return store;
}
