import type { DeviceCredentials } from '../../broker/registry.ts';
import { queryRows } from '../../test/support/influxd.ts';
import type { MarkerLookup } from './markers.ts';
import type { DoorCounter } from './payloads.ts';

export interface Correctness {
  ok: boolean;
  detail: string;
}

const ingestDb = 'plaza';

/** InfluxQL string literal. */
function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Marker minutes visible in ingest's footfall measurement. */
export function lookupIngestMarkers(influxUrl: string, mall: string): MarkerLookup {
  return async (fromMs, toMs) => {
    const rows = await queryRows(
      influxUrl,
      ingestDb,
      `SELECT entries FROM footfall WHERE mall = ${literal(mall)} AND store = 'marker' AND time >= ${fromMs}ms AND time <= ${toMs}ms`,
      { epoch: 'ms' },
    );
    return rows.filter((row) => typeof row.entries === 'number' && row.entries >= 1).map((row) => row.time as number);
  };
}

/** Marker readings visible in the peer's door measurement. */
export function lookupPeerMarkers(influxUrl: string, db: string): MarkerLookup {
  return async (fromMs, toMs) => {
    const rows = await queryRows(influxUrl, db, `SELECT "in" FROM door WHERE device = 'marker-1' AND time >= ${fromMs}ms AND time <= ${toMs}ms`, { epoch: 'ms' });
    return rows.map((row) => row.time as number);
  };
}

/**
 * Ingest's stored footfall equals what the devices published: per store, the sum of entries and exits over
 * the run's minutes equals the sum of the final running totals of its door counters (each boot starts at 0),
 * and the marker store holds one entry per marker.
 */
export async function checkDoorCorrectness(
  influxUrl: string,
  mall: string,
  devices: readonly DeviceCredentials[],
  counters: ReadonlyMap<string, DoorCounter>,
  markers: number,
  range: { fromMs: number; toMs: number },
): Promise<Correctness> {
  const expected = new Map<string, { entries: number; exits: number }>();
  let readings = 0;
  for (const device of devices) {
    const counter = counters.get(device.id);
    if (counter === undefined) continue;
    readings += counter.readings;
    const sum = expected.get(device.store) ?? { entries: 0, exits: 0 };
    sum.entries += counter.totalIn;
    sum.exits += counter.totalOut;
    expected.set(device.store, sum);
  }
  const rows = await queryRows(
    influxUrl,
    ingestDb,
    `SELECT sum(entries) AS entries, sum(exits) AS exits FROM footfall WHERE mall = ${literal(mall)} AND store != 'marker' AND time >= ${range.fromMs}ms AND time <= ${range.toMs}ms GROUP BY store`,
  );
  const stored = new Map(rows.map((row) => [String(row.store), { entries: Number(row.entries), exits: Number(row.exits) }]));
  const wrong = [...expected].filter(([store, want]) => stored.get(store)?.entries !== want.entries || stored.get(store)?.exits !== want.exits);
  const extra = [...stored.keys()].filter((store) => !expected.has(store));
  const markerRows = await queryRows(influxUrl, ingestDb, `SELECT sum(entries) AS entries FROM footfall WHERE mall = ${literal(mall)} AND store = 'marker'`);
  const markerEntries = Number(markerRows[0]?.entries ?? 0);
  const totalEntries = [...expected.values()].reduce((n, s) => n + s.entries, 0);
  const totalExits = [...expected.values()].reduce((n, s) => n + s.exits, 0);
  const ok = wrong.length === 0 && extra.length === 0 && markerEntries === markers;
  const first = wrong[0];
  const detail = ok
    ? `${readings} readings → ${totalEntries} entries / ${totalExits} exits in ${expected.size} stores, exact; ${markers}/${markers} markers`
    : `${wrong.length} stores differ${first ? ` (e.g. ${first[0]}: expected ${JSON.stringify(first[1])}, stored ${JSON.stringify(stored.get(first[0]) ?? null)})` : ''}; ${extra.length} unexpected stores; markers ${markerEntries}/${markers}`;
  return { ok, detail };
}

/** The peer stored one point per published reading (it has no aggregation to check). */
export async function checkPeerCorrectness(influxUrl: string, db: string, published: number, markers: number, range: { fromMs: number; toMs: number }): Promise<Correctness> {
  const rows = await queryRows(influxUrl, db, `SELECT count("in") AS n FROM door WHERE device != 'marker-1' AND time >= ${range.fromMs}ms AND time <= ${range.toMs}ms`);
  const stored = Number(rows[0]?.n ?? 0);
  const markerRows = await queryRows(influxUrl, db, `SELECT count("in") AS n FROM door WHERE device = 'marker-1'`);
  const storedMarkers = Number(markerRows[0]?.n ?? 0);
  const ok = stored === published && storedMarkers === markers;
  return { ok, detail: `${stored}/${published} readings stored${stored < published ? ` (${published - stored} lost)` : ''}; ${storedMarkers}/${markers} markers` };
}
