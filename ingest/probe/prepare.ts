import { isRandomizedMac } from '../../protocol/mac.ts';
import type { ProbePayload } from '../../protocol/payloads/probe.ts';
import { parsePayload } from '../../protocol/topics.ts';
import { deriveLinkKey, linkHash } from '../pseudonym.ts';
import { fingerprintPseudonym, type LocalDay, LocalDays, macPseudonym } from './days.ts';

/**
 * What pseudonymising a probe batch needs. Everything in it is configuration, so the same preparation runs on
 * the event-loop thread or on the prepare thread (ingest/prepare/) and gives the same result.
 */
export interface ProbePrepareSpec {
  masterSecret: string;
  /** Time zone per configured mall; other malls use `defaultTimeZone`. */
  timeZones: Record<string, string>;
  defaultTimeZone: string;
  futureSkewMaxMs: number;
  lateDataMaxMs: number;
}

/** Sighting flags in PreparedProbe.flags. */
export const sightingFlags = { randomized: 1, assoc: 2, hasSn: 4 } as const;

/**
 * A validated probe batch with every MAC and fingerprint already pseudonymised: no raw MAC in it. Columns per
 * sighting (index as in the payload), so it crosses threads as a few arrays instead of many small objects.
 */
export interface PreparedProbe {
  boot: string;
  seq: number;
  /** The batch's own timestamp (consumer lag). */
  ts: number;
  count: number;
  /** Sightings whose device time lay too far ahead and got the receive time. */
  future: number;
  /** Sightings older than the late-data window: NaN in `times`, not pseudonymised. */
  old: number;
  /** Usable sighting indices in time order (stable), so clustering sees frames as they were sent. */
  order: Int32Array;
  /** Judged time per sighting, ms. */
  times: Float64Array;
  /** MAC pseudonym under the day key of the sighting's local day. */
  ids: string[];
  /** Whether `links` were computed. */
  withLinks: boolean;
  /** Member-link hash of a stable MAC (global, or associated per-SSID), when asked for; else null. */
  links: (string | null)[];
  /** Fingerprint pseudonym when the sighting has both `fp` and `sn`; else null. */
  fphs: (string | null)[];
  rssi: Int16Array;
  sn: Int16Array;
  flags: Uint8Array;
}

export type PrepareResult = { ok: true; value: PreparedProbe } | { ok: false; reason: string };

/** Raw fingerprints hashed per day, in memory only; dropped when it grows past this. */
const fingerprintCacheMax = 20_000;

/**
 * Turns a probe payload into a PreparedProbe: judges each timestamp (future skew, late-data window), hashes
 * each MAC once per batch under its local day's key (a phone's burst repeats it) and each fingerprint once per
 * day. Raw MACs stay in the payload object and in a map that lives while one batch is prepared.
 */
export class ProbePreparer {
  private readonly days: LocalDays;
  private readonly linkKey: Buffer;
  private readonly fingerprints = new Map<string, string>();

  constructor(private readonly spec: ProbePrepareSpec) {
    this.days = new LocalDays(spec.masterSecret, (mall) => spec.timeZones[mall] ?? spec.defaultTimeZone);
    this.linkKey = deriveLinkKey(spec.masterSecret);
  }

  /** Validates and prepares a raw payload (the prepare thread's whole job). */
  parse(mall: string, payload: Buffer, receivedAtMs: number, withLinks: boolean): PrepareResult {
    const parsed = parsePayload('probe', payload);
    if (!parsed.ok) return parsed;
    return { ok: true, value: this.prepare(mall, parsed.value, receivedAtMs, withLinks) };
  }

  prepare(mall: string, payload: ProbePayload, receivedAtMs: number, withLinks: boolean): PreparedProbe {
    const obs = payload.obs;
    const count = obs.length;
    const times = new Float64Array(count);
    const latestMs = receivedAtMs + this.spec.futureSkewMaxMs;
    const oldestMs = receivedAtMs - this.spec.lateDataMaxMs;
    let future = 0;
    let old = 0;
    for (let i = 0; i < count; i++) {
      let tsMs = obs[i]?.ts ?? Number.NaN;
      if (tsMs > latestMs) {
        tsMs = receivedAtMs;
        future += 1;
      }
      if (tsMs < oldestMs) {
        tsMs = Number.NaN;
        old += 1;
      }
      times[i] = tsMs;
    }
    const prepared: PreparedProbe = {
      boot: payload.boot,
      seq: payload.seq,
      ts: payload.ts,
      count,
      future,
      old,
      order: chronological(times),
      withLinks,
      times,
      ids: new Array<string>(count).fill(''),
      links: new Array<string | null>(count).fill(null),
      fphs: new Array<string | null>(count).fill(null),
      rssi: new Int16Array(count),
      sn: new Int16Array(count),
      flags: new Uint8Array(count),
    };
    const pseudonyms = new Map<string, { day: LocalDay; id: string }>();
    for (let i = 0; i < count; i++) {
      const sighting = obs[i];
      const tsMs = times[i] ?? Number.NaN;
      if (sighting === undefined || Number.isNaN(tsMs)) continue;
      const day = this.days.of(mall, tsMs);
      let known = pseudonyms.get(sighting.mac);
      if (known?.day !== day) {
        known = { day, id: macPseudonym(day, sighting.mac) };
        pseudonyms.set(sighting.mac, known);
      }
      const randomized = isRandomizedMac(sighting.mac);
      const assoc = sighting.assoc === true;
      prepared.ids[i] = known.id;
      // Rotating probe MACs never match a member link or an opt-out; only stable ones get a link hash.
      if (withLinks && (!randomized || assoc)) prepared.links[i] = linkHash(this.linkKey, sighting.mac);
      if (sighting.fp !== undefined && sighting.sn !== undefined) prepared.fphs[i] = this.fingerprint(day, sighting.fp);
      prepared.rssi[i] = sighting.rssi;
      prepared.sn[i] = sighting.sn ?? 0;
      prepared.flags[i] = (randomized ? sightingFlags.randomized : 0) | (assoc ? sightingFlags.assoc : 0) | (sighting.sn !== undefined ? sightingFlags.hasSn : 0);
    }
    return prepared;
  }

  private fingerprint(day: LocalDay, fp: string): string {
    const key = `${day.mall}\0${day.date}\0${fp}`;
    let hashed = this.fingerprints.get(key);
    if (hashed === undefined) {
      if (this.fingerprints.size >= fingerprintCacheMax) this.fingerprints.clear();
      hashed = fingerprintPseudonym(day, fp);
      this.fingerprints.set(key, hashed);
    }
    return hashed;
  }
}

/** Indices of the usable sightings in time order (stable). */
function chronological(times: Float64Array): Int32Array {
  const order: number[] = [];
  let sorted = true;
  let previous = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < times.length; i++) {
    const tsMs = times[i] ?? Number.NaN;
    if (Number.isNaN(tsMs)) continue;
    if (tsMs < previous) sorted = false;
    previous = tsMs;
    order.push(i);
  }
  if (!sorted) order.sort((a, b) => (times[a] ?? 0) - (times[b] ?? 0) || a - b);
  return Int32Array.from(order);
}
