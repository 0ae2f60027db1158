import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeviceRegistry } from '../../broker/registry.ts';
import { configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { OpeningSchedule } from '../../dashboards/alerts/opening-hours.ts';
import { openingHoursSchema } from '../../dashboards/alerts/settings.ts';
import { LiveView } from '../../dashboards/live/live-view.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import type { Point } from '../../ingest/store/types.ts';
import { tempDir } from '../support/tmp.ts';

const minute = 60_000;
const hour = 60 * minute;
// Monday 2026-03-02 12:00 in Asia/Shanghai (UTC+8); the mall opens 10:00-22:00.
const t0 = Date.parse('2026-03-02T04:00:00Z');
const logger = createLogger('silent');

function footfall(store: string, tsMs: number, entries: number, occupancy: number): Point {
  return { measurement: 'footfall', tags: { mall: 'm1', store }, fields: { entries: { int: entries }, exits: { int: 0 }, occupancy: { int: occupancy } }, tsMs: Math.floor(tsMs / minute) * minute };
}
const heartbeat = (tsMs: number): Point => ({ measurement: 'device_status', tags: { mall: 'm1', store: 'a', device: 'door-1' }, fields: { online: { int: 1 }, uptime_s: { int: 100 } }, tsMs });

describe('opening hours', () => {
  const schedule = new OpeningSchedule(openingHoursSchema.parse({ sat: '09:30-01:00', sun: 'closed' }), 'Asia/Shanghai');
  it('knows when the current opening period began, including hours that run past midnight', () => {
    expect(schedule.openSinceMs(t0)).toBe(Date.parse('2026-03-02T02:00:00Z')); // Monday 10:00 local
    expect(schedule.isOpen(Date.parse('2026-03-02T14:00:00Z'))).toBe(false); // Monday 22:00 local
    expect(schedule.isOpen(Date.parse('2026-03-02T01:59:00Z'))).toBe(false); // Monday 09:59 local
    // Saturday 2026-03-07 09:30 until Sunday 01:00; Sunday itself is closed.
    expect(schedule.openSinceMs(Date.parse('2026-03-07T16:30:00Z'))).toBe(Date.parse('2026-03-07T01:30:00Z')); // Sun 00:30 local
    expect(schedule.isOpen(Date.parse('2026-03-07T17:00:00Z'))).toBe(false); // Sun 01:00 local
    expect(schedule.isOpen(Date.parse('2026-03-08T04:00:00Z'))).toBe(false); // Sun 12:00 local
  });
});

describe('alerts', () => {
  let dataDir: string;
  let store: SqliteStore;
  let registry: DeviceRegistry;
  const views: LiveView[] = [];
  const config = () =>
    configSchema.parse({
      dataDir,
      malls: { m1: { stores: { a: { capacity: 10 }, b: { capacity: 100 } }, alerts: { deviceSilentMin: 10, noEntriesMin: 30 } } },
    });

  async function startView(): Promise<LiveView> {
    const live = new LiveView({ config: config(), store, registry, logger });
    views.push(live);
    await live.start();
    await vi.waitFor(() => expect(live.loaded).toBe(true));
    return live;
  }

  const open = (live: LiveView) => live.snapshot('m1')?.alerts.map((a) => `${a.kind}/${a.store}${a.device ? `/${a.device}` : ''}`) ?? [];

  beforeEach(async () => {
    vi.useFakeTimers({ now: t0 });
    dataDir = tempDir('plaza-alerts');
    store = new SqliteStore({ dataDir }, logger);
    await store.open();
    registry = DeviceRegistry.open(dataDir);
    await registry.addDevice({ mall: 'm1', store: 'a', kind: 'door', id: 'door-1' });
  });

  afterEach(async () => {
    for (const live of views.splice(0)) await live.stop();
    registry.close();
    await store.close();
    vi.useRealTimers();
  });

  it('raises over capacity above capacity and clears only at 95 % of it (hysteresis); both are recorded', async () => {
    const live = await startView();
    const raisedAt = Date.now();
    live.accept([heartbeat(Date.now())]);
    live.accept([footfall('a', Date.now(), 11, 11)]);
    await vi.advanceTimersByTimeAsync(600);
    expect(open(live)).toEqual(['occupancy_over_capacity/a']);
    const raised = live.snapshot('m1')?.alerts[0];
    expect(raised?.detail).toEqual({ occupancy: 11, capacity: 10 });

    live.accept([footfall('a', Date.now(), 0, 10)]);
    await vi.advanceTimersByTimeAsync(600);
    expect(open(live)).toEqual(['occupancy_over_capacity/a']);
    const clearedAt = Date.now();
    live.accept([footfall('a', Date.now(), 0, 9)]);
    await vi.advanceTimersByTimeAsync(600);
    expect(open(live)).toEqual([]);

    const history = live.alertHistory('m1', t0 - hour, Date.now() + 1);
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ id: raised?.id, kind: 'occupancy_over_capacity', store: 'a', clearReason: 'resolved', });
    // Transitions happen at the next push tick (every 500 ms).
    expect(Date.parse(history[0]?.raisedAt ?? '') - raisedAt).toBeLessThanOrEqual(500);
    expect(Date.parse(history[0]?.clearedAt ?? '') - clearedAt).toBeLessThanOrEqual(500);
  });

  it('raises for a device silent longer than N minutes while open, clears on its heartbeat and at closing', async () => {
    const live = await startView();
    const seenMs = Date.now();
    live.accept([heartbeat(seenMs), footfall('a', Date.now(), 1, 1)]);
    await vi.advanceTimersByTimeAsync(10 * minute);
    expect(open(live)).toEqual([]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(open(live)).toEqual(['device_silent/a/door-1']);
    expect(live.snapshot('m1')?.alerts[0]?.detail).toMatchObject({ silentMin: 10, thresholdMin: 10, lastSeen: new Date(seenMs).toISOString() });

    live.accept([heartbeat(Date.now())]);
    await vi.advanceTimersByTimeAsync(600);
    expect(open(live)).toEqual([]);

    // Silent again until closing (22:00 local = 14:00 UTC): raised, then cleared as closed.
    await vi.advanceTimersByTimeAsync(11 * minute);
    expect(open(live)).toContain('device_silent/a/door-1');
    vi.setSystemTime(Date.parse('2026-03-02T13:59:50Z'));
    await vi.advanceTimersByTimeAsync(5000);
    expect(open(live)).toContain('device_silent/a/door-1');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(open(live)).toEqual([]);
    const reasons = live.alertHistory('m1', t0, Date.now() + 1).map((a) => `${a.kind}:${a.clearReason}`);
    expect(reasons).toContain('device_silent:closed');
    expect(reasons).toContain('device_silent:resolved');
  });

  it('counts silence from opening time: a device off overnight is reported N minutes after opening, not at opening', async () => {
    // Last heard yesterday at 21:00 local; now it is 09:50 local, closed.
    await store.write([heartbeat(Date.parse('2026-03-01T13:00:00Z'))]);
    vi.setSystemTime(Date.parse('2026-03-02T01:50:00Z'));
    const live = await startView();
    expect(live.snapshot('m1')?.stores[0]?.devices[0]?.lastSeen?.slice(0, 13)).toBe('2026-03-01T13');
    await vi.advanceTimersByTimeAsync(10 * minute + 30_000); // 10:00:30
    expect(open(live)).toEqual([]);
    await vi.advanceTimersByTimeAsync(10 * minute); // 10:10:30
    expect(open(live)).toEqual(['device_silent/a/door-1']);
  });

  it('raises no-entries only for a store that usually has traffic, after its quiet window; the next entry clears it', async () => {
    // Seven days of history: store a has 30 entries in every opening hour, store b none.
    const history: Point[] = [];
    for (let day = 1; day <= 7; day += 1) {
      for (let h = 10; h < 22; h += 1) history.push(footfall('a', Date.parse('2026-03-02T00:00:00Z') - 8 * hour - day * 24 * hour + h * hour, 30, 30));
    }
    await store.write(history);
    const live = await startView();
    live.accept([heartbeat(Date.now()), footfall('a', Date.now(), 2, 2), footfall('b', Date.now(), 0, 0)]);
    await vi.advanceTimersByTimeAsync(30 * minute + 30_000); // quiet since 12:01 for 29.5 min
    expect(open(live).filter((a) => a.startsWith('no_entries'))).toEqual([]);
    live.accept([heartbeat(Date.now())]);
    await vi.advanceTimersByTimeAsync(45_000);
    expect(open(live).filter((a) => a.startsWith('no_entries'))).toEqual(['no_entries/a']);
    expect(live.snapshot('m1')?.alerts.find((a) => a.kind === 'no_entries')?.detail).toMatchObject({ thresholdMin: 30, usualEntries: 15 });

    live.accept([footfall('a', Date.now(), 1, 3)]);
    await vi.advanceTimersByTimeAsync(600);
    expect(open(live).filter((a) => a.startsWith('no_entries'))).toEqual([]);
  });

  it('keeps open alerts and today’s figures across a restart without raising them again', async () => {
    const first = await startView();
    first.accept([heartbeat(Date.now()), footfall('a', Date.now(), 12, 12), footfall('b', Date.now() - 20 * minute, 5, 5)]);
    await store.write([heartbeat(Date.now()), footfall('a', Date.now(), 12, 12), footfall('b', Date.now() - 20 * minute, 5, 5)]);
    await vi.advanceTimersByTimeAsync(600);
    const before = first.snapshot('m1');
    expect(open(first)).toEqual(['occupancy_over_capacity/a']);
    await first.stop();
    views.splice(0);

    const second = await startView();
    await vi.advanceTimersByTimeAsync(6000);
    const after = second.snapshot('m1');
    expect(after?.alerts.map((a) => a.id)).toEqual(before?.alerts.map((a) => a.id));
    expect(after?.totals).toMatchObject({ occupancy: 17, entries15: 12, entries60: 17, devicesOnline: 1 });
    expect(second.alertHistory('m1', t0 - hour, Date.now() + 1)).toHaveLength(1);
  });
});
