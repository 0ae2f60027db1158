import type { SeriesRow } from '../../ingest/store/types.ts';
import { timeZoneOffsetMs } from '../../ingest/time.ts';

const hourMs = 3_600_000;
const dayMs = 24 * hourMs;
/** History the usual traffic is taken from: the previous 7 days. */
export const baselineDays = 7;
/** Days with traffic needed before a store's usual traffic is trusted. */
const minDays = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * A store's usual entries per minute by local hour of day: the median, over the last 7 days on which the store
 * had any entries, of its entries in that hour while the mall was open (a day's missing hour counts as 0).
 * Built from hourly sums (`footfall` entries, GROUP BY time(1h), store); UTC-aligned hours stand for local
 * hours, exact for whole-hour time zones.
 */
export class UsualTraffic {
  /** store → 24 values (entries per minute), NaN where unknown. */
  private perStore = new Map<string, Float64Array>();

  /** Rebuilds from hourly rows of [now − 7 days, start of the current hour); isOpen says whether an hour counts. */
  rebuild(rows: readonly SeriesRow[], timeZone: string, isOpen: (tsMs: number) => boolean): void {
    const byStore = new Map<string, Map<number, Map<number, number>>>(); // store → local day → hour → entries
    for (const row of rows) {
      const entries = row.values.entries ?? 0;
      const store = row.tags.store ?? '';
      const local = row.tsMs + timeZoneOffsetMs(row.tsMs, timeZone);
      const day = Math.floor(local / dayMs);
      const hour = Math.floor((local - day * dayMs) / hourMs);
      const days = byStore.get(store) ?? new Map<number, Map<number, number>>();
      const hours = days.get(day) ?? new Map<number, number>();
      hours.set(hour, (hours.get(hour) ?? 0) + entries);
      days.set(day, hours);
      byStore.set(store, days);
    }
    const next = new Map<string, Float64Array>();
    for (const [store, days] of byStore) {
      const activeDays = [...days].filter(([, hours]) => [...hours.values()].some((n) => n > 0));
      const usual = new Float64Array(24).fill(Number.NaN);
      if (activeDays.length >= minDays) {
        for (let hour = 0; hour < 24; hour += 1) {
          const samples: number[] = [];
          for (const [day, hours] of activeDays) {
            const localMs = day * dayMs + hour * hourMs + hourMs / 2;
            if (isOpen(localMs - timeZoneOffsetMs(localMs, timeZone))) samples.push(hours.get(hour) ?? 0);
          }
          if (samples.length >= minDays) usual[hour] = median(samples) / 60;
        }
      }
      next.set(store, usual);
    }
    this.perStore = next;
  }

  /** Usual entries per minute for the store at the local hour of tsMs, or undefined when not known. */
  perMinute(store: string, tsMs: number, timeZone: string): number | undefined {
    const usual = this.perStore.get(store);
    if (usual === undefined) return undefined;
    const local = tsMs + timeZoneOffsetMs(tsMs, timeZone);
    const value = usual[Math.floor((local % dayMs) / hourMs)];
    return value === undefined || Number.isNaN(value) ? undefined : value;
  }
}

/** For each store, the end of the latest hour with entries in hourly rows, at most capMs (a bound on its last entry). */
export function lastEntryHours(rows: readonly SeriesRow[], capMs: number): Map<string, number> {
  const last = new Map<string, number>();
  for (const row of rows) {
    if ((row.values.entries ?? 0) <= 0) continue;
    const store = row.tags.store ?? '';
    const end = Math.min(row.tsMs + hourMs, capMs);
    if (end > (last.get(store) ?? Number.NEGATIVE_INFINITY)) last.set(store, end);
  }
  return last;
}
