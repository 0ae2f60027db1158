import type { Point, SeriesRow, TimeSeriesStore } from '../../ingest/store/types.ts';
import type { LiveState } from './state.ts';

const minuteMs = 60_000;
const hourMs = 60 * minuteMs;
/** How far back a device's last heartbeat is looked for at start, in ms (48 h). */
const deviceHistoryMs = 48 * hourMs;
/** Readings stamped ahead of now (clock skew up to 5 min is accepted by ingest). */
const aheadMs = 5 * minuteMs;

function toPoints(measurement: string, rows: readonly SeriesRow[], mall: string): Point[] {
  return rows.map((row) => {
    const fields: Record<string, number> = {};
    for (const [name, value] of Object.entries(row.values)) if (value !== null) fields[name] = value;
    return { measurement, tags: { ...row.tags, mall }, fields, tsMs: row.tsMs };
  });
}

/**
 * Today's figures of one mall from the time-series store, so a restart shows the right numbers: the last hour of
 * footfall minutes, the business day's latest occupancy per store, the last presence minutes and each
 * device's last status. Exact where the store has minute points; hourly bounds for older device history.
 */
export async function loadMall(store: TimeSeriesStore, state: LiveState, mall: string, nowMs: number, deviceWindowMs: number): Promise<void> {
  const until = nowMs + aheadMs;
  const seriesStart = state.seriesStart(nowMs);
  const dayStart = state.businessDayStart(mall, nowMs);

  const occupancy = await store.query({ measurement: 'footfall', fields: ['occupancy'], aggregate: 'last', where: { mall }, fromMs: dayStart, toMs: until, everyMs: hourMs, groupBy: ['store'] });
  for (const row of occupancy) {
    const value = row.values.occupancy;
    if (value !== null && value !== undefined) state.loadOccupancy(mall, row.tags.store ?? '', row.tsMs, value);
  }
  const minutes = await store.query({ measurement: 'footfall', fields: ['entries', 'exits', 'occupancy'], aggregate: 'none', where: { mall }, fromMs: seriesStart, toMs: until, groupBy: ['store'] });
  state.apply(toPoints('footfall', minutes, mall), nowMs);

  const presence = await store.query({
    measurement: 'presence',
    fields: ['devices', 'visitors', 'passers_by'],
    aggregate: 'none',
    where: { mall },
    fromMs: Math.floor(nowMs / minuteMs) * minuteMs - 2 * minuteMs,
    toMs: until,
    groupBy: ['store'],
  });
  state.apply(toPoints('presence', presence, mall), nowMs);

  // Older history first, hourly: status from the last value, last seen bounded by the end of the hour.
  const recentFrom = nowMs - deviceWindowMs;
  const hourly = await store.query({
    measurement: 'device_status',
    fields: ['online', 'uptime_s'],
    aggregate: 'last',
    where: { mall },
    fromMs: nowMs - deviceHistoryMs,
    toMs: recentFrom,
    everyMs: hourMs,
    groupBy: ['store', 'device'],
  });
  const older: Point[] = [];
  for (const row of hourly) {
    const endMs = Math.min(row.tsMs + hourMs, recentFrom) - 1;
    if (row.values.uptime_s !== null && row.values.uptime_s !== undefined) older.push({ measurement: 'device_status', tags: { ...row.tags, mall }, fields: { online: 1 }, tsMs: endMs });
    // A later disconnect in the same hour would show as online 0 in last(online).
    if (row.values.online === 0) older.push({ measurement: 'device_status', tags: { ...row.tags, mall }, fields: { online: 0 }, tsMs: endMs });
  }
  state.apply(older, nowMs);
  const recent = await store.query({ measurement: 'device_status', fields: ['online'], aggregate: 'none', where: { mall }, fromMs: recentFrom, toMs: until, groupBy: ['store', 'device'] });
  state.apply(toPoints('device_status', recent, mall), nowMs);
}
