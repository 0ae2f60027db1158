export const minuteMs = 60_000;
export const hourMs = 60 * minuteMs;
export const dayMs = 24 * hourMs;

export function floorToMinute(tsMs: number): number {
  return Math.floor(tsMs / minuteMs) * minuteMs;
}

const partFormatters = new Map<string, Intl.DateTimeFormat>();

function partsFormatter(timeZone: string): Intl.DateTimeFormat {
  let formatter = partFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    partFormatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Offset of the time zone from UTC at an instant, in ms (positive east of Greenwich). */
export function timeZoneOffsetMs(tsMs: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const part of partsFormatter(timeZone).formatToParts(new Date(tsMs))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(parts.year ?? 1970, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return asUtc - Math.floor(tsMs / 1000) * 1000;
}

/**
 * Start of the mall's business day containing tsMs: the last local `resetHour`:00 at or before it.
 * Computed with the offset at tsMs; a DST change inside the day shifts the boundary by the DST step
 * (Asia/Shanghai, the default, has no DST).
 */
export function businessDayStartMs(tsMs: number, timeZone: string, resetHour = 0): number {
  const offsetMs = timeZoneOffsetMs(tsMs, timeZone);
  const local = tsMs + offsetMs - resetHour * hourMs;
  const localDayStart = Math.floor(local / dayMs) * dayMs;
  return localDayStart - offsetMs + resetHour * hourMs;
}
