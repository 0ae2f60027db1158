import type { Config } from '../core/config.ts';

/** Defaults for probe analytics; per-store overrides come from the `malls` config section. */
export const probeDefaults = {
  /** Sightings at or above this RSSI (dBm) count as inside the store. */
  visitorRssiDbm: -70,
  /** A visit becomes a visitor (not a passer-by) after this dwell, in s (5 min). */
  visitorMinDwellS: 300,
  /** A visit closes after this long without a sighting, in s (15 min). */
  visitGapS: 900,
} as const;

export const defaultTimeZone = 'Asia/Shanghai';

export interface StoreSettings {
  visitorRssiDbm: number;
  visitorMinDwellS: number;
  visitGapS: number;
  capacity: number | undefined;
}

/** Resolves per-mall and per-store settings with documented defaults. Unknown malls use the defaults. */
export class Settings {
  constructor(private readonly malls: Config['malls']) {}

  timeZoneOf(mall: string): string {
    return this.malls[mall]?.timeZone ?? defaultTimeZone;
  }

  /** Time zone per configured mall (others use defaultTimeZone). */
  timeZones(): Record<string, string> {
    return Object.fromEntries(Object.keys(this.malls).map((mall) => [mall, this.timeZoneOf(mall)]));
  }

  dayResetHourOf(mall: string): number {
    return this.malls[mall]?.dayResetHour ?? 0;
  }

  storeOf(mall: string, store: string): StoreSettings {
    const s = this.malls[mall]?.stores[store];
    return {
      visitorRssiDbm: s?.visitorRssiDbm ?? probeDefaults.visitorRssiDbm,
      visitorMinDwellS: s?.visitorMinDwellS ?? probeDefaults.visitorMinDwellS,
      visitGapS: s?.visitGapS ?? probeDefaults.visitGapS,
      capacity: s?.capacity,
    };
  }
}
