/**
 * Small builders for Grafana dashboard JSON (schema 39, Grafana 10.4 / 11). Only what the PlazaPulse dashboards
 * use: raw InfluxQL targets, server-side math expressions, query variables, annotations.
 */

/** The provisioned InfluxDB datasource (provisioning/datasources/influxdb.yaml). */
export const influxDs = { type: 'influxdb', uid: 'plaza-influxdb' } as const;
/** Grafana's server-side expressions pseudo-datasource. */
export const exprDs = { type: '__expr__', uid: '__expr__' } as const;

export interface InfluxTarget {
  refId: string;
  datasource: typeof influxDs;
  rawQuery: true;
  query: string;
  resultFormat: 'time_series' | 'table';
  alias?: string;
}

export interface MathTarget {
  refId: string;
  datasource: typeof exprDs;
  type: 'math';
  expression: string;
}

/** A PromQL target against the optional Prometheus datasource chosen in the `prometheus` variable. */
export interface PromTarget {
  refId: string;
  datasource: { type: 'prometheus'; uid: '${prometheus}' };
  expr: string;
  legendFormat?: string;
}

export type Target = InfluxTarget | MathTarget | PromTarget;

export function prom(refId: string, expr: string, legendFormat?: string): PromTarget {
  return { refId, datasource: { type: 'prometheus', uid: '${prometheus}' }, expr, ...(legendFormat === undefined ? {} : { legendFormat }) };
}

export function influx(refId: string, query: string, options: { table?: boolean; alias?: string } = {}): InfluxTarget {
  return {
    refId,
    datasource: influxDs,
    rawQuery: true,
    query,
    resultFormat: options.table === true ? 'table' : 'time_series',
    ...(options.alias === undefined ? {} : { alias: options.alias }),
  };
}

export function math(refId: string, expression: string): MathTarget {
  return { refId, datasource: exprDs, type: 'math', expression };
}

export interface PanelOptions {
  unit?: string;
  description?: string;
  /** Panel time shift, e.g. `7d` or a variable; Grafana moves the whole range back by it. */
  timeShift?: string;
  decimals?: number;
  min?: number;
  max?: number;
  stacking?: boolean;
  hiddenRefIds?: string[];
}

export type PanelType = 'timeseries' | 'stat' | 'table' | 'bargauge' | 'barchart' | 'row';

export interface Panel {
  id: number;
  type: PanelType;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: Target['datasource'] | { type: 'datasource'; uid: '-- Mixed --' };
  targets?: Target[];
  [key: string]: unknown;
}

/** Lays panels out left to right in rows of 24 columns. */
export class Layout {
  private x = 0;
  private y = 0;
  private rowHeight = 0;
  private nextId = 1;
  readonly panels: Panel[] = [];

  row(title: string): void {
    this.newLine();
    this.panels.push({ id: this.nextId++, type: 'row', title, collapsed: false, gridPos: { x: 0, y: this.y, w: 24, h: 1 }, panels: [] });
    this.y += 1;
  }

  add(type: Exclude<PanelType, 'row'>, title: string, w: number, h: number, targets: Target[], options: PanelOptions = {}): void {
    if (this.x + w > 24) this.newLine();
    const hasMath = targets.some((t) => t.datasource.type === '__expr__');
    const defaults: Record<string, unknown> = { unit: options.unit ?? 'short' };
    if (options.decimals !== undefined) defaults.decimals = options.decimals;
    if (options.min !== undefined) defaults.min = options.min;
    if (options.max !== undefined) defaults.max = options.max;
    if (type === 'timeseries') defaults.custom = { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, spanNulls: false, stacking: { mode: options.stacking === true ? 'normal' : 'none', group: 'A' } };
    const hidden = new Set(options.hiddenRefIds ?? []);
    this.panels.push({
      id: this.nextId++,
      type,
      title,
      ...(options.description === undefined ? {} : { description: options.description }),
      gridPos: { x: this.x, y: this.y, w, h },
      datasource: hasMath ? { type: 'datasource', uid: '-- Mixed --' } : (targets[0]?.datasource ?? influxDs),
      ...(options.timeShift === undefined ? {} : { timeShift: options.timeShift }),
      targets: targets.map((t) => (hidden.has(t.refId) ? { ...t, hide: true } : t)),
      fieldConfig: { defaults, overrides: [] },
      options: panelOptions(type),
    });
    this.x += w;
    this.rowHeight = Math.max(this.rowHeight, h);
  }

  private newLine(): void {
    this.y += this.rowHeight;
    this.x = 0;
    this.rowHeight = 0;
  }
}

function panelOptions(type: Exclude<PanelType, 'row'>): Record<string, unknown> {
  const reduce = { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false } };
  switch (type) {
    case 'stat':
      return { ...reduce, colorMode: 'value', graphMode: 'area', textMode: 'auto', justifyMode: 'auto', orientation: 'auto' };
    case 'bargauge':
      return { ...reduce, displayMode: 'basic', orientation: 'horizontal', showUnfilled: true };
    case 'barchart':
      return { orientation: 'auto', showValue: 'auto', stacking: 'none', legend: { displayMode: 'list', placement: 'bottom', showLegend: true } };
    case 'table':
      return { showHeader: true, cellHeight: 'sm' };
    case 'timeseries':
      return { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } };
  }
}

export interface Variable {
  name: string;
  [key: string]: unknown;
}

/** A variable filled by an InfluxQL query (SHOW TAG VALUES …). */
export function queryVariable(name: string, label: string, query: string, options: { multi?: boolean; includeAll?: boolean; refreshOnTimeChange?: boolean } = {}): Variable {
  return {
    name,
    label,
    type: 'query',
    datasource: influxDs,
    query,
    definition: query,
    // 1: on dashboard load, 2: on time range change.
    refresh: options.refreshOnTimeChange === true ? 2 : 1,
    multi: options.multi === true,
    includeAll: options.includeAll === true,
    // null: All expands to every value as a regex alternation, never to a custom wildcard.
    allValue: null,
    sort: 1,
    current: {},
    options: [],
    hide: 0,
  };
}

/** A variable with fixed choices; the first is the default. */
export function customVariable(name: string, label: string, choices: readonly string[], description: string): Variable {
  const first = choices[0] ?? '';
  return {
    name,
    label,
    description,
    type: 'custom',
    query: choices.join(','),
    multi: false,
    includeAll: false,
    current: { text: first, value: first, selected: true },
    options: choices.map((c, i) => ({ text: c, value: c, selected: i === 0 })),
    hide: 0,
  };
}

export interface Dashboard {
  uid: string;
  title: string;
  description: string;
  tags: string[];
  panels: Panel[];
  variables: Variable[];
  annotations?: Record<string, unknown>[];
  time?: { from: string; to: string };
  refresh?: string;
}

/** The dashboard JSON Grafana's file provider loads. */
export function dashboardJson(d: Dashboard): Record<string, unknown> {
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: d.tags,
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: d.time ?? { from: 'now-6h', to: 'now' },
    refresh: d.refresh ?? '1m',
    templating: { list: d.variables },
    annotations: {
      list: [
        { builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' },
        ...(d.annotations ?? []),
      ],
    },
    links: [{ title: 'PlazaPulse', type: 'dashboards', tags: ['plazapulse'], asDropdown: true }],
    panels: d.panels,
  };
}
