import type { OptOuts } from '../optouts.ts';
import type { MemberLinks } from '../portal/member-links.ts';
import type { MemberVisits } from '../portal/member-visits.ts';
import type { Logger } from '../../core/logger.ts';
import type { Settings } from '../settings.ts';

/** Tunables of the probe processor; every one has a documented default (docs/data-model.md). */
export const probeProcessorDefaults = {
  /** Sightings older than this before receipt are dropped (a batch of only such sightings is rejected), in ms (7 d, as door data). */
  lateDataMaxMs: 7 * 24 * 60 * 60 * 1000,
  /** Sightings further than this ahead of receipt get the receive time, in ms (5 min). */
  futureSkewMaxMs: 5 * 60 * 1000,
  /**
   * How long per-device working state outlives its use, in ms (3 h): closed visits after closing, a day's
   * device set after the local day ends. Late or redelivered sightings within it merge exactly.
   */
  stateGraceMs: 3 * 60 * 60 * 1000,
  /** A new random MAC continues a fingerprint cluster if its 802.11 sequence number is at most this far ahead. */
  clusterSnWindow: 64,
  /** …and it appears at most this long after the cluster's last frame, in ms (60 s). */
  clusterWindowMs: 60 * 1000,
  /** Minimum time between two purges of expired working state, in ms (1 min). */
  purgeIntervalMs: 60 * 1000,
  /** In-memory identity cache size at which the cache is dropped (the database stays authoritative). */
  maxCachedIdentities: 200_000,
  /** Visits closed per tick at most; the rest close on the next tick. */
  closeBatchMax: 5000,
} as const;

export interface ProbeProcessorOptions {
  /** Master secret for the daily pseudonymisation keys (PLAZA_HASH_SECRET). */
  masterSecret: string;
  settings: Settings;
  logger: Logger;
  lateDataMaxMs?: number;
  futureSkewMaxMs?: number;
  stateGraceMs?: number;
  clusterSnWindow?: number;
  clusterWindowMs?: number;
  /** Consented member links and the member-visit counter (portal linking); absent = no member figures. */
  members?: { links: MemberLinks; visits: MemberVisits };
  /** Devices whose owners opted out: their sightings are dropped before anything else happens. */
  optOuts?: OptOuts;
}

/** Monotonic counters for metrics (not rolled back with a failed transaction; they count attempts). */
export interface ProbeStats {
  /** Sightings accepted and applied. */
  sightings: number;
  /** Sightings whose device time was too far in the future and was replaced by the receive time. */
  futureSkewCorrected: number;
  /** Sightings dropped as older than the late-data window (in batches that also held usable sightings). */
  tooOldDropped: number;
  /** Messages ignored because (device, boot, seq) was already processed. */
  duplicateMessages: number;
  /** Visits closed (a visit reopened by a late sighting and closed again counts twice). */
  visitsClosed: number;
  /** Random MACs merged into an existing device by fingerprint + sequence number. */
  clusterMerges: number;
  /** Devices added to a local day whose device set had already been purged (may overcount that day). */
  devicesAfterDaySealed: number;
  /** Sightings dropped because the device opted out. */
  optedOut: number;
  /** Sightings of devices linked to a consenting member. */
  memberSightings: number;
}

export function emptyProbeStats(): ProbeStats {
  return {
    sightings: 0,
    futureSkewCorrected: 0,
    tooOldDropped: 0,
    duplicateMessages: 0,
    visitsClosed: 0,
    clusterMerges: 0,
    devicesAfterDaySealed: 0,
    optedOut: 0,
    memberSightings: 0,
  };
}
