import { customVariable, type Dashboard, influx, Layout, math, prom, queryVariable, type Variable } from './panels.ts';

/**
 * The PlazaPulse Grafana dashboards, as code. `npx tsx dashboards/grafana/build.ts` writes them to
 * dashboards/grafana/dashboards/*.json, the reviewed files Grafana loads; a test fails when the two differ.
 * Every query is raw InfluxQL, the one language InfluxDB 1.x, 2.x (v1 API + DBRP) and 3.x all answer.
 */

// Measurements, as ingest writes them (docs/data-model.md), under the retention policy chosen in `$rp`.
const footfall = '"$rp"."footfall"';
const mallOccupancy = '"$rp"."mall_occupancy"';
const devicesOnline = '"$rp"."devices_online"';
const deviceStatus = '"$rp"."device_status"';
const visits = '"$rp"."visits"';
const presence = '"$rp"."presence"';
const portalLogin = '"$rp"."portal_login"';
const sales = '"$rp"."sales"';
const campaign = '"$rp"."campaign"';

// `=~ /^…$/` because multi-value and All variables expand to an alternation (a|b|c).
const inMall = '"mall" =~ /^$mall$/';
const inStores = '"store" =~ /^$store$/';
const where = (...conditions: string[]): string => `WHERE ${[...conditions, '$timeFilter'].join(' AND ')}`;
const perInterval = (fill: string, ...tags: string[]): string => `GROUP BY ${['time($__interval)', ...tags].join(', ')} fill(${fill})`;

/** The retention policy docker-compose.yml gives ingest (PLAZA_INFLUX_RP); the dashboards select it by default. */
export const defaultRetentionPolicy = 'plaza_400d';

function rpVariable(): Variable {
  const rp = queryVariable('rp', 'Retention policy', 'SHOW RETENTION POLICIES');
  // Ingest writes to PLAZA_INFLUX_RP when set, else the database default (autogen on 1.x). A default that the
  // database lacks makes Grafana fall back to the first policy listed, autogen.
  return {
    ...rp,
    description: 'Where ingest writes: PLAZA_INFLUX_RP, or autogen when it is unset',
    current: { text: defaultRetentionPolicy, value: defaultRetentionPolicy, selected: true },
  };
}

const mallVariable = (): Variable => queryVariable('mall', 'Mall', 'SHOW TAG VALUES WITH KEY = "mall"');
const storeVariable = (name = 'store', label = 'Store', includeAll = true): Variable =>
  queryVariable(name, label, 'SHOW TAG VALUES WITH KEY = "store" WHERE "mall" =~ /^$mall$/', { multi: true, includeAll });

function liveTraffic(): Dashboard {
  const l = new Layout();
  l.row('Mall $mall');
  l.add('stat', 'Entries', 4, 4, [influx('A', `SELECT sum("entries") AS "entries" FROM ${footfall} ${where(inMall)}`)], { description: 'People counted entering any store of the mall in the time range (door counters).' });
  l.add('stat', 'Exits', 4, 4, [influx('A', `SELECT sum("exits") AS "exits" FROM ${footfall} ${where(inMall)}`)]);
  l.add('stat', 'Occupancy now', 4, 4, [influx('A', `SELECT sum("occupancy") AS "occupancy" FROM (SELECT last("occupancy") AS "occupancy" FROM ${footfall} ${where(inMall)} GROUP BY "store")`)], {
    description: 'Sum over stores of each store’s latest occupancy (entries − exits since the business day began, never below 0).',
  });
  l.add('stat', 'Devices online', 4, 4, [influx('A', `SELECT sum("online") AS "online" FROM (SELECT last("online") AS "online" FROM ${deviceStatus} ${where(inMall)} GROUP BY "device")`)], {
    description: 'Door counters and probes whose latest status in the range is a heartbeat rather than an offline notice.',
  });
  l.add('stat', 'Passers-by now', 4, 4, [influx('A', `SELECT sum("passers_by") AS "passers-by" FROM (SELECT last("passers_by") AS "passers_by" FROM ${presence} ${where(inMall)} GROUP BY "store")`)], {
    description: 'Wi-Fi probe estimate (devices, not people) of the latest minute seen per store.',
  });
  l.add('stat', 'Visitors now', 4, 4, [influx('A', `SELECT sum("visitors") AS "visitors" FROM (SELECT last("visitors") AS "visitors" FROM ${presence} ${where(inMall)} GROUP BY "store")`)], {
    description: 'Wi-Fi probe estimate (devices, not people) of the latest minute seen per store.',
  });
  l.add('timeseries', 'Mall entries and exits per interval', 12, 8, [
    influx('A', `SELECT sum("entries") AS "entries", sum("exits") AS "exits" FROM ${footfall} ${where(inMall)} ${perInterval('0')}`),
  ]);
  l.add('timeseries', 'Mall occupancy', 12, 8, [
    // Ingest writes the mall total as its own series: InfluxDB 1.x mishandles fill() in a subquery grouped by time
    // (influxdata/influxdb#16960), so summing per-store values here would be wrong.
    influx('A', `SELECT last("occupancy") AS "occupancy" FROM ${mallOccupancy} ${where(inMall)} ${perInterval('previous')}`),
  ]);
  l.row('Stores $store');
  l.add('timeseries', 'Entries per store', 12, 8, [influx('A', `SELECT sum("entries") AS "entries" FROM ${footfall} ${where(inMall, inStores)} ${perInterval('0', '"store"')}`, { alias: '$tag_store' })]);
  l.add('timeseries', 'Exits per store', 12, 8, [influx('A', `SELECT sum("exits") AS "exits" FROM ${footfall} ${where(inMall, inStores)} ${perInterval('0', '"store"')}`, { alias: '$tag_store' })]);
  l.add('timeseries', 'Occupancy per store', 12, 8, [
    influx('A', `SELECT last("occupancy") AS "occupancy" FROM ${footfall} ${where(inMall, inStores)} ${perInterval('previous', '"store"')}`, { alias: '$tag_store' }),
  ]);
  l.add('table', 'Stores in the time range', 12, 8, [
    influx('A', `SELECT sum("entries") AS "entries", sum("exits") AS "exits", last("occupancy") AS "occupancy now" FROM ${footfall} ${where(inMall, inStores)} GROUP BY "store"`, { table: true }),
  ]);
  return {
    uid: 'plaza-live-traffic',
    title: 'PlazaPulse · Live traffic',
    description: 'Entries, exits and occupancy per store and for the whole mall; devices online.',
    tags: ['plazapulse', 'traffic'],
    panels: l.panels,
    variables: [rpVariable(), mallVariable(), storeVariable()],
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
  };
}

function conversion(): Dashboard {
  const l = new Layout();
  const captureRate = 'sum("visitors") / (sum("visitors") + sum("passers_by")) * 100';
  l.row('Capture: passers-by → visitors (Wi-Fi probe estimates)');
  l.add('stat', 'Capture rate', 6, 6, [influx('A', `SELECT ${captureRate} AS "capture rate" FROM ${visits} ${where(inMall, inStores)}`)], {
    unit: 'percent',
    decimals: 1,
    description: 'visitors ÷ (visitors + passers-by), over visits that closed in the range (measurement visits).',
  });
  l.add('timeseries', 'Capture rate per store', 18, 6, [influx('A', `SELECT ${captureRate} AS "capture rate" FROM ${visits} ${where(inMall, inStores)} ${perInterval('none', '"store"')}`, { alias: '$tag_store' })], {
    unit: 'percent',
    min: 0,
    max: 100,
  });
  l.add('timeseries', 'Passers-by and visitors', 24, 7, [
    influx('A', `SELECT sum("passers_by") AS "passers-by", sum("visitors") AS "visitors" FROM ${visits} ${where(inMall, inStores)} ${perInterval('0')}`),
  ]);
  l.row('Portal: visitors → portal logins → member logins');
  const visitorsQ = `SELECT sum("visitors") AS "visitors" FROM ${visits} ${where(inMall, inStores)}`;
  const loginsQ = `SELECT sum("logins") AS "portal logins" FROM ${portalLogin} ${where(inMall, inStores)}`;
  const memberQ = `SELECT sum("member_logins") AS "member logins" FROM ${portalLogin} ${where(inMall, inStores)}`;
  l.add('bargauge', 'Funnel', 12, 7, [influx('A', visitorsQ), influx('B', loginsQ), influx('C', memberQ), influx('D', `SELECT sum("signups") AS "sign-ups" FROM ${portalLogin} ${where(inMall, inStores)}`)], {
    description: 'Logins the portal could place in a store (its access point is mapped in portal.malls.<mall>.apStores).',
  });
  l.add('stat', 'Portal conversion (logins ÷ visitors)', 6, 7, [influx('A', visitorsQ), influx('B', loginsQ), math('C', '$B / $A * 100')], { unit: 'percent', decimals: 1, hiddenRefIds: ['A', 'B'] });
  l.add('stat', 'Member share (member logins ÷ logins)', 6, 7, [influx('A', loginsQ), influx('B', memberQ), math('C', '$B / $A * 100')], { unit: 'percent', decimals: 1, hiddenRefIds: ['A', 'B'] });
  l.add('timeseries', 'Portal logins by method', 24, 7, [influx('A', `SELECT sum("logins") AS "logins" FROM ${portalLogin} ${where(inMall, inStores)} ${perInterval('0', '"method"')}`, { alias: '$tag_method' })]);
  l.row('Dwell time of visitors');
  l.add('bargauge', 'Visits by dwell time', 16, 7, [
    influx(
      'A',
      `SELECT sum("dwell_lt_5m") AS "< 5 min", sum("dwell_5_20m") AS "5–20 min", sum("dwell_20_60m") AS "20–60 min", sum("dwell_1_6h") AS "1–6 h", sum("dwell_gt_6h") AS "> 6 h" FROM ${visits} ${where(inMall, inStores)}`,
    ),
  ]);
  l.add('stat', 'Mean dwell of visitors', 8, 7, [influx('A', `SELECT sum("dwell_s_sum") / sum("visitors") AS "mean dwell" FROM ${visits} ${where(inMall, inStores)}`)], { unit: 's' });
  l.row('Sales conversion: transactions ÷ entries (point-of-sale counts)');
  const transactionsQ = `SELECT sum("transactions") AS "transactions" FROM ${sales} ${where(inMall, inStores)}`;
  const entriesQ = `SELECT sum("entries") AS "entries" FROM ${footfall} ${where(inMall, inStores)}`;
  l.add('stat', 'Sales conversion', 6, 7, [influx('A', transactionsQ), influx('B', entriesQ), math('C', '$A / $B * 100')], {
    unit: 'percent',
    decimals: 1,
    hiddenRefIds: ['A', 'B'],
    description: 'Choose a range that covers whole point-of-sale intervals (hourly counts: whole hours).',
  });
  l.add('bargauge', 'Sales conversion per store', 9, 7, [influx('A', `${transactionsQ} GROUP BY "store"`), influx('B', `${entriesQ} GROUP BY "store"`), math('C', '$A / $B * 100')], {
    unit: 'percent',
    decimals: 1,
    hiddenRefIds: ['A', 'B'],
  });
  l.add('timeseries', 'Transactions per store', 9, 7, [influx('A', `SELECT sum("transactions") AS "transactions" FROM ${sales} ${where(inMall, inStores)} ${perInterval('none', '"store"')}`, { alias: '$tag_store' })]);
  return {
    uid: 'plaza-conversion',
    title: 'PlazaPulse · Conversion',
    description: 'Capture rate, portal funnel, dwell buckets and sales conversion.',
    tags: ['plazapulse', 'conversion'],
    panels: l.panels,
    variables: [rpVariable(), mallVariable(), storeVariable()],
    time: { from: 'now-7d', to: 'now' },
    refresh: '5m',
  };
}

function campaigns(): Dashboard {
  const l = new Layout();
  const testStores = '"store" =~ /^$campaign_store$/';
  const controlStores = '"store" =~ /^$control_store$/';
  const total = (alias: string, stores: string): string => `SELECT sum("entries") AS "${alias}" FROM ${footfall} ${where(inMall, stores)}`;
  const series = (alias: string, stores: string): string => `${total(alias, stores)} ${perInterval('0')}`;
  l.row('During the selected range');
  l.add('timeseries', 'Entries: campaign stores vs control stores', 16, 8, [influx('A', series('campaign stores', testStores)), influx('B', series('control stores', controlStores))]);
  l.add('stat', 'Campaign stores ÷ control stores', 8, 8, [influx('A', total('campaign stores', testStores)), influx('B', total('control stores', controlStores)), math('C', '$A / $B')], {
    decimals: 3,
    hiddenRefIds: ['A', 'B'],
    description: 'Compare with the same ratio in the baseline row: a rise is the difference-in-differences signal.',
  });
  l.add('timeseries', 'Entries per campaign store', 24, 7, [influx('A', `SELECT sum("entries") AS "entries" FROM ${footfall} ${where(inMall, testStores)} ${perInterval('0', '"store"')}`, { alias: '$tag_store' })]);
  l.row('Baseline: the same range $baseline earlier');
  l.add('timeseries', 'Entries $baseline earlier: campaign stores vs control stores', 16, 8, [influx('A', series('campaign stores', testStores)), influx('B', series('control stores', controlStores))], {
    timeShift: '$baseline',
  });
  l.add('stat', 'Campaign stores ÷ control stores, $baseline earlier', 8, 8, [influx('A', total('campaign stores', testStores)), influx('B', total('control stores', controlStores)), math('C', '$A / $B')], {
    decimals: 3,
    hiddenRefIds: ['A', 'B'],
    timeShift: '$baseline',
  });
  return {
    uid: 'plaza-campaigns',
    title: 'PlazaPulse · Campaigns',
    description:
      'Footfall of a campaign’s stores against control stores and against the same range weeks earlier. Campaign windows are annotations from the `campaign` measurement. The campaign report (ops API) adds the multi-week baseline and an uncertainty interval.',
    tags: ['plazapulse', 'campaigns'],
    panels: l.panels,
    variables: [
      rpVariable(),
      mallVariable(),
      storeVariable('campaign_store', 'Campaign stores', false),
      storeVariable('control_store', 'Control stores', false),
      customVariable('baseline', 'Baseline', ['7d', '14d', '28d', '1d'], 'How far back the baseline range lies; whole weeks keep weekdays aligned'),
    ],
    annotations: [
      {
        name: 'Campaigns',
        datasource: { type: 'influxdb', uid: 'plaza-influxdb' },
        enable: true,
        hide: false,
        iconColor: 'orange',
        // One point per campaign at its start (docs/dashboards.md); end_ms makes the annotation a region.
        query: `SELECT "name", "stores", "end_ms" FROM ${campaign} WHERE "mall" =~ /^$mall$/ AND "active" = 1 AND $timeFilter`,
        textColumn: 'name',
        tagsColumn: 'stores',
        timeEndColumn: 'end_ms',
      },
    ],
    time: { from: 'now-14d', to: 'now' },
    refresh: '',
  };
}

function deviceHealth(): Dashboard {
  const l = new Layout();
  l.row('Devices ($store)');
  const latest = (field: string): string => `SELECT last("${field}") AS "${field}" FROM ${deviceStatus} ${where(inMall, inStores)} GROUP BY "device"`;
  l.add('stat', 'Devices online', 6, 4, [influx('A', `SELECT sum("online") AS "online" FROM (${latest('online')})`)]);
  l.add('stat', 'Devices reporting', 6, 4, [influx('A', `SELECT count("online") AS "devices" FROM (${latest('online')})`)], { description: 'Devices with any status in the range.' });
  l.add('stat', 'Readings dropped on devices', 6, 4, [influx('A', `SELECT sum("dropped") AS "dropped" FROM (SELECT max("dropped") AS "dropped" FROM ${deviceStatus} ${where(inMall, inStores)} GROUP BY "device")`)], {
    description: 'Readings devices discarded from a full offline buffer (largest count per device since its boot).',
  });
  l.add('stat', 'Heartbeats', 6, 4, [influx('A', `SELECT count("uptime_s") AS "heartbeats" FROM ${deviceStatus} ${where(inMall, inStores)}`)]);
  l.add('table', 'Last heartbeat per device', 12, 9, [influx('A', `SELECT last("uptime_s") AS "uptime_s" FROM ${deviceStatus} ${where(inMall, inStores)} GROUP BY "store", "device"`, { table: true })], {
    description: 'Time = when the device last sent a heartbeat.',
  });
  l.add('table', 'Device status', 12, 9, [
    influx('A', `SELECT last("online") AS "online", last("fw") AS "firmware", max("dropped") AS "dropped" FROM ${deviceStatus} ${where(inMall, inStores)} GROUP BY "store", "device"`, { table: true }),
  ]);
  l.add('timeseries', 'Heartbeats per device', 12, 8, [influx('A', `SELECT count("uptime_s") AS "heartbeats" FROM ${deviceStatus} ${where(inMall, inStores)} ${perInterval('0', '"device"')}`, { alias: '$tag_device' })]);
  l.add('timeseries', 'Devices online over time', 12, 8, [
    // Per store, from ingest's own count (stack the series for the mall): summing per-device values in a subquery
    // grouped by time is wrong on InfluxDB 1.x (influxdata/influxdb#16960).
    influx('A', `SELECT last("online") AS "online" FROM ${devicesOnline} ${where(inMall, inStores)} ${perInterval('previous', '"store"')}`, { alias: '$tag_store' }),
  ], { stacking: true, description: 'Devices whose latest status is a heartbeat, per store, stacked: the top line is the total.' });
  l.row('Ingest (Prometheus scraping the ops /metrics endpoint; optional)');
  l.add('timeseries', 'Dead letters', 12, 8, [prom('A', 'sum by (kind, channel) (increase(plaza_ingest_messages_invalid_total[$__rate_interval]))', '{{kind}} {{channel}}')]);
  l.add('timeseries', 'Messages received', 12, 8, [prom('A', 'sum by (channel) (rate(plaza_ingest_messages_received_total[$__rate_interval]))', '{{channel}}')], { unit: 'reqps' });
  l.add('timeseries', 'Outbox spool', 8, 8, [prom('A', 'max(plaza_ingest_spool_points)', 'points waiting')]);
  l.add('timeseries', 'Message to stored latency (p95)', 8, 8, [prom('A', 'histogram_quantile(0.95, sum by (le) (rate(plaza_ingest_stored_latency_seconds_bucket[$__rate_interval])))', 'p95')], { unit: 's' });
  l.add('timeseries', 'Store write errors', 8, 8, [prom('A', 'sum by (retryable) (increase(plaza_ingest_store_errors_total[$__rate_interval]))', 'retryable={{retryable}}')]);
  return {
    uid: 'plaza-device-health',
    title: 'PlazaPulse · Device health',
    description: 'Heartbeats and last seen per device; ingest dead letters and metrics when a Prometheus datasource is set up.',
    tags: ['plazapulse', 'devices'],
    panels: l.panels,
    variables: [
      rpVariable(),
      mallVariable(),
      storeVariable(),
      { name: 'prometheus', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0, description: 'Optional: a Prometheus that scrapes the ops /metrics endpoint' },
    ],
    time: { from: 'now-24h', to: 'now' },
    refresh: '1m',
  };
}

/** File name (without .json) → dashboard. */
export function plazaDashboards(): Record<string, Dashboard> {
  return { 'live-traffic': liveTraffic(), conversion: conversion(), campaigns: campaigns(), 'device-health': deviceHealth() };
}
