import type { AlertKindName } from '../../protocol/payloads/alert.ts';

/** What the live page, the WebSocket and `GET /api/live` show for one mall (docs/api.md). */

export type AlertKind = AlertKindName;

export interface AlertView {
  id: string;
  kind: AlertKind;
  mall: string;
  store: string;
  device: string | null;
  raisedAt: string;
  clearedAt: string | null;
  /** Figures at the moment the alert was raised (occupancy and capacity, silent minutes, …). */
  detail: Record<string, number | string | null>;
  clearReason: string | null;
}

export interface DeviceView {
  id: string;
  kind: 'door' | 'probe';
  /** online: its last status was a heartbeat; offline: the broker saw it go; unknown: nothing heard yet. */
  status: 'online' | 'offline' | 'unknown';
  /** Time of its last heartbeat, or null when none is known. */
  lastSeen: string | null;
}

export interface Figures {
  /** People inside now (business-day entries − exits, clamped at 0 per store). */
  occupancy: number;
  /** The store's configured capacity; for the mall the sum of its stores' when every store has one. Else null. */
  capacity: number | null;
  /** Entries in the current minute and the 14 (or 59) before it. */
  entries15: number;
  entries60: number;
  /** Entries per minute, oldest first; the last element is the current minute (starting at seriesStart). */
  entriesPerMinute: number[];
  /** Wi-Fi presence of the current or previous minute, whichever saw more devices. */
  visitors: number;
  passersBy: number;
  devicesOnline: number;
  devicesOffline: number;
}

export interface StoreView extends Figures {
  store: string;
  name: string;
  devices: DeviceView[];
}

export interface LiveSnapshot {
  mall: string;
  name: string;
  timeZone: string;
  generatedAt: string;
  /** Start of the first minute of every entriesPerMinute series. */
  seriesStart: string;
  /** Start of the business day occupancy counts from. */
  businessDayStart: string;
  /** Whether the mall is within its opening hours now. */
  open: boolean;
  /** False until today's figures were loaded from the store after a start (figures may be too low until then). */
  loaded: boolean;
  totals: Figures;
  stores: StoreView[];
  alerts: AlertView[];
}
