import { createHmac } from 'node:crypto';
import { DayKeys, localDate, pseudonymise } from '../pseudonym.ts';

/** One local calendar day of a mall: its bounds in epoch ms and its pseudonymisation key. */
export interface LocalDay {
  readonly mall: string;
  /** YYYY-MM-DD in the mall's time zone. */
  readonly date: string;
  readonly startMs: number;
  /** Start of the next local day. */
  readonly endMs: number;
  /** Our own copy of the day key; zeroed when the day leaves the cache. */
  readonly key: Buffer;
}

/** How many recent local days per mall keep their key in memory (late batches can span a few days). */
const daysPerMall = 4;

/**
 * Local days and their keys per mall, cached so a sighting costs a range check instead of a date format.
 * Keys are copied out of DayKeys, because DayKeys zeroes the buffers it evicts.
 */
export class LocalDays {
  private readonly recent = new Map<string, LocalDay[]>();
  private readonly keys: DayKeys;

  constructor(
    masterSecret: string,
    private readonly timeZoneOf: (mall: string) => string,
  ) {
    this.keys = new DayKeys(masterSecret);
  }

  of(mall: string, tsMs: number): LocalDay {
    let list = this.recent.get(mall);
    if (list !== undefined) {
      for (const day of list) if (tsMs >= day.startMs && tsMs < day.endMs) return day;
    } else {
      list = [];
      this.recent.set(mall, list);
    }
    const timeZone = this.timeZoneOf(mall);
    const date = localDate(tsMs, timeZone);
    const day: LocalDay = {
      mall,
      date,
      startMs: localDayStartMs(date, timeZone),
      endMs: localDayStartMs(nextDate(date), timeZone),
      key: Buffer.from(this.keys.keyFor(mall, date)),
    };
    list.unshift(day);
    if (list.length > daysPerMall) list.pop()?.key.fill(0);
    return day;
  }
}

/** The first instant (minute resolution) of a local date: a binary search, so DST and odd offsets are right. */
export function localDayStartMs(date: string, timeZone: string): number {
  const [y = 1970, m = 1, d = 1] = date.split('-').map(Number);
  const utcMidnightMin = Date.UTC(y, m - 1, d) / 60_000;
  // Every zone's midnight lies within ±15 h of UTC midnight (UTC−12 … UTC+14).
  let lo = utcMidnightMin - 15 * 60;
  let hi = utcMidnightMin + 15 * 60;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (localDate(mid * 60_000, timeZone) < date) lo = mid;
    else hi = mid;
  }
  return hi * 60_000;
}

function nextDate(date: string): string {
  const [y = 1970, m = 1, d = 1] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The MAC's pseudonym for its day (HMAC-SHA256 under the day key, see ingest/pseudonym.ts). */
export function macPseudonym(day: LocalDay, mac: string): string {
  return pseudonymise(day.key, mac);
}

/** The probe-request fingerprint under the same day key, with its own domain so it never equals a MAC pseudonym. */
export function fingerprintPseudonym(day: LocalDay, fp: string): string {
  return createHmac('sha256', day.key).update('plaza-fp/v1\0').update(fp).digest().subarray(0, 16).toString('base64url');
}
