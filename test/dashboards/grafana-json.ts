import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { dashboardsDir } from '../../dashboards/grafana/build.ts';
import type { VariableState } from './grafana-expand.ts';
import { db } from './grafana-fixture.ts';

/** The parts of Grafana's dashboard JSON the dashboard tests read. */
export interface Target {
  refId: string;
  datasource: { type: string; uid: string };
  query?: string;
  expression?: string;
  expr?: string;
  hide?: boolean;
}
export interface PanelJson {
  type: string;
  title: string;
  timeShift?: string;
  targets?: Target[];
}
export interface VariableJson {
  name: string;
  type: string;
  query: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
}
export interface DashboardJson {
  uid: string;
  title: string;
  panels: PanelJson[];
  templating: { list: VariableJson[] };
  annotations: { list: { datasource: { type: string }; query?: string; textColumn?: string; timeEndColumn?: string; tagsColumn?: string }[] };
}
export interface Series {
  name: string;
  tags: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

/** Every committed dashboard, by file name without `.json`. */
export function loadDashboards(): Record<string, DashboardJson> {
  return Object.fromEntries(
    readdirSync(dashboardsDir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => [f.replace(/\.json$/, ''), JSON.parse(readFileSync(path.join(dashboardsDir, f), 'utf8')) as DashboardJson]),
  );
}

/** The datasource's own request: POST /query (httpMode POST), database from dbName, epoch ms. */
export async function influxQuery(url: string, q: string): Promise<Series[]> {
  const response = await fetch(`${url}/query`, { method: 'POST', body: new URLSearchParams({ db, q, epoch: 'ms' }) });
  const body = (await response.json()) as { error?: string; results?: { error?: string; series?: (Omit<Series, 'tags'> & { tags?: Record<string, string> })[] }[] };
  if (!response.ok || body.error !== undefined) throw new Error(`InfluxDB ${response.status}: ${body.error ?? ''}\n${q}`);
  const errors = (body.results ?? []).map((r) => r.error).filter((e) => e !== undefined);
  if (errors.length > 0) throw new Error(`InfluxQL error: ${errors.join('; ')}\n${q}`);
  return (body.results ?? []).flatMap((r) => r.series ?? []).map((s) => ({ ...s, tags: s.tags ?? {} }));
}

/** Numeric values of a series' value columns (every column but time), nulls dropped. */
export function numbers(series: Series): number[] {
  return series.values.flatMap((row) => row.slice(1)).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

/** Variables as Grafana holds them after loading the dashboard and the user's selection. */
export function variableStates(dashboard: DashboardJson, chosen: Record<string, string[]>, optionsOf: (key: string) => string[] | undefined): VariableState[] {
  return dashboard.templating.list
    .filter((v) => v.type !== 'datasource')
    .map((v) => ({
      name: v.name,
      multi: v.multi === true,
      includeAll: v.includeAll === true,
      allValue: v.allValue ?? null,
      current: chosen[v.name] ?? [],
      options: v.type === 'custom' ? v.query.split(',') : (optionsOf(`${dashboard.uid}/${v.name}`) ?? []),
    }));
}
