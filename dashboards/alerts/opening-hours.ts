import type { OpeningHours, Weekday } from './settings.ts';

const minuteMs = 60_000;
const dayMinutes = 24 * 60;
const weekdayIndex: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const order: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

interface LocalMinute {
  /** 0 = Monday. */
  weekday: number;
  minuteOfDay: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function localMinute(tsMs: number, timeZone: string): LocalMinute {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', weekday: 'short', hour: 'numeric', minute: 'numeric' });
    formatters.set(timeZone, formatter);
  }
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(new Date(tsMs))) parts[part.type] = part.value;
  return { weekday: weekdayIndex[parts.weekday ?? ''] ?? 0, minuteOfDay: Number(parts.hour) * 60 + Number(parts.minute) };
}

/** [open, close) in minutes of the local day; close may exceed 1440 when the hours run past midnight. */
function spanOf(hours: string): [number, number] | undefined {
  if (hours === 'closed') return undefined;
  const [open, close] = hours.split('-').map((hm) => {
    const [h, m] = hm.split(':').map(Number);
    return (h ?? 0) * 60 + (m ?? 0);
  }) as [number, number];
  return [open, close <= open ? close + dayMinutes : close];
}

/**
 * Opening hours of one mall in its time zone. `openSinceMs` answers "is it open now, and since when": the
 * alerts count silence only from the moment the mall opened, so a device switched off overnight is not
 * reported the minute the doors open.
 */
export class OpeningSchedule {
  constructor(
    private readonly hours: OpeningHours,
    private readonly timeZone: string,
  ) {}

  /** When the current opening period began (ms), or undefined when the mall is closed at tsMs. */
  openSinceMs(tsMs: number): number | undefined {
    const local = localMinute(tsMs, this.timeZone);
    const startOfMinuteMs = Math.floor(tsMs / minuteMs) * minuteMs;
    // Today's period, then yesterday's when it runs past midnight.
    for (const back of [0, 1]) {
      const day = order[(local.weekday - back + 7) % 7] as Weekday;
      const span = spanOf(this.hours[day]);
      if (span === undefined) continue;
      const minute = local.minuteOfDay + back * dayMinutes;
      if (minute >= span[0] && minute < span[1]) return startOfMinuteMs - (minute - span[0]) * minuteMs;
    }
    return undefined;
  }

  isOpen(tsMs: number): boolean {
    return this.openSinceMs(tsMs) !== undefined;
  }
}
