import { createHmac } from 'node:crypto';

/**
 * MAC pseudonymisation (docs/privacy.md): HMAC-SHA256 under a day key derived from the master secret, the mall
 * and the mall's local date. Every ingest instance (and the portal) derives the same key within a day; keys
 * are derived on demand and kept in memory only for the last two local dates, never persisted.
 */
export function deriveDayKey(masterSecret: string, mall: string, localDate: string): Buffer {
  return createHmac('sha256', masterSecret).update(`plaza-mac-day-key/v1\0${mall}\0${localDate}`).digest();
}

/** 128-bit pseudonym, base64url. The raw MAC must be lowercase colon form (protocol macSchema output). */
export function pseudonymise(dayKey: Buffer, mac: string): string {
  return createHmac('sha256', dayKey).update(mac).digest().subarray(0, 16).toString('base64url');
}

/** The mall-local calendar date (YYYY-MM-DD) of an instant. */
export function localDate(tsMs: number, timeZone: string): string {
  return dateFormatter(timeZone).format(new Date(tsMs));
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function dateFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    // en-CA formats dates as YYYY-MM-DD.
    formatter = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Caches day keys for the most recent local dates per mall; older ones are dropped, not kept. */
export class DayKeys {
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly masterSecret: string,
    private readonly maxKeys = 8,
  ) {}

  keyFor(mall: string, date: string): Buffer {
    const id = `${mall}\0${date}`;
    let key = this.keys.get(id);
    if (key === undefined) {
      key = deriveDayKey(this.masterSecret, mall, date);
      this.keys.set(id, key);
      while (this.keys.size > this.maxKeys) {
        const oldest = this.keys.keys().next();
        if (oldest.done === true) break;
        this.keys.get(oldest.value)?.fill(0);
        this.keys.delete(oldest.value);
      }
    }
    return key;
  }
}

/**
 * Key for member links. A device gets a stable link hash only after its owner logged in on the portal with
 * analytics consent; ingest computes the same hash transiently for each sighting to recognise linked devices
 * on later days, and persists it only for linked devices.
 */
export function deriveLinkKey(masterSecret: string): Buffer {
  return createHmac('sha256', masterSecret).update('plaza-member-link-key/v1').digest();
}

/** Stable, member-link hash of a device MAC (lowercase colon form). */
export function linkHash(linkKey: Buffer, mac: string): string {
  return createHmac('sha256', linkKey).update(mac).digest().subarray(0, 16).toString('base64url');
}
