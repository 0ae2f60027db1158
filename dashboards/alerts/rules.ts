import type { AlertKind } from '../live/snapshot.ts';
import type { Alert } from './log.ts';
import type { MallAlertSettings } from './settings.ts';

const minuteMs = 60_000;

export type ClearReason = 'resolved' | 'closed' | 'removed';

/** What the rules need to know about one mall at one instant. */
export interface MallFacts {
  mall: string;
  nowMs: number;
  /** Start of the current opening period, or undefined while closed. */
  openSinceMs: number | undefined;
  settings: MallAlertSettings;
  stores: readonly StoreFacts[];
  devices: readonly { id: string; store: string; createdMs: number; lastSeenMs: number | undefined }[];
}

export interface StoreFacts {
  store: string;
  occupancy: number;
  capacity: number | undefined;
  /** End of the last minute with entries, when known. */
  lastEntryMs: number | undefined;
  noEntriesMin: number;
  /** Usual entries per minute at this hour (baseline.ts), or undefined without enough history. */
  usualEntriesPerMin: number | undefined;
}

/** One alert condition as it stands now: whether it should be raised, and when an open one should clear. */
export interface Condition {
  key: string;
  kind: AlertKind;
  store: string;
  device?: string;
  raise: boolean;
  /** Why an open alert with this key clears now, or undefined while it holds. */
  clearReason(alert: Alert): ClearReason | undefined;
  detail: Record<string, number | string | null>;
}

export function alertKey(kind: AlertKind, mall: string, store: string, device?: string): string {
  return [kind, mall, store, device ?? ''].join('/');
}

/**
 * Every condition of a mall. Raise and clear thresholds differ (hysteresis), so a figure hovering at a
 * threshold does not make an alert flap:
 * - over capacity: raised when occupancy > capacity; cleared at ≤ capacity × capacityClearRatio (any time of day);
 * - device silent: no heartbeat for more than deviceSilentMin of opening time; cleared by its next heartbeat or
 *   at closing;
 * - no entries: no entries for more than the store's noEntriesMin of opening time while the store usually has
 *   at least noEntriesMinExpected entries in that long; cleared by the next entry or at closing.
 */
export function conditionsOf(facts: MallFacts): Condition[] {
  const { mall, nowMs, openSinceMs, settings } = facts;
  const open = openSinceMs !== undefined;
  const conditions: Condition[] = [];
  for (const store of facts.stores) {
    const capacity = store.capacity;
    if (capacity !== undefined) {
      const clearAt = Math.floor(capacity * settings.capacityClearRatio);
      conditions.push({
        key: alertKey('occupancy_over_capacity', mall, store.store),
        kind: 'occupancy_over_capacity',
        store: store.store,
        raise: store.occupancy > capacity,
        clearReason: () => (store.occupancy <= clearAt ? 'resolved' : undefined),
        detail: { occupancy: store.occupancy, capacity },
      });
    }
    const windowMs = store.noEntriesMin * minuteMs;
    const expected = store.usualEntriesPerMin === undefined ? undefined : store.usualEntriesPerMin * store.noEntriesMin;
    const quietSinceMs = Math.max(store.lastEntryMs ?? Number.NEGATIVE_INFINITY, openSinceMs ?? Number.POSITIVE_INFINITY);
    conditions.push({
      key: alertKey('no_entries', mall, store.store),
      kind: 'no_entries',
      store: store.store,
      raise: open && expected !== undefined && expected >= settings.noEntriesMinExpected && nowMs - quietSinceMs > windowMs,
      clearReason: (alert) => (!open ? 'closed' : store.lastEntryMs !== undefined && store.lastEntryMs > alert.raisedMs ? 'resolved' : undefined),
      detail: {
        quietMin: open ? Math.floor((nowMs - quietSinceMs) / minuteMs) : null,
        thresholdMin: store.noEntriesMin,
        usualEntries: expected === undefined ? null : Math.round(expected * 10) / 10,
      },
    });
  }
  const thresholdMs = settings.deviceSilentMin * minuteMs;
  for (const device of facts.devices) {
    const silentSinceMs = Math.max(device.lastSeenMs ?? device.createdMs, openSinceMs ?? Number.POSITIVE_INFINITY);
    const heardRecently = device.lastSeenMs !== undefined && nowMs - device.lastSeenMs <= thresholdMs;
    conditions.push({
      key: alertKey('device_silent', mall, device.store, device.id),
      kind: 'device_silent',
      store: device.store,
      device: device.id,
      raise: open && nowMs - silentSinceMs > thresholdMs,
      clearReason: () => (!open ? 'closed' : heardRecently ? 'resolved' : undefined),
      detail: {
        silentMin: open ? Math.floor((nowMs - silentSinceMs) / minuteMs) : null,
        thresholdMin: settings.deviceSilentMin,
        lastSeen: device.lastSeenMs === undefined ? null : new Date(device.lastSeenMs).toISOString(),
      },
    });
  }
  return conditions;
}
