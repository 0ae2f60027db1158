import type { StoreSettings } from '../settings.ts';

/** Dwell buckets of closed visitor visits: field name and exclusive upper bound in s. */
export const dwellBuckets = [
  { field: 'dwell_lt_5m', maxS: 5 * 60 },
  { field: 'dwell_5_20m', maxS: 20 * 60 },
  { field: 'dwell_20_60m', maxS: 60 * 60 },
  { field: 'dwell_1_6h', maxS: 6 * 60 * 60 },
  { field: 'dwell_gt_6h', maxS: Number.POSITIVE_INFINITY },
] as const;

export function dwellBucketIndex(dwellS: number): number {
  for (let i = 0; i < dwellBuckets.length - 1; i++) if (dwellS < (dwellBuckets[i]?.maxS ?? 0)) return i;
  return dwellBuckets.length - 1;
}

/**
 * The set of epoch minutes in which a visit was seen, as a bitmap from `base`. A visit lives within one local
 * day (pseudonyms change at midnight), so it never exceeds ~190 bytes.
 */
export class MinuteBits {
  constructor(
    public base: number,
    /** A Buffer, so it binds to SQLite as a BLOB as it is. */
    public bits: Buffer,
  ) {}

  static of(minute: number): MinuteBits {
    return new MinuteBits(minute, Buffer.alloc(1));
  }

  /** Adds an epoch minute; true when it was not in the set before. */
  add(minute: number): boolean {
    let index = minute - this.base;
    if (index < 0) {
      const shiftBytes = Math.ceil(-index / 8);
      const grown = Buffer.alloc(this.bits.length + shiftBytes);
      grown.set(this.bits, shiftBytes);
      this.bits = grown;
      this.base -= shiftBytes * 8;
      index = minute - this.base;
    }
    const byte = index >> 3;
    if (byte >= this.bits.length) {
      const grown = Buffer.alloc(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (index & 7);
    const old = this.bits[byte] ?? 0;
    if ((old & mask) !== 0) return false;
    this.bits[byte] = old | mask;
    return true;
  }

  forEach(callback: (minute: number) => void): void {
    for (let byte = 0; byte < this.bits.length; byte++) {
      const value = this.bits[byte] ?? 0;
      if (value === 0) continue;
      for (let bit = 0; bit < 8; bit++) if ((value & (1 << bit)) !== 0) callback(this.base + byte * 8 + bit);
    }
  }
}

/**
 * One visit of one pseudonymous device to one store. `visitor` and `estimated` are the class under which
 * the visit's minutes are currently counted; when the class changes, every counted minute is recounted.
 */
export interface Visit {
  /** Key within the identity: the time of the sighting that opened the visit. */
  readonly vkey: number;
  /** Its row in probe_visit_hot; undefined until the visit is first written. */
  vid: number | undefined;
  firstMs: number;
  lastMs: number;
  maxRssi: number;
  visitor: boolean;
  estimated: boolean;
  randomized: boolean;
  connected: boolean;
  closed: boolean;
  /** Timestamp of the visit's point, fixed when first closed so a reopened visit overwrites its own point. */
  pointMs: number | undefined;
  /** Closed visits: when the row may be purged (wall clock). */
  expiresMs: number | undefined;
  seen: MinuteBits;
  conn: MinuteBits | undefined;
  dirty: boolean;
  /** The next write must also set the indexed columns (closed, schedule, expiry, fingerprint). */
  reindex: boolean;
}

export function dwellSOf(visit: Visit): number {
  return Math.floor((visit.lastMs - visit.firstMs) / 1000);
}

/** Visitor: strong enough (max RSSI at or above the threshold) and long enough (dwell at least the minimum). */
export function qualifiesAsVisitor(visit: Visit, store: StoreSettings): boolean {
  return visit.maxRssi >= store.visitorRssiDbm && visit.lastMs - visit.firstMs >= store.visitorMinDwellS * 1000;
}

/**
 * Spreads the 128-bit identity pseudonym over the sub-millisecond part of a visit point, so visits of several
 * devices starting in the same ms stay distinct points while a replay lands on the same timestamp.
 */
export function visitNsOffset(identity: string): number {
  return Buffer.from(identity.slice(0, 8), 'base64url').readUIntBE(0, 6) % 1_000_000;
}
