import { z } from 'zod';

/** Config pieces for opening hours and alerts; core/config.ts places them in the one schema. Only zod here. */

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

/** "HH:MM-HH:MM" local time (an end at or before the start runs past midnight), or "closed". */
export const dayHoursSchema = z.union([
  z.literal('closed'),
  z.string().regex(/^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'must be "HH:MM-HH:MM" or "closed"'),
]);

const defaultDayHours = '10:00-22:00';

/** Opening hours per local weekday; every day defaults to 10:00-22:00. */
export const openingHoursSchema = z
  .strictObject(Object.fromEntries(weekdays.map((d) => [d, dayHoursSchema.default(defaultDayHours)])) as Record<Weekday, z.ZodDefault<typeof dayHoursSchema>>)
  .prefault({});

export type OpeningHours = z.infer<typeof openingHoursSchema>;

/** Alert thresholds of a mall (docs/live-view.md). */
export const mallAlertsSchema = z
  .strictObject({
    /** A device is silent after this long without a heartbeat during opening hours, in minutes. */
    deviceSilentMin: z.number().int().min(2).max(720).default(10),
    /** Default for stores: minutes without entries during opening hours before the no-entries alert. */
    noEntriesMin: z.number().int().min(5).max(720).default(30),
    /** An over-capacity alert clears once occupancy is at or below this share of capacity (hysteresis). */
    capacityClearRatio: z.number().min(0.5).max(1).default(0.95),
    /** A store "normally has traffic" when its usual entries in the no-entries window reach this many. */
    noEntriesMinExpected: z.number().min(1).max(1000).default(3),
  })
  .prefault({});

export type MallAlertSettings = z.infer<typeof mallAlertsSchema>;
