import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../../broker/registry.ts';
import { configSchema } from '../../core/config.ts';
import { LiveState } from '../../dashboards/live/state.ts';
import type { Point } from '../../ingest/store/types.ts';

const minute = 60_000;
// 2026-03-02 (a Monday) 12:00:30 in Asia/Shanghai = 04:00:30 UTC.
const now = Date.parse('2026-03-02T04:00:30Z');
const currentMinute = now - 30_000;

const config = configSchema.parse({
  malls: { m1: { name: 'Mall One', stores: { a: { capacity: 50, name: 'Apple' }, b: {} } } },
}).malls;

function footfall(store: string, tsMs: number, entries: number, exits: number, occupancy: number, mall = 'm1'): Point {
  return { measurement: 'footfall', tags: { mall, store }, fields: { entries: { int: entries }, exits: { int: exits }, occupancy: { int: occupancy } }, tsMs };
}

function presence(store: string, tsMs: number, devices: number, visitors: number): Point {
  return { measurement: 'presence', tags: { mall: 'm1', store }, fields: { devices: { int: devices }, visitors: { int: visitors }, passers_by: { int: devices - visitors }, connected: { int: 0 }, unclustered: { int: 0 } }, tsMs };
}

function status(device: string, store: string, tsMs: number, online: 0 | 1): Point {
  return { measurement: 'device_status', tags: { mall: 'm1', store, device }, fields: { online: { int: online } }, tsMs };
}

const device = (id: string, store: string, revokedMs: number | null = null): DeviceRecord => ({ id, mall: 'm1', store, kind: 'door', createdMs: now - 86_400_000, revokedMs });

describe('live state', () => {
  it('sums entries over the last 15 and 60 minutes and keeps a 60-minute series ending at the current minute', () => {
    const state = new LiveState(config);
    const points: Point[] = [];
    // One entry every minute for the last 90 minutes: the windows must count only their own minutes.
    for (let m = 0; m < 90; m += 1) points.push(footfall('a', currentMinute - m * minute, 1 + (m % 3), 0, 10));
    state.apply(points, now);
    const { stores, totals } = state.view('m1', now);
    const a = stores.find((s) => s.store === 'a');
    const expected = (count: number): number => Array.from({ length: count }, (_, m) => 1 + (m % 3)).reduce((x, y) => x + y, 0);
    expect(a?.entries15).toBe(expected(15));
    expect(a?.entries60).toBe(expected(60));
    expect(a?.entriesPerMinute).toHaveLength(60);
    expect(a?.entriesPerMinute.at(-1)).toBe(1); // m = 0
    expect(a?.entriesPerMinute.at(0)).toBe(1 + (59 % 3));
    expect(totals.entries60).toBe(expected(60));
    expect(a?.name).toBe('Apple');
    expect(a?.capacity).toBe(50);
    expect(stores.map((s) => s.store)).toEqual(['a', 'b']);
  });

  it('moves the windows with time: an old minute leaves the 15-minute sum, then the 60-minute one', () => {
    const state = new LiveState(config);
    state.apply([footfall('a', currentMinute, 7, 0, 7)], now);
    expect(state.view('m1', now).totals.entries15).toBe(7);
    expect(state.view('m1', now + 15 * minute).totals.entries15).toBe(0);
    expect(state.view('m1', now + 15 * minute).totals.entries60).toBe(7);
    expect(state.view('m1', now + 60 * minute).totals.entries60).toBe(0);
  });

  it('takes occupancy from the latest minute; a late rewrite of an earlier minute does not win over a later one', () => {
    const state = new LiveState(config);
    state.apply([footfall('a', currentMinute - 5 * minute, 5, 0, 5), footfall('a', currentMinute, 3, 0, 8)], now);
    expect(state.view('m1', now).stores[0]?.occupancy).toBe(8);
    // Late reading for 5 minutes ago: ingest sends that minute and every later one, recomputed.
    state.apply([footfall('a', currentMinute - 5 * minute, 6, 0, 6), footfall('a', currentMinute, 3, 0, 9)], now);
    expect(state.view('m1', now).stores[0]?.occupancy).toBe(9);
    state.apply([footfall('a', currentMinute - 2 * minute, 1, 0, 4)], now);
    expect(state.view('m1', now).stores[0]?.occupancy).toBe(9);
  });

  it('resets occupancy at the start of the business day (local midnight by default)', () => {
    const state = new LiveState(config);
    state.apply([footfall('a', currentMinute, 3, 0, 30)], now);
    // 2026-03-03 00:00:30 in Shanghai: a new business day without readings yet.
    const nextDay = Date.parse('2026-03-02T16:00:30Z');
    expect(state.view('m1', nextDay).stores[0]?.occupancy).toBe(0);
    expect(state.view('m1', nextDay - minute).stores[0]?.occupancy).toBe(30);
  });

  it('shows presence of the current or previous minute, whichever saw more devices, and sums stores for the mall', () => {
    const state = new LiveState(config);
    state.apply([presence('a', currentMinute - minute, 12, 5), presence('a', currentMinute, 4, 1), presence('b', currentMinute, 6, 2)], now);
    const { stores, totals } = state.view('m1', now);
    expect(stores[0]).toMatchObject({ visitors: 5, passersBy: 7 });
    expect(stores[1]).toMatchObject({ visitors: 2, passersBy: 4 });
    expect(totals).toMatchObject({ visitors: 7, passersBy: 11 });
    // Two minutes later both are gone.
    expect(state.view('m1', now + 2 * minute).totals.visitors).toBe(0);
  });

  it('tracks devices from the registry and their status; revoked devices disappear', () => {
    const state = new LiveState(config);
    state.setDevices([device('door-1', 'a'), device('door-2', 'a'), device('door-3', 'b'), device('door-4', 'b', now - minute)]);
    state.apply([status('door-1', 'a', now - 2 * minute, 1), status('door-2', 'a', now - 5 * minute, 1), status('door-2', 'a', now - minute, 0)], now);
    const { stores, totals } = state.view('m1', now);
    const a = stores.find((s) => s.store === 'a');
    expect(a?.devices).toEqual([
      { id: 'door-1', kind: 'door', status: 'online', lastSeen: new Date(now - 2 * minute).toISOString() },
      { id: 'door-2', kind: 'door', status: 'offline', lastSeen: new Date(now - 5 * minute).toISOString() },
    ]);
    expect(stores.find((s) => s.store === 'b')?.devices.map((d) => d.status)).toEqual(['unknown']);
    expect(totals).toMatchObject({ devicesOnline: 1, devicesOffline: 2 });
    // An older heartbeat arriving late does not undo the newer offline notice.
    state.apply([status('door-2', 'a', now - 3 * minute, 1)], now);
    expect(state.view('m1', now).stores[0]?.devices[1]?.status).toBe('offline');
    // A refresh keeps what was heard.
    state.setDevices([device('door-1', 'a'), device('door-2', 'a')]);
    expect(state.view('m1', now).totals).toMatchObject({ devicesOnline: 1, devicesOffline: 1 });
  });

  it('stays bounded: hours of minutes keep about an hour per store', () => {
    const state = new LiveState(config);
    for (let m = 0; m < 600; m += 1) {
      const t = now + m * minute;
      state.apply([footfall('a', t - 30_000, 1, 0, m)], t);
    }
    const later = now + 599 * minute;
    const a = state.view('m1', later).stores[0];
    expect(a?.entries60).toBe(60);
    // Minutes older than the window were dropped: a view two hours back finds none of them.
    expect(state.view('m1', later - 120 * minute).stores[0]?.entries60).toBe(0);
  });

  it('gives the mall a capacity only when every store has one', () => {
    expect(new LiveState(config).view('m1', now).totals.capacity).toBeNull();
    const full = configSchema.parse({ malls: { m1: { stores: { a: { capacity: 50 }, b: { capacity: 30 } } } } }).malls;
    expect(new LiveState(full).view('m1', now).totals.capacity).toBe(80);
  });

  it('ignores points of other measurements and points without mall or store', () => {
    const state = new LiveState(config);
    const changed = state.apply(
      [
        { measurement: 'visit', tags: { mall: 'm1', store: 'a' }, fields: { dwell_s: { int: 5 } }, tsMs: now },
        { measurement: 'footfall', tags: { mall: 'm1' }, fields: { entries: { int: 5 } }, tsMs: now },
      ],
      now,
    );
    expect(changed.size).toBe(0);
    expect(state.view('m1', now).totals.entries60).toBe(0);
  });

  it('reports the end of the last minute with entries for the alerts', () => {
    const state = new LiveState(config);
    state.apply([footfall('a', currentMinute - 10 * minute, 2, 0, 2), footfall('a', currentMinute - 5 * minute, 0, 1, 1)], now);
    expect(state.storeFacts('m1', now).find((s) => s.store === 'a')?.lastEntryMs).toBe(currentMinute - 9 * minute);
  });
});
