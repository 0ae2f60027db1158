import { afterAll, describe, expect, it } from 'vitest';
import type { Campaign } from '../../dashboards/campaigns/model.ts';
import { buildReport, type CampaignReport, type ReportOptions } from '../../dashboards/campaigns/report.ts';
import type { SqliteStore } from '../../ingest/store/sqlite.ts';
import { dayMs, firstMondayMs, mall, storeWith, syntheticFootfall, timeZone } from './campaigns-fixture.ts';

const hourMs = 3600 * 1000;
// The campaign runs the whole 7th week (days 42-48), 10:00 to closing; six weeks before it are the baseline.
const startMs = firstMondayMs + 42 * dayMs + 10 * hourMs;
const endMs = firstMondayMs + 49 * dayMs;
const nowMs = firstMondayMs + 50 * dayMs;

function campaign(over: Partial<Campaign> = {}): Campaign {
  return { id: 'spring', name: 'Spring', mall, stores: ['a', 'b'], controlStores: [], startMs, endMs, notes: '', createdMs: 0, updatedMs: 0, ...over };
}

function options(over: Partial<ReportOptions> = {}): ReportOptions {
  return { weeks: 6, excludeDates: [], nowMs, timeZone, otherCampaigns: [], ...over };
}

function store(report: CampaignReport, method: 'baseline' | 'control', name: string) {
  const part = method === 'baseline' ? report.baseline : report.control;
  const found = part?.stores.find((s) => s.store === name);
  if (found === undefined) throw new Error(`no ${method} estimate for ${name}`);
  return found;
}

const stores: SqliteStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close();
});

describe('campaign report: same-weekday baseline', () => {
  it('finds a +30 % uplift within its interval and calls an untouched store "no effect"', async () => {
    const ts = await storeWith(syntheticFootfall({ days: 49, seed: 11, effects: [{ store: 'a', fromMs: startMs, toMs: endMs, factor: 1.3 }] }));
    stores.push(ts);
    const report = await buildReport(ts, campaign(), options());
    const a = store(report, 'baseline', 'a');
    const b = store(report, 'baseline', 'b');
    expect(report.days).toHaveLength(7);
    expect(a.days).toBe(7);
    expect(a.interval).not.toBeNull();
    expect(a.interval?.lowPct).toBeLessThan(30);
    expect(a.interval?.highPct).toBeGreaterThan(30);
    expect(a.verdict).toBe('increase');
    expect(b.verdict).toBe('no-effect');
    expect(b.interval?.lowPct).toBeLessThan(0);
    expect(b.interval?.highPct).toBeGreaterThan(0);
    expect(b.verdictText).toMatch(/^no measurable effect: the 95 % interval .* includes zero/);
    // The total pools a (+30 %) and b (0 %), weighted by footfall: between the two.
    expect(report.baseline.total.upliftPct).toBeGreaterThan(5);
    expect(report.baseline.total.upliftPct).toBeLessThan(25);
    expect(report.control).toBeNull();
    expect(report.headline).toBe('baseline');
    expect(report.verdict).toBe(report.baseline.total.verdictText);
    // Reproducible: the seed comes from the campaign id.
    expect(await buildReport(ts, campaign(), options())).toEqual(report);
  });

  it('leaves baseline hours of other campaigns at the same store out, and excluded dates too', async () => {
    const week3 = { fromMs: firstMondayMs + 28 * dayMs, toMs: firstMondayMs + 35 * dayMs };
    const ts = await storeWith(syntheticFootfall({ days: 49, seed: 12, effects: [{ store: 'b', ...week3, factor: 2 }] }));
    stores.push(ts);
    const other = campaign({ id: 'winter', stores: ['b'], startMs: week3.fromMs, endMs: week3.toMs });
    const polluted = await buildReport(ts, campaign(), options());
    const clean = await buildReport(ts, campaign(), options({ otherCampaigns: [other] }));
    // Counting the doubled week in the baseline makes b look like it fell by about 1/7.
    expect(polluted.baseline.stores.find((s) => s.store === 'b')?.verdict).toBe('decrease');
    const b = store(clean, 'baseline', 'b');
    expect(b.verdict).toBe('no-effect');
    expect(b.baselineDaysExcluded).toBe(7);
    expect(store(clean, 'baseline', 'a').baselineDaysExcluded).toBe(0);
    expect(clean.warnings.join(' ')).toMatch(/baseline days were left out/);
    // The same effect through excluded dates (holidays): the seven dates of week 5 before the campaign.
    const dates = Array.from({ length: 7 }, (_, i) => new Date(firstMondayMs + (28 + i) * dayMs + 8 * hourMs).toISOString().slice(0, 10));
    const holidays = await buildReport(ts, campaign(), options({ excludeDates: dates }));
    expect(store(holidays, 'baseline', 'b').verdict).toBe('no-effect');
    expect(holidays.method.excludedDates).toEqual(dates);
  });

  it('reports a store without data on a campaign day and does not count that day', async () => {
    const ts = await storeWith(syntheticFootfall({ days: 49, seed: 13, effects: [], skip: [{ store: 'b', dayIndex: 44 }] }));
    stores.push(ts);
    const report = await buildReport(ts, campaign(), options());
    const b = store(report, 'baseline', 'b');
    expect(b.days).toBe(6);
    expect(b.missingDays).toEqual(['2026-02-18']);
    expect(report.warnings).toContain('store b: no footfall data on 2026-02-18');
    expect(b.verdict).toBe('no-effect');
  });

  it('gives no interval for a campaign shorter than three days, and says so', async () => {
    const ts = await storeWith(syntheticFootfall({ days: 49, seed: 14, effects: [] }));
    stores.push(ts);
    const report = await buildReport(ts, campaign({ endMs: startMs + 30 * hourMs }), options());
    expect(report.baseline.total.interval).toBeNull();
    expect(report.baseline.total.verdict).toBe('insufficient-data');
    expect(report.verdict).toMatch(/^not enough data for an interval: 2 campaign day\(s\) with data/);
  });

  it('says "not enough data" without baseline footfall, and covers only the ended part of a running campaign', async () => {
    const ts = await storeWith(syntheticFootfall({ days: 49, seed: 15, effects: [] }).filter((p) => p.tsMs >= startMs));
    stores.push(ts);
    const report = await buildReport(ts, campaign(), options({ nowMs: startMs - 10 * hourMs + 4 * dayMs }));
    expect(report.days).toHaveLength(4);
    expect(report.warnings[0]).toMatch(/still running/);
    expect(report.baseline.total.upliftPct).toBeNull();
    expect(report.verdict).toMatch(/^not enough data/);
  });
});

describe('campaign report: control stores (difference-in-differences)', () => {
  it('separates the campaign from a mall-wide rise that the baseline alone mistakes for uplift', async () => {
    const effects = ['a', 'b', 'c', 'd'].map((s) => ({ store: s, fromMs: startMs, toMs: endMs, factor: 1.2 }));
    effects.push({ store: 'a', fromMs: startMs, toMs: endMs, factor: 1.3 });
    const ts = await storeWith(syntheticFootfall({ days: 49, seed: 21, effects }));
    stores.push(ts);
    const report = await buildReport(ts, campaign({ controlStores: ['c', 'd'] }), options());
    // Baseline alone: b "rose" with the whole mall.
    expect(store(report, 'baseline', 'b').verdict).toBe('increase');
    expect(report.control?.controlChangePct).toBeGreaterThan(10);
    const a = store(report, 'control', 'a');
    const b = store(report, 'control', 'b');
    expect(a.interval?.lowPct).toBeLessThan(30);
    expect(a.interval?.highPct).toBeGreaterThan(30);
    expect(a.verdict).toBe('increase');
    expect(b.verdict).toBe('no-effect');
    expect(report.headline).toBe('control');
    expect(report.verdict).toBe(report.control?.total.verdictText);
    // expected = baseline × control trend, so during ÷ expected − 1 is the reported uplift.
    expect((a.during / a.expected - 1) * 100).toBeCloseTo(a.upliftPct ?? Number.NaN, 6);
  });
});
