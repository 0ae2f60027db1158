import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { LocalClock } from '../../firmware-sim/local-time.ts';
import { demoMallFile, loadMallConfig, type MallConfig } from '../../firmware-sim/mall-config.ts';
import { devicesOf } from '../../firmware-sim/provision.ts';
import { Simulator } from '../../firmware-sim/simulator.ts';
import { readTruth, type TruthRecord } from '../../firmware-sim/truth.ts';
import { formatReport, verifyRun, type VerifyReport } from '../../firmware-sim/verify.ts';
import { Ingest } from '../../ingest/index.ts';
import { ProbeProcessor } from '../../ingest/probe/processor.ts';
import { Settings } from '../../ingest/settings.ts';
import { createStore } from '../../ingest/store/index.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import { platformTopics } from '../../protocol/platform.ts';
import { connectClient, startTestBroker, type TestBroker } from '../support/broker.ts';
import { type InfluxHandle, startInfluxd } from '../support/influxd.ts';
import { tempDir } from '../support/tmp.ts';
import { type DashboardJson, influxQuery, loadDashboards, numbers, type PanelJson, type Series, variableStates } from './grafana-json.ts';
import { evaluateMath, type Numbers } from './grafana-math.ts';
import { db, rp } from './grafana-fixture.ts';
import { prepareQuery, type VariableState } from './grafana-expand.ts';

/*
 * The dashboards against what the simulator produces: the demo mall runs accelerated for the busy hours before
 * the latest 20:00 in Shanghai (open every day), its devices publish over a real aedes broker into a real Ingest
 * writing to a real influxd, and the simulated shoppers' captive-portal logins are published on the portal's
 * login topic, as `npm start` does. Every panel query is then expanded as Grafana would (grafana-expand.ts) and
 * run; the door panels must equal the truth file the simulator wrote.
 */

const hashSecret = 'grafana-sim-secret-0123456789abcdef';
const windowHours = 3;
const seed = 4242;


const dashboards = loadDashboards();

/**
 * What the simulator does not produce, so these queries must come back empty (and are asserted so): point-of-sale
 * counts (`sales`), and anything shifted by the campaign baseline (the store holds only the simulated window).
 */
const noData: Record<string, string[]> = {
  'conversion/Sales conversion': ['A'],
  'conversion/Sales conversion per store': ['A'],
  'conversion/Transactions per store': ['A'],
  'campaigns/Entries $baseline earlier: campaign stores vs control stores': ['A', 'B'],
  'campaigns/Campaign stores ÷ control stores, $baseline earlier': ['A', 'B'],
};



function reduceSingle(series: Series[]): Numbers {
  const out: Numbers = new Map();
  for (const s of series) {
    if (s.values.length !== 1 || s.columns.length !== 2) throw new Error(`math input ${s.name} must be one row and one value column`);
    const key = Object.entries(s.tags)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const value = s.values[0]?.[1];
    out.set(key, typeof value === 'number' ? value : null);
  }
  return out;
}

/** The latest 20:00 in Shanghai at least 10 minutes ago: the hours before it are open and busy on every weekday. */
function lastEveningMs(timeZone: string): number {
  const clock = new LocalClock(timeZone);
  let t = Math.floor((Date.now() - 10 * 60_000) / 3_600_000) * 3_600_000;
  while (clock.at(t).hour !== 20) t -= 3_600_000;
  return t;
}

interface Truth {
  entries: Record<string, number>;
  exits: Record<string, number>;
  occupancy: Record<string, number>;
  logins: number;
  memberLogins: number;
}

/** Per store: the truth file's per-minute entries and exits summed, and the occupancy of its last minute. */
function truthTotals(records: readonly TruthRecord[], stores: readonly string[]): Truth {
  const t: Truth = { entries: {}, exits: {}, occupancy: {}, logins: 0, memberLogins: 0 };
  const lastMinute: Record<string, number> = {};
  for (const s of stores) {
    t.entries[s] = 0;
    t.exits[s] = 0;
    t.occupancy[s] = 0;
  }
  for (const r of records) {
    if (r.type === 'minute') {
      t.entries[r.store] = (t.entries[r.store] ?? 0) + r.entries;
      t.exits[r.store] = (t.exits[r.store] ?? 0) + r.exits;
      if (r.tsMs >= (lastMinute[r.store] ?? -1)) {
        lastMinute[r.store] = r.tsMs;
        t.occupancy[r.store] = r.occupancy;
      }
    } else if (r.type === 'portalLogin' && r.store !== null) {
      // A login without a store has no store tag, which the dashboards' `store =~ /^$store$/` never matches.
      t.logins += 1;
      if (r.member) t.memberLogins += 1;
    }
  }
  return t;
}

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
const total = (record: Record<string, number>): number => sum(Object.values(record));

interface PanelResult {
  series: Record<string, Series[]>;
  math: Record<string, Numbers>;
  queries: Record<string, string>;
}

describe('Grafana dashboards against InfluxDB filled by the simulated demo mall through ingest', { timeout: 120_000 }, () => {
  const dataDir = tempDir('grafana-sim');
  let mallConfig: MallConfig;
  let stores: string[];
  let broker: TestBroker | undefined;
  let influx: InfluxHandle | undefined;
  let store: TimeSeriesStore | undefined;
  let ingest: Ingest | undefined;
  let portal: MqttClient | undefined;
  let simulator: Simulator | undefined;
  let records: TruthRecord[] = [];
  let truth: Truth;
  let report: VerifyReport | undefined;
  /** The simulated window, as a saved absolute range; device status queries look at the last minutes of wall time. */
  let fromMs = 0;
  let toMs = 0;
  let healthFromMs = 0;
  let healthToMs = 0;
  const logStream = createWriteStream(path.join(dataDir, 'ingest.log'));
  const variableOptions = new Map<string, string[]>();

  beforeAll(async () => {
    healthFromMs = Date.now() - 60_000;
    mallConfig = loadMallConfig(demoMallFile);
    stores = mallConfig.stores.map((s) => s.id);
    broker = await startTestBroker({ dataDir });
    influx = await startInfluxd();
    const config = loadConfig({
      env: { PLAZA_DATA_DIR: dataDir, PLAZA_HASH_SECRET: hashSecret, PLAZA_INFLUX_URL: influx.url, PLAZA_INFLUX_DB: db, PLAZA_INFLUX_RP: rp, PLAZA_INGEST_FLUSH_INTERVAL_MS: '50' },
      overrides: { malls: { [mallConfig.mall]: { timeZone: mallConfig.timeZone } } },
    });
    const logger = createLogger('info', logStream);
    const registry = broker.registry;
    store = createStore(config, logger);
    const ingestCreds = await registry.addService('ingest');
    ingest = new Ingest({
      config,
      logger,
      metrics: createMetricsRegistry(false),
      store,
      directory: { lookup: (id) => registry.getDevice(id) },
      probe: (settings, members, optOuts) => new ProbeProcessor({ masterSecret: hashSecret, settings, logger, members, optOuts }),
      mqtt: { url: broker.url, ...ingestCreds },
    });
    await ingest.start();

    // The portal's part: each simulated login becomes a login event on the portal's topic.
    const portalCreds = await registry.addService('portal');
    portal = await connectClient(broker.url, { clientId: portalCreds.username, username: portalCreds.username, password: portalCreds.password });
    const publishing: Promise<unknown>[] = [];
    const publishErrors: string[] = [];
    const truthFile = path.join(dataDir, 'truth.jsonl');
    simulator = new Simulator(
      {
        mall: mallConfig,
        seed,
        pace: { realtime: false, speed: 'max' },
        durationMs: windowHours * 3_600_000,
        endMs: lastEveningMs(mallConfig.timeZone),
        truthFile,
        brokerUrl: broker.url,
        drainTimeoutMs: 20_000,
        onPortalLogin: (login) => {
          const event = {
            v: 1,
            eventId: randomUUID(),
            ts: login.tsMs,
            mall: login.mall,
            ...(login.store === null ? {} : { store: login.store }),
            gateway: 'plain',
            method: login.member ? 'member' : 'guest',
            member: login.member,
            macTrusted: false,
            consents: { termsVersion: 'sim', analytics: false, marketing: false },
          };
          const published = (portal as MqttClient).publishAsync(platformTopics.portalLogin(login.mall, 'sim'), JSON.stringify(event), { qos: 1 });
          publishing.push(published.catch((error: unknown) => publishErrors.push(String(error))));
        },
      },
      registry,
      logger,
    );
    await simulator.start();
    await simulator.whenFinished();
    await simulator.stop();
    await Promise.all(publishing);
    if (publishErrors.length > 0) throw new Error(`portal logins not published: ${publishErrors.join('; ')}`);
    if (simulator.stats().backlog !== 0) throw new Error(`simulator left ${simulator.stats().backlog} readings unacknowledged`);

    records = await readTruth(truthFile);
    truth = truthTotals(records, stores);
    const run = records.find((r) => r.type === 'run');
    const end = records.find((r) => r.type === 'end');
    if (run === undefined || end === undefined) throw new Error('truth file has no run or end record');

    // Ingest has flushed when the stored door counts equal the truth exactly (as `plaza sim verify` checks).
    const settings = new Settings(config.malls);
    const deadline = Date.now() + 30_000;
    do {
      await ingest.flush();
      report = await verifyRun(records, store, { footfallTolerancePct: 0, visitorMinDwellS: (s) => settings.storeOf(mallConfig.mall, s).visitorMinDwellS });
      if (!report.ok) await new Promise((r) => setTimeout(r, 250));
    } while (!report.ok && Date.now() < deadline);
    await ingest.flush();

    // Door, probe and portal panels: the simulated window. Device status is stamped by ingest on arrival, so the
    // heartbeats of an accelerated run lie in the last minutes of wall time: device status queries (device health,
    // and the live page's devices online) get the wall time of this run as their range ("last N minutes").
    fromMs = run.startMs - 60_000;
    toMs = end.tsMs + 60_000;
    healthToMs = Date.now() + 60_000;
  }, 120_000);

  afterAll(async () => {
    await simulator?.stop();
    await portal?.endAsync();
    await ingest?.stop();
    await store?.close();
    await broker?.stop();
    await influx?.stop();
    await new Promise<void>((resolve) => logStream.end(resolve));
  });

  function variablesFor(dashboard: DashboardJson, chosenStores: string[]): VariableState[] {
    const chosen: Record<string, string[]> = { rp: [rp], mall: [mallConfig.mall], store: chosenStores, campaign_store: ['coffee'], control_store: ['books', 'shoes'], baseline: ['1d'] };
    return variableStates(dashboard, chosen, (key) => variableOptions.get(key));
  }

  async function runPanel(dashboard: DashboardJson, panel: PanelJson, chosenStores: string[], maxDataPoints: number): Promise<PanelResult> {
    if (influx === undefined) throw new Error('no influxd');
    const variables = variablesFor(dashboard, chosenStores);
    const result: PanelResult = { series: {}, math: {}, queries: {} };
    const targets = panel.targets ?? [];
    for (const target of targets.filter((t) => t.datasource.type === 'influxdb')) {
      const range = /\."(device_status|devices_online)"/.test(target.query ?? '') ? { fromMs: healthFromMs, toMs: healthToMs } : { fromMs, toMs };
      const q = prepareQuery(target.query ?? '', variables, { ...range, maxDataPoints, minInterval: '1m', ...(panel.timeShift === undefined ? {} : { timeShift: panel.timeShift }) });
      result.queries[target.refId] = q;
      result.series[target.refId] = await influxQuery(influx.url, q);
    }
    const empty = Object.values(result.series).some((s) => s.length === 0);
    // A math expression over a query without data is "no data" in Grafana; only evaluated when all inputs have data.
    if (!empty) {
      for (const target of targets.filter((t) => t.datasource.type === '__expr__')) {
        const refs = Object.fromEntries(Object.entries(result.series).map(([ref, series]) => [ref, reduceSingle(series)]));
        result.math[target.refId] = evaluateMath(target.expression ?? '', refs);
      }
    }
    return result;
  }

  const run = (dashboard: string, title: string, chosenStores: string[] = ['$__all']): Promise<PanelResult> => {
    const d = dashboards[dashboard];
    const p = d?.panels.find((x) => x.title === title);
    if (d === undefined || p === undefined) throw new Error(`no panel "${title}" in ${dashboard}`);
    return runPanel(d, p, chosenStores, 1000);
  };
  const single = (r: PanelResult, ref = 'A'): number => {
    const all = (r.series[ref] ?? []).flatMap(numbers);
    expect(all, JSON.stringify(r.series[ref])).toHaveLength(1);
    return all[0] as number;
  };
  const perStore = (series: Series[] | undefined, reduce: (values: number[]) => number): Record<string, number> =>
    Object.fromEntries((series ?? []).map((s) => [s.tags.store ?? '', reduce(numbers(s))]));

  it('the simulated window went through ingest exactly and is busy', () => {
    expect(report?.ok, report === undefined ? 'no report' : formatReport(report)).toBe(true);
    expect(total(truth.entries)).toBeGreaterThan(300);
    expect(truth.logins).toBeGreaterThan(0);
    expect(Object.values(truth.occupancy).some((n) => n > 0)).toBe(true);
  });

  it('every template variable query lists what the simulated mall wrote', async () => {
    for (const d of Object.values(dashboards)) {
      const variables = variablesFor(d, ['$__all']);
      for (const v of d.templating.list.filter((x) => x.type === 'query')) {
        const q = prepareQuery(v.query, variables, { fromMs, toMs, maxDataPoints: 1000, minInterval: '1m' });
        const series = await influxQuery((influx as InfluxHandle).url, q);
        const values = series.flatMap((s) => s.values.map((row) => String(row[s.columns.indexOf('value') >= 0 ? s.columns.indexOf('value') : 0])));
        variableOptions.set(`${d.uid}/${v.name}`, [...new Set(values)].sort());
      }
      expect(variableOptions.get(`${d.uid}/rp`)).toContain(rp);
      expect(variableOptions.get(`${d.uid}/mall`)).toEqual([mallConfig.mall]);
      for (const name of ['store', 'campaign_store', 'control_store']) {
        if (d.templating.list.some((v) => v.name === name)) expect(variableOptions.get(`${d.uid}/${name}`), `${d.title} ${name}`).toEqual([...stores].sort());
      }
    }
  });

  it.each([
    { name: 'All stores', store: ['$__all'], maxDataPoints: 1000 },
    { name: 'one store', store: ['grocer'], maxDataPoints: 100 },
    { name: 'two stores', store: ['fashion', 'coffee'], maxDataPoints: 400 },
  ])('every panel query runs; each returns data except what the simulator does not produce ($name)', async ({ store: chosen, maxDataPoints }) => {
    let withData = 0;
    let without = 0;
    for (const [key, d] of Object.entries(dashboards)) {
      for (const p of d.panels.filter((x) => x.type !== 'row' && (x.targets ?? []).some((t) => t.datasource.type === 'influxdb'))) {
        const r = await runPanel(d, p, chosen, maxDataPoints);
        const expectedEmpty = noData[`${key}/${p.title}`] ?? [];
        for (const [ref, series] of Object.entries(r.series)) {
          const label = `${d.title} / ${p.title} / ${ref}:\n${r.queries[ref]}`;
          if (expectedEmpty.includes(ref)) {
            expect(series, `expected no data: ${label}`).toEqual([]);
            without += 1;
          } else {
            expect(series.flatMap(numbers).length, `no data: ${label}`).toBeGreaterThan(0);
            withData += 1;
          }
        }
        for (const [ref, values] of Object.entries(r.math)) {
          expect(values.size > 0 && [...values.values()].every((v) => v !== null && Number.isFinite(v)), `${d.title} / ${p.title} / ${ref}`).toBe(true);
        }
      }
    }
    expect(without).toBe(Object.values(noData).flat().length);
    expect(withData).toBeGreaterThan(40);
  });

  it('the campaign annotation query runs and is empty: the simulator does not create campaigns through the ops API', async () => {
    const annotation = dashboards.campaigns?.annotations.list.find((a) => a.datasource.type === 'influxdb');
    expect(annotation?.query).toBeDefined();
    const q = prepareQuery(annotation?.query ?? '', variablesFor(dashboards.campaigns as DashboardJson, ['$__all']), { fromMs, toMs, maxDataPoints: 1000, minInterval: '1m' });
    expect(await influxQuery((influx as InfluxHandle).url, q)).toEqual([]);
  });

  it('live traffic: mall entries, exits and occupancy equal the truth file', async () => {
    expect(single(await run('live-traffic', 'Entries'))).toBe(total(truth.entries));
    expect(single(await run('live-traffic', 'Exits'))).toBe(total(truth.exits));
    expect(single(await run('live-traffic', 'Occupancy now'))).toBe(total(truth.occupancy));
    const perInterval = (await run('live-traffic', 'Mall entries and exits per interval')).series.A ?? [];
    expect(perInterval).toHaveLength(1);
    const columns = perInterval[0]?.columns ?? [];
    const column = (name: string): number => sum((perInterval[0]?.values ?? []).map((row) => row[columns.indexOf(name)] as number));
    expect([column('entries'), column('exits')]).toEqual([total(truth.entries), total(truth.exits)]);
  });

  it('Mall occupancy: one value per interval, ending at the true mall occupancy', async () => {
    // Read from ingest's own mall series: a subquery summing per-store values hits influxdata/influxdb#16960.
    const rows = (await run('live-traffic', 'Mall occupancy')).series.A?.[0]?.values ?? [];
    expect(rows.length).toBeGreaterThan(0);
    expect(new Set(rows.map((row) => row[0])).size, 'one row per interval').toBe(rows.length);
    expect(rows.filter((row) => typeof row[1] === 'number').at(-1)?.[1]).toBe(total(truth.occupancy));
  });

  it('live traffic: per-store entries, exits and occupancy at the end of the window equal the truth file', async () => {
    for (const chosen of [['$__all'], ['grocer'], ['fashion', 'coffee']]) {
      const selected = chosen[0] === '$__all' ? stores : chosen;
      const pick = (record: Record<string, number>): Record<string, number> => Object.fromEntries(selected.map((s) => [s, record[s] ?? 0]));
      expect(perStore((await run('live-traffic', 'Entries per store', chosen)).series.A, sum), `${chosen.join(',')} entries`).toEqual(pick(truth.entries));
      expect(perStore((await run('live-traffic', 'Exits per store', chosen)).series.A, sum), `${chosen.join(',')} exits`).toEqual(pick(truth.exits));
      expect(perStore((await run('live-traffic', 'Occupancy per store', chosen)).series.A, (v) => v.at(-1) ?? Number.NaN), `${chosen.join(',')} occupancy`).toEqual(pick(truth.occupancy));
      const table = (await run('live-traffic', 'Stores in the time range', chosen)).series.A ?? [];
      expect(Object.fromEntries(table.map((s) => [s.tags.store, s.values[0]?.slice(1)])), `${chosen.join(',')} table`).toEqual(
        Object.fromEntries(selected.map((s) => [s, [truth.entries[s], truth.exits[s], truth.occupancy[s]]])),
      );
    }
  });

  it('campaigns: campaign and control store entries equal the truth file', async () => {
    const ratio = await run('campaigns', 'Campaign stores ÷ control stores');
    expect([single(ratio, 'A'), single(ratio, 'B')]).toEqual([truth.entries.coffee, (truth.entries.books ?? 0) + (truth.entries.shoes ?? 0)]);
    expect([...(ratio.math.C?.values() ?? [])]).toEqual([(truth.entries.coffee ?? 0) / ((truth.entries.books ?? 0) + (truth.entries.shoes ?? 0))]);
  });

  it('conversion: the portal funnel counts the simulated logins; device health counts every simulated device', async () => {
    const funnel = await run('conversion', 'Funnel');
    expect([single(funnel, 'B'), single(funnel, 'C'), single(funnel, 'D')]).toEqual([truth.logins, truth.memberLogins, 0]);
    const devices = devicesOf(mallConfig).length;
    expect(single(await run('device-health', 'Devices reporting'))).toBe(devices);
    const status = (await run('device-health', 'Device status')).series.A ?? [];
    expect(status.map((s) => s.tags.device).sort()).toEqual(devicesOf(mallConfig).map((d) => d.id).sort());
    // One series per store; the simulator's devices went offline when it stopped, so every store ends at 0 online.
    const online = perStore((await run('device-health', 'Devices online over time')).series.A, (v) => v.at(-1) ?? Number.NaN);
    expect(online).toEqual(Object.fromEntries(stores.map((store) => [store, 0])));
  });
});
