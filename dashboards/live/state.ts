import type { DeviceRecord } from '../../broker/registry.ts';
import type { MallConfig } from '../../core/config.ts';
import type { FieldValue, Point } from '../../ingest/store/types.ts';
import { businessDayStartMs } from '../../ingest/time.ts';
import type { DeviceView, Figures, StoreView } from './snapshot.ts';

const minuteMs = 60_000;
/** Minutes of entries kept per store: the 60-minute window plus readings stamped up to 5 min ahead. */
export const seriesMinutes = 60;
const keepAheadMinutes = 5;
/** Presence minutes kept per store (current and previous minute, plus one being finished late). */
const presenceMinutes = 3;
/** Malls this state follows beyond the configured ones (bounded: ingest only accepts registered devices). */
const maxMalls = 10_000;

interface MinuteCounts {
  entries: number;
  exits: number;
}

interface PresenceCounts {
  devices: number;
  visitors: number;
  passersBy: number;
}

class StoreState {
  readonly minutes = new Map<number, MinuteCounts>();
  readonly presence = new Map<number, PresenceCounts>();
  occupancyMinuteMs = Number.NEGATIVE_INFINITY;
  occupancy = 0;
  /** End of the latest minute with entries, when known. */
  lastEntryMs: number | undefined;
}

interface DeviceState {
  store: string;
  kind: 'door' | 'probe';
  createdMs: number;
  status: DeviceView['status'];
  statusMs: number;
  lastSeenMs: number | undefined;
}

class MallState {
  readonly stores = new Map<string, StoreState>();
  readonly devices = new Map<string, DeviceState>();

  store(id: string): StoreState {
    let store = this.stores.get(id);
    if (store === undefined) {
      store = new StoreState();
      this.stores.set(id, store);
    }
    return store;
  }
}

function numberOf(value: FieldValue | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  if (typeof value === 'object') return value.int;
  return undefined;
}

/** A device as the alerts see it. */
export interface DeviceFacts {
  id: string;
  store: string;
  createdMs: number;
  lastSeenMs: number | undefined;
}

/**
 * The live figures of every mall, fed with committed points (and at start with what the store holds). Memory is
 * bounded per store: about 65 minute counters and 3 presence minutes, whatever the traffic.
 */
export class LiveState {
  private readonly malls = new Map<string, MallState>();

  constructor(private readonly config: Readonly<Record<string, MallConfig>>) {
    for (const mall of Object.keys(config)) this.malls.set(mall, new MallState());
  }

  mallIds(): string[] {
    return [...this.malls.keys()].sort();
  }

  has(mall: string): boolean {
    return this.malls.has(mall);
  }

  /** Applies committed points; returns the malls whose figures changed. */
  apply(points: readonly Point[], nowMs: number): Set<string> {
    const changed = new Set<string>();
    for (const point of points) {
      const mallId = point.tags.mall;
      const storeId = point.tags.store;
      if (mallId === undefined || storeId === undefined) continue;
      const mall = this.mall(mallId);
      if (mall === undefined) continue;
      if (point.measurement === 'footfall') this.applyFootfall(mall.store(storeId), point, nowMs);
      else if (point.measurement === 'presence') this.applyPresence(mall.store(storeId), point, nowMs);
      else if (point.measurement === 'device_status') this.applyStatus(mall, storeId, point);
      else continue;
      changed.add(mallId);
    }
    return changed;
  }

  /** Occupancy loaded at start: the latest known value of the business day and the time it belongs to. */
  loadOccupancy(mallId: string, storeId: string, minuteMs: number, occupancy: number): void {
    const store = this.mall(mallId)?.store(storeId);
    if (store === undefined || minuteMs < store.occupancyMinuteMs) return;
    store.occupancyMinuteMs = minuteMs;
    store.occupancy = occupancy;
  }

  /** Entries seen before the loaded minutes (hourly history at start): moves the last-entry time forward only. */
  noteEntriesUntil(mallId: string, storeId: string, untilMs: number): void {
    const store = this.mall(mallId)?.store(storeId);
    if (store !== undefined && (store.lastEntryMs === undefined || untilMs > store.lastEntryMs)) store.lastEntryMs = untilMs;
  }

  /** Replaces the installed devices (the registry's list, revoked ones excluded), keeping what was heard of them. */
  setDevices(records: readonly DeviceRecord[]): void {
    const byMall = new Map<string, DeviceRecord[]>();
    for (const record of records) {
      if (record.revokedMs !== null) continue;
      const list = byMall.get(record.mall) ?? [];
      list.push(record);
      byMall.set(record.mall, list);
    }
    for (const mallId of new Set([...this.malls.keys(), ...byMall.keys()])) {
      const mall = this.mall(mallId);
      if (mall === undefined) continue;
      const next = new Map<string, DeviceState>();
      for (const record of byMall.get(mallId) ?? []) {
        const known = mall.devices.get(record.id);
        next.set(record.id, {
          store: record.store,
          kind: record.kind,
          createdMs: record.createdMs,
          status: known?.status ?? 'unknown',
          statusMs: known?.statusMs ?? Number.NEGATIVE_INFINITY,
          lastSeenMs: known?.lastSeenMs,
        });
        mall.store(record.store);
      }
      mall.devices.clear();
      for (const [id, device] of next) mall.devices.set(id, device);
    }
  }

  devices(mallId: string): DeviceFacts[] {
    const mall = this.malls.get(mallId);
    if (mall === undefined) return [];
    return [...mall.devices].map(([id, d]) => ({ id, store: d.store, createdMs: d.createdMs, lastSeenMs: d.lastSeenMs }));
  }

  /** Occupancy now and the end of the last minute with entries, per store (for the alerts). */
  storeFacts(mallId: string, nowMs: number): { store: string; occupancy: number; lastEntryMs: number | undefined }[] {
    const mall = this.malls.get(mallId);
    if (mall === undefined) return [];
    const dayStart = this.businessDayStart(mallId, nowMs);
    return [...mall.stores].map(([id, s]) => ({ store: id, occupancy: s.occupancyMinuteMs >= dayStart ? s.occupancy : 0, lastEntryMs: s.lastEntryMs }));
  }

  businessDayStart(mallId: string, nowMs: number): number {
    const config = this.config[mallId];
    return businessDayStartMs(nowMs, config?.timeZone ?? 'Asia/Shanghai', config?.dayResetHour ?? 0);
  }

  /** Series start for a view at nowMs: the minute 59 minutes before the current one. */
  seriesStart(nowMs: number): number {
    return Math.floor(nowMs / minuteMs) * minuteMs - (seriesMinutes - 1) * minuteMs;
  }

  /** Every store's figures, sorted by id, and the mall's totals. */
  view(mallId: string, nowMs: number): { stores: StoreView[]; totals: Figures } {
    const mall = this.malls.get(mallId);
    const storesConfig = this.config[mallId]?.stores ?? {};
    const ids = new Set([...Object.keys(storesConfig), ...(mall?.stores.keys() ?? [])]);
    const dayStart = this.businessDayStart(mallId, nowMs);
    const seriesStart = this.seriesStart(nowMs);
    const currentMinute = seriesStart + (seriesMinutes - 1) * minuteMs;
    const stores: StoreView[] = [];
    for (const id of [...ids].sort()) {
      const state = mall?.stores.get(id) ?? new StoreState();
      const perMinute: number[] = [];
      for (let i = 0; i < seriesMinutes; i += 1) perMinute.push(state.minutes.get(seriesStart + i * minuteMs)?.entries ?? 0);
      const presence = this.presenceNow(state, currentMinute);
      const devices: DeviceView[] = [...(mall?.devices ?? [])]
        .filter(([, d]) => d.store === id)
        .map(([deviceId, d]) => ({ id: deviceId, kind: d.kind, status: d.status, lastSeen: d.lastSeenMs === undefined ? null : new Date(d.lastSeenMs).toISOString() }))
        .sort((a, b) => a.id.localeCompare(b.id));
      const config = storesConfig[id];
      stores.push({
        store: id,
        name: config?.name ?? id,
        occupancy: state.occupancyMinuteMs >= dayStart ? state.occupancy : 0,
        capacity: config?.capacity ?? null,
        entries15: perMinute.slice(-15).reduce((a, b) => a + b, 0),
        entries60: perMinute.reduce((a, b) => a + b, 0),
        entriesPerMinute: perMinute,
        visitors: presence.visitors,
        passersBy: presence.passersBy,
        devicesOnline: devices.filter((d) => d.status === 'online').length,
        devicesOffline: devices.filter((d) => d.status !== 'online').length,
        devices,
      });
    }
    const sum = (pick: (s: StoreView) => number): number => stores.reduce((total, s) => total + pick(s), 0);
    // A mall capacity only when every store has one: otherwise occupancy would be compared with part of the mall.
    const capacities = stores.map((s) => s.capacity);
    const totals: Figures = {
      occupancy: sum((s) => s.occupancy),
      capacity: capacities.length === 0 || capacities.includes(null) ? null : capacities.reduce<number>((a, b) => a + (b ?? 0), 0),
      entries15: sum((s) => s.entries15),
      entries60: sum((s) => s.entries60),
      entriesPerMinute: Array.from({ length: seriesMinutes }, (_, i) => sum((s) => s.entriesPerMinute[i] ?? 0)),
      visitors: sum((s) => s.visitors),
      passersBy: sum((s) => s.passersBy),
      devicesOnline: sum((s) => s.devicesOnline),
      devicesOffline: sum((s) => s.devicesOffline),
    };
    return { stores, totals };
  }

  private mall(id: string): MallState | undefined {
    let mall = this.malls.get(id);
    if (mall === undefined && this.malls.size < maxMalls) {
      mall = new MallState();
      this.malls.set(id, mall);
    }
    return mall;
  }

  private presenceNow(state: StoreState, currentMinute: number): PresenceCounts {
    const current = state.presence.get(currentMinute);
    const previous = state.presence.get(currentMinute - minuteMs);
    const best = (current?.devices ?? -1) >= (previous?.devices ?? -1) ? current : previous;
    return best ?? { devices: 0, visitors: 0, passersBy: 0 };
  }

  private applyFootfall(store: StoreState, point: Point, nowMs: number): void {
    const minute = Math.floor(point.tsMs / minuteMs) * minuteMs;
    const entries = numberOf(point.fields.entries);
    const exits = numberOf(point.fields.exits);
    const occupancy = numberOf(point.fields.occupancy);
    const oldest = this.seriesStart(nowMs);
    if (entries !== undefined && minute >= oldest && minute <= nowMs + keepAheadMinutes * minuteMs) {
      store.minutes.set(minute, { entries, exits: exits ?? 0 });
      for (const key of store.minutes.keys()) if (key < oldest) store.minutes.delete(key);
    }
    if (entries !== undefined && entries > 0) this.noteEntries(store, minute + minuteMs);
    // A late reading comes with the recomputed occupancy of every later minute: the latest minute wins.
    if (occupancy !== undefined && minute >= store.occupancyMinuteMs) {
      store.occupancyMinuteMs = minute;
      store.occupancy = occupancy;
    }
  }

  private noteEntries(store: StoreState, untilMs: number): void {
    if (store.lastEntryMs === undefined || untilMs > store.lastEntryMs) store.lastEntryMs = untilMs;
  }

  private applyPresence(store: StoreState, point: Point, nowMs: number): void {
    const minute = Math.floor(point.tsMs / minuteMs) * minuteMs;
    const oldest = Math.floor(nowMs / minuteMs) * minuteMs - (presenceMinutes - 1) * minuteMs;
    if (minute < oldest || minute > nowMs + keepAheadMinutes * minuteMs) return;
    store.presence.set(minute, {
      devices: numberOf(point.fields.devices) ?? 0,
      visitors: numberOf(point.fields.visitors) ?? 0,
      passersBy: numberOf(point.fields.passers_by) ?? 0,
    });
    for (const key of store.presence.keys()) if (key < oldest) store.presence.delete(key);
  }

  private applyStatus(mall: MallState, storeId: string, point: Point): void {
    const id = point.tags.device;
    if (id === undefined) return;
    const online = numberOf(point.fields.online);
    if (online === undefined) return;
    let device = mall.devices.get(id);
    if (device === undefined) {
      // Heard before the registry list was refreshed; the next refresh fills in its kind or drops it.
      device = { store: storeId, kind: 'door', createdMs: point.tsMs, status: 'unknown', statusMs: Number.NEGATIVE_INFINITY, lastSeenMs: undefined };
      mall.devices.set(id, device);
      mall.store(storeId);
    }
    if (online === 1 && (device.lastSeenMs === undefined || point.tsMs > device.lastSeenMs)) device.lastSeenMs = point.tsMs;
    if (point.tsMs >= device.statusMs) {
      device.statusMs = point.tsMs;
      device.status = online === 1 ? 'online' : 'offline';
    }
  }
}
