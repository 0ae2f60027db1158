import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { dashboardsDir, renderDashboards } from '../../dashboards/grafana/build.ts';
import { type DashboardJson, influxQuery, loadDashboards, numbers, type PanelJson, type Series, variableStates } from './grafana-json.ts';
import { evaluateMath, type Numbers } from './grafana-math.ts';
import { db, type GrafanaFixture, mall, rp, startGrafanaFixture, type StoreId, stores } from './grafana-fixture.ts';
import { calculateIntervalMs, escapeRegex, formatInterval, formatVariable, interpolateVariables, prepareQuery, type VariableState } from './grafana-expand.ts';

const grafanaDir = path.resolve(dashboardsDir, '..');


const dashboards = loadDashboards();



const labelKey = (tags: Record<string, string>): string =>
  Object.entries(tags)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');


/** One number per label set from single-row results, as a math expression sees them. */
function reduceSingle(series: Series[]): Numbers {
  const out: Numbers = new Map();
  for (const s of series) {
    if (s.values.length !== 1 || s.columns.length !== 2) throw new Error(`math input ${s.name} must be one row and one value column`);
    const value = s.values[0]?.[1];
    out.set(labelKey(s.tags), typeof value === 'number' ? value : null);
  }
  return out;
}

interface Scenario {
  name: string;
  store: string[];
  maxDataPoints: number;
}
const scenarios: Scenario[] = [
  { name: 'All stores', store: ['$__all'], maxDataPoints: 1000 },
  { name: 'one store', store: ['fashion'], maxDataPoints: 100 },
  { name: 'two stores', store: ['books', 'cafe'], maxDataPoints: 400 },
];
const campaignStores: StoreId[] = ['fashion', 'books'];
const controlStores: StoreId[] = ['cafe'];

/** What a panel's queries return: InfluxDB series per InfluxQL target, numbers per math target. */
interface PanelResult {
  series: Record<string, Series[]>;
  math: Record<string, Numbers>;
  queries: Record<string, string>;
}

describe('Grafana dashboards against a real InfluxDB filled through ingest', () => {
  let fx: GrafanaFixture;
  const variableOptions = new Map<string, string[]>();

  beforeAll(async () => {
    fx = await startGrafanaFixture();
  }, 120_000);

  afterAll(async () => {
    await fx?.stop();
  });

  /** Variables as Grafana holds them after loading the dashboard and the user's selection. */
  function variablesFor(dashboard: DashboardJson, scenario: Scenario): VariableState[] {
    const chosen: Record<string, string[]> = { rp: [rp], mall: [mall], store: scenario.store, campaign_store: campaignStores, control_store: controlStores, baseline: ['1d'] };
    return variableStates(dashboard, chosen, (key) => variableOptions.get(key));
  }

  async function runPanel(dashboard: DashboardJson, panel: PanelJson, scenario: Scenario): Promise<PanelResult> {
    const variables = variablesFor(dashboard, scenario);
    const result: PanelResult = { series: {}, math: {}, queries: {} };
    const targets = panel.targets ?? [];
    for (const target of targets.filter((t) => t.datasource.type === 'influxdb')) {
      const q = prepareQuery(target.query ?? '', variables, {
        fromMs: fx.fromMs,
        toMs: fx.toMs,
        maxDataPoints: scenario.maxDataPoints,
        minInterval: '1m', // jsonData.timeInterval of the provisioned datasource
        ...(panel.timeShift === undefined ? {} : { timeShift: panel.timeShift }),
      });
      result.queries[target.refId] = q;
      result.series[target.refId] = await influxQuery(fx.influx.url, q);
    }
    for (const target of targets.filter((t) => t.datasource.type === '__expr__')) {
      const refs = Object.fromEntries(Object.entries(result.series).map(([ref, series]) => [ref, reduceSingle(series)]));
      result.math[target.refId] = evaluateMath(target.expression ?? '', refs);
    }
    return result;
  }

  function panel(dashboard: string, title: string): PanelJson {
    const found = dashboards[dashboard]?.panels.find((p) => p.title === title);
    if (found === undefined) throw new Error(`no panel "${title}" in ${dashboard}`);
    return found;
  }

  const run = (dashboard: string, title: string, scenario: Scenario = scenarios[0] as Scenario): Promise<PanelResult> =>
    runPanel(dashboards[dashboard] as DashboardJson, panel(dashboard, title), scenario);
  const single = (r: PanelResult, ref = 'A'): number => {
    const all = (r.series[ref] ?? []).flatMap(numbers);
    expect(all, JSON.stringify(r.series[ref])).toHaveLength(1);
    return all[0] as number;
  };
  const perStore = (series: Series[] | undefined, reduce: (values: number[]) => number): Record<string, number> =>
    Object.fromEntries((series ?? []).map((s) => [s.tags.store ?? '', reduce(numbers(s))]));
  const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
  const sumOf = (record: Record<StoreId, number>, only: readonly StoreId[] = stores): number => only.reduce((n, s) => n + record[s], 0);

  it('the committed dashboard JSON is exactly what dashboards.ts generates', () => {
    const files = renderDashboards();
    expect(Object.keys(files).sort()).toEqual(readdirSync(dashboardsDir).filter((f) => f.endsWith('.json')).sort());
    for (const [file, text] of Object.entries(files)) expect(readFileSync(path.join(dashboardsDir, file), 'utf8'), `${file}: run npx tsx dashboards/grafana/build.ts`).toBe(text);
    expect(Object.keys(dashboards).sort()).toEqual(['campaigns', 'conversion', 'device-health', 'live-traffic']);
  });

  it('provisions an InfluxQL datasource with the uid the dashboards use and a file provider for them', () => {
    const ds = parseYaml(readFileSync(path.join(grafanaDir, 'provisioning/datasources/influxdb.yaml'), 'utf8')) as { apiVersion: number; datasources: Record<string, unknown>[] };
    expect(ds.apiVersion).toBe(1);
    expect(ds.datasources).toHaveLength(1);
    expect(ds.datasources[0]).toMatchObject({ uid: 'plaza-influxdb', type: 'influxdb', access: 'proxy', jsonData: { version: 'InfluxQL', dbName: db, httpMode: 'POST', timeInterval: '1m' } });
    const providers = parseYaml(readFileSync(path.join(grafanaDir, 'provisioning/dashboards/plaza.yaml'), 'utf8')) as { apiVersion: number; providers: { type: string; options: { path: string } }[] };
    expect(providers.apiVersion).toBe(1);
    expect(providers.providers[0]).toMatchObject({ type: 'file', options: { path: '/var/lib/grafana/dashboards/plaza' } });
    for (const d of Object.values(dashboards)) {
      const targets = d.panels.flatMap((p) => p.targets ?? []);
      for (const t of targets) expect(['plaza-influxdb', '__expr__', '${prometheus}'], `${d.title}: ${t.refId}`).toContain(t.datasource.uid);
      expect(new Set(d.panels.map((p) => p.title)).size, `${d.title}: panel titles are unique`).toBe(d.panels.length);
    }
  });

  it('expands variables and macros as Grafana does', () => {
    const store: VariableState = { name: 'store', multi: true, includeAll: true, allValue: null, current: ['$__all'], options: ['a.b', 'c/d', 'e'] };
    expect(formatVariable(store, '"store" =~ /^$store$/')).toBe('(a\\.b|c\\/d|e)');
    expect(formatVariable({ ...store, current: ['a.b'] }, '"store" =~ /^$store$/')).toBe('a\\.b');
    expect(formatVariable({ ...store, allValue: '.*' }, '"store" =~ /^$store$/')).toBe('.*');
    const mallVar: VariableState = { name: 'mall', multi: false, includeAll: false, allValue: null, current: ['x.y'], options: ['x.y'] };
    expect(formatVariable(mallVar, '"mall" =~ /^$mall$/')).toBe('x\\.y');
    expect(formatVariable(mallVar, `"mall" = '$mall'`)).toBe('x.y');
    expect(escapeRegex('a+b(c)')).toBe('a\\+b\\(c\\)');
    expect(interpolateVariables('FROM "$rp"."m" WHERE $timeFilter GROUP BY time($__interval)', [{ ...mallVar, name: 'rp', current: ['autogen'] }], { __interval: '1m' })).toBe(
      'FROM "autogen"."m" WHERE $timeFilter GROUP BY time(1m)',
    );
    expect(calculateIntervalMs(0, 6 * 3_600_000, 1000, '1m')).toBe(60_000);
    expect(calculateIntervalMs(0, 7 * 86_400_000, 1000, '1m')).toBe(600_000);
    expect(formatInterval(600_000)).toBe('10m');
    expect(prepareQuery('SELECT 1 WHERE $timeFilter GROUP BY time($__interval) LIMIT $__interval_ms', [], { fromMs: 1000, toMs: 86_401_000, maxDataPoints: 500, minInterval: '1m' })).toBe(
      'SELECT 1 WHERE time >= 1000ms and time <= 86401000ms GROUP BY time(2m) LIMIT 120000',
    );
  });

  it('every template variable query runs and lists what ingest wrote', async () => {
    for (const d of Object.values(dashboards)) {
      const variables = variablesFor(d, scenarios[0] as Scenario);
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const q = prepareQuery(v.query, variables, { fromMs: fx.fromMs, toMs: fx.toMs, maxDataPoints: 1000, minInterval: '1m' });
        const series = await influxQuery(fx.influx.url, q);
        // Grafana's metricFindQuery takes the first column, or `value` for SHOW TAG VALUES.
        const values = series.flatMap((s) => s.values.map((row) => String(row[s.columns.indexOf('value') >= 0 ? s.columns.indexOf('value') : 0])));
        variableOptions.set(`${d.uid}/${v.name}`, [...new Set(values)].sort());
      }
      expect(variableOptions.get(`${d.uid}/rp`)).toContain(rp);
      expect(variableOptions.get(`${d.uid}/mall`)).toEqual([mall]);
      for (const name of ['store', 'campaign_store', 'control_store']) {
        if (d.templating.list.some((v) => v.name === name)) expect(variableOptions.get(`${d.uid}/${name}`), `${d.title} ${name}`).toEqual([...stores]);
      }
    }
  });

  it.each(scenarios)('every panel query runs without error and returns data ($name)', async (scenario) => {
    let checked = 0;
    for (const d of Object.values(dashboards)) {
      for (const p of d.panels.filter((x) => x.type !== 'row' && (x.targets ?? []).some((t) => t.datasource.type !== 'prometheus'))) {
        const r = await runPanel(d, p, scenario);
        for (const [ref, series] of Object.entries(r.series)) {
          expect(series.flatMap(numbers).length, `${d.title} / ${p.title} / ${ref} returned no data:\n${r.queries[ref]}`).toBeGreaterThan(0);
          checked += 1;
        }
        for (const [ref, values] of Object.entries(r.math)) {
          expect([...values.values()].every((v) => v !== null && Number.isFinite(v)) && values.size > 0, `${d.title} / ${p.title} / ${ref}`).toBe(true);
        }
      }
    }
    expect(checked).toBeGreaterThan(40);
  });

  it('live traffic: mall totals, per-store entries and occupancy equal the known input', async () => {
    const e = fx.expected;
    // The panel range also holds the day before (campaign baseline), so mall totals include it.
    const withBaseline = sumOf(e.entries) + sumOf(e.baselineEntries);
    expect(single(await run('live-traffic', 'Entries'))).toBe(withBaseline);
    expect(single(await run('live-traffic', 'Exits'))).toBe(sumOf(e.exits) + sumOf(e.baselineEntries));
    expect(single(await run('live-traffic', 'Occupancy now'))).toBe(sumOf(e.occupancy));
    expect(single(await run('live-traffic', 'Devices online'))).toBe(e.devicesOnline);
    const perInterval = await run('live-traffic', 'Mall entries and exits per interval');
    expect(sum((perInterval.series.A ?? []).flatMap((s) => s.values.map((row) => row[1] as number)))).toBe(withBaseline);

    for (const scenario of scenarios) {
      const selected = scenario.store[0] === '$__all' ? [...stores] : (scenario.store as StoreId[]);
      const expectedEntries = Object.fromEntries(selected.map((s) => [s, e.entries[s] + e.baselineEntries[s]]));
      expect(perStore((await run('live-traffic', 'Entries per store', scenario)).series.A, sum), scenario.name).toEqual(expectedEntries);
      const occupancy = perStore((await run('live-traffic', 'Occupancy per store', scenario)).series.A, (v) => v.at(-1) ?? Number.NaN);
      expect(occupancy, scenario.name).toEqual(Object.fromEntries(selected.map((s) => [s, e.occupancy[s]])));
      const table = (await run('live-traffic', 'Stores in the time range', scenario)).series.A ?? [];
      expect(Object.fromEntries(table.map((s) => [s.tags.store, s.values[0]?.slice(1)])), scenario.name).toEqual(
        Object.fromEntries(selected.map((s) => [s, [e.entries[s] + e.baselineEntries[s], e.exits[s] + e.baselineEntries[s], e.occupancy[s]]])),
      );
    }
  });

  it('conversion: capture rate, portal funnel and sales conversion equal the known input', async () => {
    const e = fx.expected;
    expect(single(await run('conversion', 'Capture rate'))).toBeCloseTo((100 * e.visitors) / (e.visitors + e.passersBy), 6);
    const funnel = await run('conversion', 'Funnel');
    expect([single(funnel, 'A'), single(funnel, 'B'), single(funnel, 'C'), single(funnel, 'D')]).toEqual([e.visitors, e.logins, e.memberLogins, e.signups]);
    expect([...(await run('conversion', 'Portal conversion (logins ÷ visitors)')).math.C!.values()]).toEqual([(e.logins / e.visitors) * 100]);
    expect([...(await run('conversion', 'Member share (member logins ÷ logins)')).math.C!.values()]).toEqual([(e.memberLogins / e.logins) * 100]);
    const dwell = (await run('conversion', 'Visits by dwell time')).series.A?.[0];
    expect(dwell?.columns.slice(1)).toEqual(['< 5 min', '5–20 min', '20–60 min', '1–6 h', '> 6 h']);
    expect(dwell?.values[0]?.slice(1)).toEqual([0, e.visitors, 0, 0, 0]);

    const entriesWithBaseline = (s: StoreId): number => e.entries[s] + e.baselineEntries[s];
    const sales = await run('conversion', 'Sales conversion');
    expect([...sales.math.C!.values()][0]).toBeCloseTo((100 * sumOf(e.transactions)) / stores.reduce((n, s) => n + entriesWithBaseline(s), 0), 9);
    const oneStore = await run('conversion', 'Sales conversion', scenarios[1]);
    expect([...oneStore.math.C!.values()][0]).toBeCloseTo((100 * e.transactions.fashion) / entriesWithBaseline('fashion'), 9);
    const byStore = (await run('conversion', 'Sales conversion per store')).math.C!;
    expect(Object.fromEntries([...byStore.entries()].map(([k, v]) => [k, Number(v?.toFixed(9))]))).toEqual(
      Object.fromEntries(stores.map((s) => [`store=${s}`, Number(((100 * e.transactions[s]) / entriesWithBaseline(s)).toFixed(9))])),
    );
  });

  it('campaigns: campaign vs control stores now and at the baseline shift, and the campaign window annotation', async () => {
    const e = fx.expected;
    const now = await run('campaigns', 'Campaign stores ÷ control stores');
    expect([...now.math.C!.values()][0]).toBeCloseTo((sumOf(e.entries, campaignStores) + sumOf(e.baselineEntries, campaignStores)) / (sumOf(e.entries, controlStores) + sumOf(e.baselineEntries, controlStores)), 9);
    // With baseline = 1d the whole range moves a day back: only the day-before readings remain in it.
    const before = await run('campaigns', 'Campaign stores ÷ control stores, $baseline earlier');
    expect(before.queries.A).toContain(`time >= ${fx.fromMs - 86_400_000}ms`);
    expect([...before.math.C!.values()][0]).toBeCloseTo(sumOf(e.baselineEntries, campaignStores) / sumOf(e.baselineEntries, controlStores), 9);

    const annotation = dashboards.campaigns?.annotations.list.find((a) => a.datasource.type === 'influxdb');
    const variables = variablesFor(dashboards.campaigns as DashboardJson, scenarios[0] as Scenario);
    const q = prepareQuery(annotation?.query ?? '', variables, { fromMs: fx.fromMs, toMs: fx.toMs, maxDataPoints: 1000, minInterval: '1m' });
    const series = await influxQuery(fx.influx.url, q);
    const row = series[0]?.values[0] ?? [];
    const column = (name: string | undefined): unknown => row[series[0]?.columns.indexOf(name ?? '') ?? -1];
    expect([row[0], column(annotation?.textColumn), column(annotation?.tagsColumn), column(annotation?.timeEndColumn)]).toEqual([e.campaign.startMs, e.campaign.name, e.campaign.stores, e.campaign.endMs]);
  });

  it('device health: devices reporting, online and heartbeats equal the known input', async () => {
    const e = fx.expected;
    expect(single(await run('device-health', 'Devices reporting'))).toBe(e.devices);
    expect(single(await run('device-health', 'Devices online'))).toBe(e.devicesOnline);
    expect(single(await run('device-health', 'Heartbeats'))).toBe(e.devices);
    const status = (await run('device-health', 'Device status')).series.A ?? [];
    expect(Object.fromEntries(status.map((s) => [s.tags.device, s.values[0]?.[1]]))).toEqual({ 'door-books': 1, 'door-cafe': 0, 'door-fashion': 1, 'probe-books': 1, 'probe-fashion': 1 });
  });

  it('the Prometheus panels name metrics that ingest exports on /metrics', async () => {
    const exported = new Set([...(await fx.metrics.getMetricsAsJSON()).flatMap((m) => [m.name, `${m.name}_bucket`])]);
    const exprs = Object.values(dashboards).flatMap((d) => d.panels.flatMap((p) => (p.targets ?? []).filter((t) => t.datasource.type === 'prometheus').map((t) => t.expr ?? '')));
    expect(exprs.length).toBeGreaterThan(0);
    for (const expr of exprs) {
      const names = expr.match(/plaza_[a-z_]+/g) ?? [];
      expect(names.length, expr).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${name} in ${expr}`).toBe(true);
    }
  });

  it('mounted provisioning paths exist', () => {
    for (const p of ['provisioning/datasources/influxdb.yaml', 'provisioning/dashboards/plaza.yaml', 'dashboards']) expect(existsSync(path.join(grafanaDir, p)), p).toBe(true);
  });
});
