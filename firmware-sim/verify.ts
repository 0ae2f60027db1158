import type { TimeSeriesStore } from '../ingest/store/types.ts';
import type { TruthRecord } from './truth.ts';

export interface VerifyOptions {
  /** Largest accepted |error| of door entries and exits, in % (0: exact). */
  footfallTolerancePct: number;
  /** Largest accepted |error| of the probe visitor and unique-shopper estimates, in %; absent: report only. */
  visitorsTolerancePct?: number;
  /** Visitor definition per store (the ingest settings): minimum dwell, in s. */
  visitorMinDwellS: (store: string) => number;
}

export interface Figure {
  truth: number | null;
  stored: number | null;
  /** (stored − truth) ÷ truth in %; null when either is missing. */
  errorPct: number | null;
}

export interface StoreVerdict {
  store: string;
  entries: Figure;
  exits: Figure;
  visitors: Figure;
  uniqueShoppers: Figure;
  captureRate: Figure;
  medianDwellS: Figure;
  ok: boolean;
  problems: string[];
}

export interface VerifyReport {
  mall: string;
  fromMs: number;
  toMs: number;
  stores: StoreVerdict[];
  ok: boolean;
}

// Measurement names: `footfall` (ingest/door), probe analytics as defined in ingest/probe/changes.ts.
const m = { footfall: 'footfall', visits: 'visits', visit: 'visit', devicesDaily: 'devices_daily' } as const;

/** Compares the truth of one simulated run with what the platform stored. */
export async function verifyRun(records: readonly TruthRecord[], store: TimeSeriesStore, options: VerifyOptions): Promise<VerifyReport> {
  const run = records.find((r) => r.type === 'run');
  if (run === undefined) throw new Error('truth has no run record');
  const end = records.find((r) => r.type === 'end');
  const endMs = end?.tsMs ?? run.endMs;
  if (endMs === null) throw new Error('truth has no end record: the run did not finish');
  // Clock skew moves readings across the window's edges; widen it by the largest skew injected.
  const skewMs = Math.max(0, ...records.map((r) => (r.type === 'fault' && r.fault === 'clockSkew' ? Math.abs(Number(r.detail?.skewMs ?? 0)) : 0)));
  const fromMs = run.startMs - skewMs - 60_000;
  const toMs = endMs + skewMs + 60_000;
  const where = { mall: run.mall };
  const [footfall, visits, visitRows, daily] = await Promise.all([
    store.query({ measurement: m.footfall, fields: ['entries', 'exits'], aggregate: 'sum', where, fromMs, toMs, groupBy: ['store'] }),
    store.query({ measurement: m.visits, fields: ['visitors', 'passers_by'], aggregate: 'sum', where, fromMs, toMs, groupBy: ['store'] }),
    store.query({ measurement: m.visit, fields: ['dwell_s', 'visitor'], aggregate: 'none', where, fromMs, toMs, groupBy: ['store'] }),
    store.query({ measurement: m.devicesDaily, fields: ['visitors'], aggregate: 'sum', where, fromMs: fromMs - 86_400_000, toMs, groupBy: ['store'] }),
  ]);
  const byStore = <T extends { tags: Record<string, string> }>(rows: readonly T[], s: string): T[] => rows.filter((r) => r.tags.store === s);

  const stores = run.stores.map((s): StoreVerdict => {
    const minDwellS = options.visitorMinDwellS(s);
    let entries = 0;
    let exits = 0;
    let passersBy = 0;
    let visitors = 0;
    let shortVisits = 0;
    let uniques = 0;
    const dwells: number[] = [];
    for (const r of records) {
      if (r.type === 'minute' && r.store === s) {
        entries += r.entries;
        exits += r.exits;
        passersBy += r.passersBy;
      } else if (r.type === 'visit' && r.store === s) {
        if (r.dwellS >= minDwellS) {
          visitors += 1;
          dwells.push(r.dwellS);
        } else {
          shortVisits += 1;
        }
      } else if (r.type === 'day' && r.store === s) {
        uniques += r.uniqueShoppers;
      }
    }
    const ff = byStore(footfall, s)[0]?.values;
    const vs = byStore(visits, s)[0]?.values;
    const storedDwells = byStore(visitRows, s)
      .filter((r) => r.values.visitor === 1 && r.values.dwell_s !== null)
      .map((r) => r.values.dwell_s as number);
    const dailyRows = byStore(daily, s);
    const estVisitors = vs?.visitors ?? null;
    const estPassers = vs?.passers_by ?? null;
    const verdict: StoreVerdict = {
      store: s,
      entries: figure(entries, ff?.entries ?? 0),
      exits: figure(exits, ff?.exits ?? 0),
      visitors: figure(visitors, estVisitors),
      uniqueShoppers: figure(uniques, dailyRows.length > 0 ? dailyRows.reduce((n, r) => n + (r.values.visitors ?? 0), 0) : null),
      captureRate: figure(ratio(visitors, visitors + shortVisits + passersBy), estVisitors === null ? null : ratio(estVisitors, estVisitors + (estPassers ?? 0))),
      medianDwellS: figure(median(dwells), median(storedDwells)),
      ok: true,
      problems: [],
    };
    const check = (name: string, f: Figure, tolerancePct: number): void => {
      if (f.errorPct === null || Math.abs(f.errorPct) > tolerancePct + 1e-9) verdict.problems.push(`${name} ${describe(f)} outside ±${tolerancePct}%`);
    };
    check('entries', verdict.entries, options.footfallTolerancePct);
    check('exits', verdict.exits, options.footfallTolerancePct);
    if (options.visitorsTolerancePct !== undefined) {
      check('visitors', verdict.visitors, options.visitorsTolerancePct);
      check('unique shoppers', verdict.uniqueShoppers, options.visitorsTolerancePct);
    }
    verdict.ok = verdict.problems.length === 0;
    return verdict;
  });
  return { mall: run.mall, fromMs, toMs, stores, ok: stores.every((s) => s.ok) };
}

function figure(truth: number | null, stored: number | null): Figure {
  let errorPct: number | null = null;
  if (truth !== null && stored !== null) errorPct = truth === 0 ? (stored === 0 ? 0 : Number.POSITIVE_INFINITY) : ((stored - truth) / truth) * 100;
  return { truth, stored, errorPct };
}

function ratio(a: number, b: number): number | null {
  return b > 0 ? a / b : null;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function describe(f: Figure): string {
  return `${fmt(f.stored)} vs true ${fmt(f.truth)}`;
}

function fmt(n: number | null, digits = 0): string {
  if (n === null) return '-';
  return digits === 0 && Number.isInteger(n) ? String(n) : n.toFixed(digits === 0 ? 2 : digits);
}

function pct(n: number | null): string {
  if (n === null) return '-';
  if (!Number.isFinite(n)) return 'inf';
  return `${n >= 0 ? '+' : ''}${n.toFixed(1)}%`;
}

/** The per-store table `plaza sim verify` prints. */
export function formatReport(report: VerifyReport): string {
  const header = ['store', 'entries', 'err', 'exits', 'err', 'visitors', 'est', 'err', 'uniques', 'est', 'err', 'capture', 'est', 'dwell p50 s', 'est', 'ok'];
  const rows = report.stores.map((s) => [
    s.store,
    fmt(s.entries.truth),
    pct(s.entries.errorPct),
    fmt(s.exits.truth),
    pct(s.exits.errorPct),
    fmt(s.visitors.truth),
    fmt(s.visitors.stored),
    pct(s.visitors.errorPct),
    fmt(s.uniqueShoppers.truth),
    fmt(s.uniqueShoppers.stored),
    pct(s.uniqueShoppers.errorPct),
    fmt(s.captureRate.truth, 3),
    fmt(s.captureRate.stored, 3),
    fmt(s.medianDwellS.truth),
    fmt(s.medianDwellS.stored),
    s.ok ? 'yes' : 'NO',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const out = [
    `mall ${report.mall}, ${new Date(report.fromMs).toISOString()} .. ${new Date(report.toMs).toISOString()}`,
    'entries/exits: door counters vs truth; visitors, uniques, capture rate, dwell: probe estimates (devices) vs truth (people)',
    line(header),
    ...rows.map(line),
  ];
  for (const s of report.stores) for (const p of s.problems) out.push(`FAIL ${s.store}: ${p}`);
  out.push(report.ok ? 'OK: within tolerances' : 'FAILED: outside tolerances');
  return out.join('\n');
}
