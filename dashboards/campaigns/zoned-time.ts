import { timeZoneOffsetMs } from '../../ingest/time.ts';

/** Local calendar facts of an instant in a time zone. */
export interface LocalParts {
  /** YYYY-MM-DD in the zone. */
  date: string;
  /** 0 = Monday … 6 = Sunday. */
  weekday: number;
  /** Minutes since local midnight. */
  minuteOfDay: number;
}

const localPattern = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$/;
const offsetPattern = /(Z|[+-]\d{2}:?\d{2})$/i;

/** The instant at which the wall clock of `timeZone` shows the given local time (wall time as if it were UTC). */
export function wallToUtcMs(wallMs: number, timeZone: string): number {
  // Two passes settle the offset next to a DST change; a wall time skipped by DST maps to the later offset.
  const first = wallMs - timeZoneOffsetMs(wallMs, timeZone);
  return wallMs - timeZoneOffsetMs(first, timeZone);
}

/** Wall-clock time of an instant in the zone, expressed as if it were UTC epoch ms. */
export function utcToWallMs(tsMs: number, timeZone: string): number {
  return tsMs + timeZoneOffsetMs(tsMs, timeZone);
}

/**
 * An instant from ISO 8601 text. With an offset or Z it is taken as given; without one
 * (`2026-03-01T10:00`) it is local time in the mall's zone, which is what a marketer types.
 */
export function parseZonedInstant(text: string, timeZone: string): number | undefined {
  const trimmed = text.trim();
  if (offsetPattern.test(trimmed)) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(trimmed)) return undefined;
    const ms = Date.parse(trimmed);
    return Number.isFinite(ms) ? ms : undefined;
  }
  const m = localPattern.exec(trimmed);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  const wallMs = Date.UTC(year, month - 1, day, hour, minute, second);
  const back = new Date(wallMs);
  // Date.UTC rolls 2026-02-30 over into March: refuse dates that do not exist.
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  return wallToUtcMs(wallMs, timeZone);
}

/** ISO 8601 with the zone's offset at that instant, e.g. 2026-03-01T10:00:00+08:00. */
export function formatZoned(tsMs: number, timeZone: string): string {
  const offsetMs = timeZoneOffsetMs(tsMs, timeZone);
  const wall = new Date(tsMs + offsetMs).toISOString().slice(0, 19);
  const sign = offsetMs < 0 ? '-' : '+';
  const abs = Math.abs(offsetMs) / 60_000;
  return `${wall}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** Local date, weekday and minute of day of an instant. */
export function localParts(tsMs: number, timeZone: string): LocalParts {
  const wall = new Date(utcToWallMs(tsMs, timeZone));
  return {
    date: wall.toISOString().slice(0, 10),
    weekday: (wall.getUTCDay() + 6) % 7,
    minuteOfDay: wall.getUTCHours() * 60 + wall.getUTCMinutes(),
  };
}
