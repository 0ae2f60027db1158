/**
 * The arithmetic of the campaign report, free of I/O: expected footfall from same-weekday baselines, the
 * control-store adjustment, and a seeded bootstrap over days. docs/campaigns.md explains the method.
 */

/** One store on one campaign day: entries during the day's campaign slots and the same slots k weeks earlier. */
export interface StoreDay {
  during: number;
  /** Index k−1 holds the entries of the same local slots k weeks earlier; undefined where excluded or missing. */
  weeks: (number | undefined)[];
}

export interface StoreSeries {
  store: string;
  /** Aligned with the campaign days; undefined where the store has no data on that campaign day. */
  days: (StoreDay | undefined)[];
}

export interface Interval {
  lowPct: number;
  highPct: number;
}

export type Verdict = 'increase' | 'decrease' | 'no-effect' | 'insufficient-data';

export interface Estimate {
  /** Campaign days that entered the estimate. */
  days: number;
  /** Entries during the campaign (those days). */
  during: number;
  /** Entries expected without the campaign. */
  expected: number;
  upliftPct: number | null;
  interval: Interval | null;
  verdict: Verdict;
  /** One sentence for people, e.g. "no measurable effect: the 95 % interval (−3 % to +5 %) includes zero". */
  verdictText: string;
}

export const reportDefaults = {
  /** Bootstrap resamples. */
  resamples: 2000,
  /** Two-sided interval level. */
  level: 0.95,
  /** Fewest campaign days for an interval: fewer days say nothing about day-to-day noise. */
  minDays: 3,
} as const;

/** mulberry32: small, fast, good enough for resampling, and the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a text: the report's seed comes from the campaign id, so the same campaign gives the same interval. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Mean of the weeks a draw picked that are available, or undefined when none is. */
function baselineOf(day: StoreDay, weekDraw: readonly number[]): number | undefined {
  let sum = 0;
  let n = 0;
  for (const k of weekDraw) {
    const value = day.weeks[k];
    if (value === undefined) continue;
    sum += value;
    n += 1;
  }
  return n === 0 ? undefined : sum / n;
}

interface Sums {
  during: number;
  expected: number;
  days: number;
}

/** Entries during and expected, summed over stores and the drawn days (each with its drawn baseline weeks). */
function sumsOf(series: readonly StoreSeries[], dayDraw: readonly number[], weekDraws: readonly (readonly number[])[]): Sums {
  const sums: Sums = { during: 0, expected: 0, days: 0 };
  dayDraw.forEach((d, i) => {
    let counted = false;
    for (const s of series) {
      const day = s.days[d];
      if (day === undefined) continue;
      const base = baselineOf(day, weekDraws[i] ?? []);
      if (base === undefined) continue;
      sums.during += day.during;
      sums.expected += base;
      counted = true;
    }
    if (counted) sums.days += 1;
  });
  return sums;
}

/** Relative uplift of test stores: against their baseline alone, or against it scaled by the controls' trend. */
function upliftOf(test: Sums, control: Sums | undefined): number | null {
  if (test.expected <= 0) return null;
  let expected = test.expected;
  if (control !== undefined) {
    if (control.expected <= 0 || control.during <= 0) return null;
    // Forecast: what the test stores would have done had they followed the control stores' change.
    expected *= control.during / control.expected;
  }
  return (test.during / expected - 1) * 100;
}

function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

function pct(value: number): string {
  const rounded = Math.round(value * 10) / 10;
  return `${rounded > 0 ? '+' : rounded < 0 ? '−' : ''}${Math.abs(rounded).toFixed(1)} %`;
}

function verdictOf(uplift: number | null, interval: Interval | null, days: number, level: number, why: string | undefined): Pick<Estimate, 'verdict' | 'verdictText'> {
  if (uplift === null) return { verdict: 'insufficient-data', verdictText: `not enough data: ${why ?? 'no baseline footfall to compare with'}` };
  if (interval === null) {
    return { verdict: 'insufficient-data', verdictText: `not enough data for an interval: ${days} campaign day(s) with data, at least ${reportDefaults.minDays} needed (point estimate ${pct(uplift)})` };
  }
  const range = `the ${Math.round(level * 100)} % interval (${pct(interval.lowPct)} to ${pct(interval.highPct)})`;
  if (interval.lowPct > 0) return { verdict: 'increase', verdictText: `footfall rose by about ${pct(uplift)}; ${range} lies above zero` };
  if (interval.highPct < 0) return { verdict: 'decrease', verdictText: `footfall fell by about ${pct(uplift)}; ${range} lies below zero` };
  return { verdict: 'no-effect', verdictText: `no measurable effect: ${range} includes zero (point estimate ${pct(uplift)})` };
}

export interface EstimateOptions {
  seed: number;
  resamples?: number;
  level?: number;
  weeks: number;
}

/**
 * Uplift of `test` stores on the campaign days, with a percentile bootstrap interval. Each resample draws
 * campaign days with replacement and, for every drawn day, baseline weeks with replacement, so both
 * day-to-day noise and the noise of the baseline itself widen the interval. With `control`, the expected
 * footfall is the test baseline scaled by the control stores' during ÷ baseline (the same draws for both).
 */
export function estimate(test: readonly StoreSeries[], control: readonly StoreSeries[] | undefined, options: EstimateOptions): Estimate {
  const dayCount = Math.max(0, ...test.map((s) => s.days.length));
  const allDays = Array.from({ length: dayCount }, (_, d) => d);
  const allWeeks = Array.from({ length: options.weeks }, (_, k) => k);
  const fixedWeeks = allDays.map(() => allWeeks);
  const testSums = sumsOf(test, allDays, fixedWeeks);
  const controlSums = control === undefined ? undefined : sumsOf(control, allDays, fixedWeeks);
  const uplift = upliftOf(testSums, controlSums);
  const level = options.level ?? reportDefaults.level;
  const result = { days: testSums.days, during: testSums.during, expected: testSums.expected * (controlSums && controlSums.expected > 0 ? controlSums.during / controlSums.expected : 1) };
  let why: string | undefined;
  if (control !== undefined && controlSums !== undefined && controlSums.expected <= 0) why = 'the control stores have no baseline footfall';
  else if (control !== undefined && controlSums !== undefined && controlSums.during <= 0) why = 'the control stores have no footfall during the campaign';
  if (uplift === null || testSums.days < reportDefaults.minDays) {
    return { ...result, upliftPct: uplift, interval: null, ...verdictOf(uplift, null, testSums.days, level, why) };
  }

  // Only days where the test stores have data are drawn: a missing day is not evidence of anything.
  const usable = allDays.filter((d) => test.some((s) => s.days[d] !== undefined));
  const random = seededRandom(options.seed);
  const draws: number[] = [];
  const resamples = options.resamples ?? reportDefaults.resamples;
  for (let r = 0; r < resamples; r += 1) {
    const dayDraw = usable.map(() => usable[Math.floor(random() * usable.length)] as number);
    const weekDraws = dayDraw.map(() => allWeeks.map(() => Math.floor(random() * options.weeks)));
    const t = sumsOf(test, dayDraw, weekDraws);
    const c = control === undefined ? undefined : sumsOf(control, dayDraw, weekDraws);
    const u = upliftOf(t, c);
    if (u !== null && Number.isFinite(u)) draws.push(u);
  }
  draws.sort((a, b) => a - b);
  // A resample can lose its baseline entirely (all drawn weeks missing); too many such losses mean no interval.
  const interval = draws.length >= resamples * 0.9 ? { lowPct: quantile(draws, (1 - level) / 2), highPct: quantile(draws, 1 - (1 - level) / 2) } : null;
  return { ...result, upliftPct: uplift, interval, ...verdictOf(uplift, interval, testSums.days, level, why) };
}
