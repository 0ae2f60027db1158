import type { SeriesQuery, SeriesRow } from '../store/types.ts';
import { probeMeasurements } from './changes.ts';

/**
 * Capture rate = visitors ÷ (visitors + passers-by), over closed visits (measurement `visits`). Null when
 * there were no closed visits. The one definition used everywhere (docs/data-model.md).
 */
export function captureRate(visitors: number, passersBy: number): number | null {
  const total = visitors + passersBy;
  return total > 0 ? visitors / total : null;
}

/** The query whose rows captureRateOf() reads: summed closed-visit counts per store and bucket. */
export function captureRateQuery(mall: string, fromMs: number, toMs: number, options: { store?: string | readonly string[]; everyMs?: number } = {}): SeriesQuery {
  return {
    measurement: probeMeasurements.visits,
    fields: ['visitors', 'passers_by'],
    aggregate: 'sum',
    where: options.store === undefined ? { mall } : { mall, store: options.store },
    fromMs,
    toMs,
    ...(options.everyMs === undefined ? {} : { everyMs: options.everyMs }),
    groupBy: ['store'],
  };
}

export interface CaptureRateRow {
  tsMs: number;
  store: string | undefined;
  visitors: number;
  passersBy: number;
  /** null when the bucket holds no closed visit. */
  captureRate: number | null;
}

/** Capture rate per row of a `visits` query that sums `visitors` and `passers_by`. */
export function captureRateOf(rows: readonly SeriesRow[]): CaptureRateRow[] {
  return rows.map((row) => {
    const visitors = row.values.visitors ?? 0;
    const passersBy = row.values.passers_by ?? 0;
    return { tsMs: row.tsMs, store: row.tags.store, visitors, passersBy, captureRate: captureRate(visitors, passersBy) };
  });
}

/** One capture rate over all rows (sums first, then divides: a ratio of sums, not a mean of ratios). */
export function totalCaptureRate(rows: readonly SeriesRow[]): number | null {
  let visitors = 0;
  let passersBy = 0;
  for (const row of rows) {
    visitors += row.values.visitors ?? 0;
    passersBy += row.values.passers_by ?? 0;
  }
  return captureRate(visitors, passersBy);
}
