import type { Weekday } from './mall-config.ts';

export interface LocalTime {
  /** YYYY-MM-DD in the mall's time zone. */
  date: string;
  weekday: Weekday;
  hour: number;
  /** Minutes since local midnight. */
  minuteOfDay: number;
}

const weekdayOf: Record<string, Weekday> = { Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat', Sun: 'sun' };

/** Mall-local calendar facts of an instant, cached per minute (the simulator asks every simulated second). */
export class LocalClock {
  private readonly formatter: Intl.DateTimeFormat;
  private cachedMinute = Number.NaN;
  private cached: LocalTime | undefined;

  constructor(readonly timeZone: string) {
    this.formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    });
  }

  at(tsMs: number): LocalTime {
    const minute = Math.floor(tsMs / 60_000);
    if (minute === this.cachedMinute && this.cached !== undefined) return this.cached;
    const parts: Record<string, string> = {};
    for (const part of this.formatter.formatToParts(new Date(minute * 60_000))) parts[part.type] = part.value;
    const hour = Number(parts.hour);
    const local: LocalTime = {
      date: `${parts.year}-${parts.month}-${parts.day}`,
      weekday: weekdayOf[parts.weekday ?? ''] ?? 'mon',
      hour,
      minuteOfDay: hour * 60 + Number(parts.minute),
    };
    this.cachedMinute = minute;
    this.cached = local;
    return local;
  }
}
