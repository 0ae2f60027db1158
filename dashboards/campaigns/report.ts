import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import type { Campaign } from './model.ts';
import { type Estimate, estimate, reportDefaults, seedOf, type StoreDay, type StoreSeries } from './report-math.ts';
import { formatZoned, localParts, utcToWallMs, wallToUtcMs } from './zoned-time.ts';

/** Report tunables with units; `weeks` can be set per request. */
export const reportOptionsDefaults = {
  /** Baseline weeks before the campaign (same weekday and time of day). */
  weeks: 6,
  minWeeks: 2,
  maxWeeks: 12,
  /** Time slot of the comparison: 15 min, so zones with :30 and :45 offsets still align with local time. */
  slotMs: 15 * 60 * 1000,
} as const;

const weekMs = 7 * 24 * 3600 * 1000;

export interface ReportOptions {
  weeks: number;
  /** Local dates (YYYY-MM-DD) left out of baselines: holidays and other unusual days. */
  excludeDates: readonly string[];
  nowMs: number;
  timeZone: string;
  /** Other campaigns of the mall whose time at a store is left out of that store's baseline. */
  otherCampaigns: readonly Campaign[];
}

export interface StoreEstimate extends Estimate {
  store: string;
  /** Campaign days on which this store had no footfall data at all (device down, store closed). */
  missingDays: string[];
  /** Baseline store-days left out: other campaigns, excluded dates, missing data. */
  baselineDaysExcluded: number;
}

export interface CampaignReport {
  campaign: { id: string; name: string; mall: string; stores: string[]; controlStores: string[]; start: string; end: string };
  timeZone: string;
  generatedAt: string;
  method: { weeks: number; slotMinutes: number; resamples: number; level: number; seed: number; excludedDates: string[]; uplift: string };
  /** Local dates of the campaign that have ended so far. */
  days: string[];
  /** (a) against the same weekday and time of day over the previous weeks. */
  baseline: { total: Estimate; stores: StoreEstimate[] };
  /** (b) difference-in-differences against the control stores; null without control stores. */
  control: { controlStores: string[]; controlChangePct: number | null; total: Estimate; stores: StoreEstimate[] } | null;
  /** Which estimate the headline verdict is taken from. */
  headline: 'control' | 'baseline';
  verdict: string;
  warnings: string[];
}

interface Slot {
  tsMs: number;
  day: number;
  /** The same local wall time k weeks earlier, per week k = 1…weeks, and its local date. */
  baseline: number[];
  baselineDates: string[];
}

/** Builds the report for a campaign from the footfall in the store. */
export async function buildReport(store: TimeSeriesStore, campaign: Campaign, options: ReportOptions): Promise<CampaignReport> {
  const { slotMs } = reportOptionsDefaults;
  const tz = options.timeZone;
  const warnings: string[] = [];
  // Local dates per slot: every zone offset in use is a multiple of 15 min, so a slot never spans two dates.
  const dates = new Map<number, string>();
  const dateOf = (tsMs: number): string => {
    const slot = Math.floor(tsMs / slotMs);
    let date = dates.get(slot);
    if (date === undefined) {
      date = localParts(slot * slotMs, tz).date;
      dates.set(slot, date);
    }
    return date;
  };
  const lastEndMs = Math.min(campaign.endMs, Math.floor(options.nowMs / slotMs) * slotMs);
  if (lastEndMs < campaign.endMs) warnings.push(campaign.startMs >= options.nowMs ? 'the campaign has not started yet' : 'the campaign is still running: the report covers the part that has ended');

  const slots: Slot[] = [];
  const dayNames: string[] = [];
  for (let t = Math.ceil(campaign.startMs / slotMs) * slotMs; t + slotMs <= lastEndMs; t += slotMs) {
    const date = dateOf(t);
    if (dayNames[dayNames.length - 1] !== date) dayNames.push(date);
    const wall = utcToWallMs(t, tz);
    const baseline = Array.from({ length: options.weeks }, (_, k) => wallToUtcMs(wall - (k + 1) * weekMs, tz));
    slots.push({ tsMs: t, day: dayNames.length - 1, baseline, baselineDates: baseline.map(dateOf) });
  }

  const testStores = campaign.stores;
  const controlStores = campaign.controlStores;
  const values = new Map<string, Map<number, number>>();
  const presentDays = new Set<string>();
  if (slots.length > 0) {
    const fromMs = Math.min(...slots.map((s) => s.baseline[options.weeks - 1] ?? s.tsMs));
    const rows = await store.query({
      measurement: 'footfall',
      fields: ['entries'],
      aggregate: 'sum',
      where: { mall: campaign.mall, store: [...testStores, ...controlStores] },
      fromMs,
      toMs: lastEndMs,
      everyMs: slotMs,
      groupBy: ['store'],
    });
    for (const row of rows) {
      const entries = row.values.entries;
      if (entries === null || entries === undefined) continue;
      const name = row.tags.store ?? '';
      const byTime = values.get(name) ?? new Map<number, number>();
      byTime.set(row.tsMs, entries);
      values.set(name, byTime);
      presentDays.add(`${name}|${dateOf(row.tsMs)}`);
    }
  }

  const excluded = new Set(options.excludeDates);
  const seriesOf = (name: string): { series: StoreSeries; missingDays: string[]; baselineDaysExcluded: number } => {
    const busy = options.otherCampaigns.filter((c) => c.stores.includes(name));
    const byTime = values.get(name) ?? new Map<number, number>();
    const days: (StoreDay | undefined)[] = dayNames.map(() => undefined);
    const blocked = dayNames.map(() => Array.from({ length: options.weeks }, () => false));
    const missingDays: string[] = [];
    dayNames.forEach((date) => {
      if (!presentDays.has(`${name}|${date}`)) missingDays.push(date);
    });
    for (const slot of slots) {
      const date = dayNames[slot.day] as string;
      if (missingDays.includes(date)) continue;
      const day = (days[slot.day] ??= { during: 0, weeks: Array.from({ length: options.weeks }, () => 0) });
      day.during += byTime.get(slot.tsMs) ?? 0;
      slot.baseline.forEach((b, k) => {
        const row = blocked[slot.day] as boolean[];
        const bDate = slot.baselineDates[k] ?? '';
        if (excluded.has(bDate) || !presentDays.has(`${name}|${bDate}`) || busy.some((c) => c.startMs < b + slotMs && c.endMs > b)) row[k] = true;
        day.weeks[k] = (day.weeks[k] ?? 0) + (byTime.get(b) ?? 0);
      });
    }
    let baselineDaysExcluded = 0;
    days.forEach((day, d) => {
      if (day === undefined) return;
      day.weeks = day.weeks.map((v, k) => {
        if (!(blocked[d] as boolean[])[k]) return v;
        baselineDaysExcluded += 1;
        return undefined;
      });
    });
    return { series: { store: name, days }, missingDays, baselineDaysExcluded };
  };

  const seed = seedOf(campaign.id);
  const base = { seed, weeks: options.weeks };
  const test = testStores.map(seriesOf);
  const control = controlStores.map(seriesOf);
  for (const s of [...test, ...control]) {
    if (s.missingDays.length > 0) warnings.push(`store ${s.series.store}: no footfall data on ${s.missingDays.join(', ')}`);
  }
  const perStore = (useControl: boolean): StoreEstimate[] =>
    test.map((s) => ({
      store: s.series.store,
      missingDays: s.missingDays,
      baselineDaysExcluded: s.baselineDaysExcluded,
      ...estimate([s.series], useControl ? control.map((c) => c.series) : undefined, base),
    }));

  const baselineTotal = estimate(test.map((s) => s.series), undefined, base);
  let controlPart: CampaignReport['control'] = null;
  if (controlStores.length > 0) {
    const controlAlone = estimate(control.map((c) => c.series), undefined, base);
    controlPart = { controlStores, controlChangePct: controlAlone.upliftPct, total: estimate(test.map((s) => s.series), control.map((c) => c.series), base), stores: perStore(true) };
  }
  const weeksShort = test.some((s) => s.baselineDaysExcluded > 0);
  if (weeksShort) warnings.push('some baseline days were left out (other campaigns, excluded dates or missing data): those days rest on fewer weeks');
  const headline = controlPart === null ? 'baseline' : 'control';
  return {
    campaign: {
      id: campaign.id,
      name: campaign.name,
      mall: campaign.mall,
      stores: campaign.stores,
      controlStores: campaign.controlStores,
      start: formatZoned(campaign.startMs, tz),
      end: formatZoned(campaign.endMs, tz),
    },
    timeZone: tz,
    generatedAt: new Date(options.nowMs).toISOString(),
    method: {
      weeks: options.weeks,
      slotMinutes: slotMs / 60_000,
      resamples: reportDefaults.resamples,
      level: reportDefaults.level,
      seed,
      excludedDates: [...excluded].sort(),
      uplift: controlPart === null ? 'actual ÷ baseline − 1' : 'actual ÷ baseline − 1 (baseline); actual ÷ (baseline × control during ÷ control baseline) − 1 (control)',
    },
    days: dayNames,
    baseline: { total: baselineTotal, stores: perStore(false) },
    control: controlPart,
    headline,
    verdict: (controlPart?.total ?? baselineTotal).verdictText,
    warnings,
  };
}
