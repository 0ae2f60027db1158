/**
 * Grafana's InfluxQL query preparation, reproduced for tests (Grafana cannot run here). Two stages, as in
 * Grafana 10/11 with the InfluxQL backend:
 * 1. the frontend interpolates dashboard variables (templateSrv.replace with the InfluxDB datasource's
 *    interpolateQueryExpr: regex-escaped values, `(a|b)` for several values, every value for All);
 * 2. the backend (pkg/tsdb/influxdb/models/query.go Build) replaces $timeFilter, $interval, $__interval_ms and
 *    $__interval, with the interval the frontend computed (rangeutil.calculateInterval) and formatted by
 *    gtime.FormatInterval.
 */

export interface VariableState {
  name: string;
  multi: boolean;
  includeAll: boolean;
  /** Selected values; ['$__all'] for All. */
  current: string[];
  /** Every option value (for All). */
  options: string[];
  /** Custom All value; null: All means every option. */
  allValue: string | null;
}

/** @grafana/data escapeRegex. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

/** True when `$name` stands inside a regex literal of an `=~` or `!~` comparison. */
function usedAsRegex(query: string, name: string): boolean {
  return new RegExp(`[=!]~\\s*/[^/]*\\$\\{?${name}\\b`).test(query);
}

/** The InfluxDB datasource's interpolateQueryExpr for one variable. */
export function formatVariable(variable: VariableState, query: string): string {
  const all = variable.current.length === 1 && variable.current[0] === '$__all';
  if (all && variable.allValue !== null) return variable.allValue;
  const values = all ? variable.options : variable.current;
  if (!variable.multi && !variable.includeAll) {
    const value = values[0] ?? '';
    return usedAsRegex(query, variable.name) ? escapeRegex(value) : value;
  }
  const escaped = values.map(escapeRegex);
  return escaped.length === 1 ? (escaped[0] ?? '') : `(${escaped.join('|')})`;
}

// templateSrv's variable syntax: $name, [[name]], ${name} (formats are not used by these dashboards).
const variablePattern = /\$(\w+)|\[\[(\w+?)\]\]|\$\{(\w+)\}/g;

/** Stage 1: dashboard variables; unknown names (e.g. $timeFilter) stay for the backend. */
export function interpolateVariables(text: string, variables: readonly VariableState[], scoped: Record<string, string> = {}): string {
  const byName = new Map(variables.map((v) => [v.name, v]));
  return text.replace(variablePattern, (match, a?: string, b?: string, c?: string) => {
    const name = a ?? b ?? c ?? '';
    if (Object.hasOwn(scoped, name)) return scoped[name] as string;
    const variable = byName.get(name);
    return variable === undefined ? match : formatVariable(variable, text);
  });
}

/** rangeutil / gtime roundInterval: the interval Grafana snaps a raw range ÷ data points to, in ms. */
export function roundIntervalMs(ms: number): number {
  const steps: [number, number][] = [
    [10, 1], [15, 10], [35, 20], [75, 50], [150, 100], [350, 200], [750, 500], [1500, 1000], [3500, 2000], [7500, 5000],
    [12_500, 10_000], [17_500, 15_000], [25_000, 20_000], [45_000, 30_000], [90_000, 60_000], [210_000, 120_000],
    [450_000, 300_000], [750_000, 600_000], [1_050_000, 900_000], [1_500_000, 1_200_000], [2_700_000, 1_800_000],
    [5_400_000, 3_600_000], [9_000_000, 7_200_000], [16_200_000, 10_800_000], [32_400_000, 21_600_000],
    [86_400_000, 43_200_000], [172_800_000, 86_400_000], [604_800_000, 86_400_000], [1_814_400_000, 604_800_000],
  ];
  for (const [limit, step] of steps) if (ms <= limit) return step;
  return ms < 3_628_800_000 ? 2_592_000_000 : 31_536_000_000;
}

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

/** Grafana duration strings (`1m`, `7d`). */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text.trim());
  if (match === null) throw new Error(`not a Grafana duration: ${JSON.stringify(text)}`);
  return Number(match[1]) * (unitMs[match[2] as string] as number);
}

/** rangeutil.calculateInterval: round range ÷ max data points, then raise to the minimum interval. */
export function calculateIntervalMs(fromMs: number, toMs: number, maxDataPoints: number, minInterval: string | undefined): number {
  const intervalMs = roundIntervalMs((toMs - fromMs) / maxDataPoints);
  const lowLimitMs = minInterval === undefined ? 1 : durationMs(minInterval);
  return Math.max(intervalMs, lowLimitMs);
}

/** gtime.FormatInterval: the largest whole unit. */
export function formatInterval(ms: number): string {
  const units: [string, number][] = [['y', unitMs.y as number], ['d', unitMs.d as number], ['h', unitMs.h as number], ['m', unitMs.m as number], ['s', 1000], ['ms', 1]];
  for (const [unit, size] of units) if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  return '1ms';
}

/** Stage 2: the backend's macros. */
export function expandMacros(query: string, fromMs: number, toMs: number, intervalMs: number): string {
  const text = formatInterval(intervalMs);
  return query
    .replaceAll('$timeFilter', `time >= ${fromMs}ms and time <= ${toMs}ms`)
    .replaceAll('$interval', text)
    .replaceAll('$__interval_ms', String(intervalMs))
    .replaceAll('$__interval', text);
}

export interface PanelRequest {
  fromMs: number;
  toMs: number;
  maxDataPoints: number;
  minInterval: string | undefined;
  timeShift?: string;
}

/** A panel query as Grafana sends it to InfluxDB: shifted range, variables, then macros. */
export function prepareQuery(query: string, variables: readonly VariableState[], request: PanelRequest): string {
  let { fromMs, toMs } = request;
  if (request.timeShift !== undefined) {
    const shiftMs = durationMs(interpolateVariables(request.timeShift, variables));
    fromMs -= shiftMs;
    toMs -= shiftMs;
  }
  const intervalMs = calculateIntervalMs(fromMs, toMs, request.maxDataPoints, request.minInterval);
  const scoped = { __interval: formatInterval(intervalMs), __interval_ms: String(intervalMs) };
  return expandMacros(interpolateVariables(query, variables, scoped), fromMs, toMs, intervalMs);
}
