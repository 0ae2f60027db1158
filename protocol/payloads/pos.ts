import { z } from 'zod';
import { idSchema } from '../ids.ts';
import { epochMsSchema } from './common.ts';

/** Point-of-sale interval bounds: one minute to one day, on whole minutes. */
export const posLimits = {
  minIntervalMs: 60_000,
  maxIntervalMs: 24 * 60 * 60 * 1000,
  /** Intervals per report. */
  maxIntervals: 1000,
  /** Transactions per store and interval; far above any real store, low enough to catch unit mistakes. */
  maxTransactions: 1_000_000,
} as const;

const minuteMs = 60_000;

/**
 * Transactions one store completed in [startMs, endMs). The count is the full value for that interval: sending it
 * again (a retry, a correction) replaces it, so nothing is counted twice.
 */
export const posIntervalSchema = z
  .strictObject({
    store: idSchema,
    startMs: epochMsSchema,
    endMs: epochMsSchema,
    transactions: z.number().int().min(0).max(posLimits.maxTransactions),
  })
  .check((ctx) => {
    const { startMs, endMs } = ctx.value;
    const lengthMs = endMs - startMs;
    if (startMs % minuteMs !== 0 || endMs % minuteMs !== 0) {
      ctx.issues.push({ code: 'custom', message: 'startMs and endMs must be whole minutes', input: ctx.value, path: ['startMs'] });
    } else if (lengthMs < posLimits.minIntervalMs || lengthMs > posLimits.maxIntervalMs) {
      ctx.issues.push({ code: 'custom', message: 'an interval lasts from 1 minute to 1 day', input: ctx.value, path: ['endMs'] });
    }
  });

/** A batch of point-of-sale counts for one mall: the MQTT `pos` payload and the ops API request body. */
export const posSalesSchema = z.strictObject({
  v: z.literal(1),
  mall: idSchema,
  intervals: z.array(posIntervalSchema).min(1).max(posLimits.maxIntervals),
});

export type PosInterval = z.infer<typeof posIntervalSchema>;
export type PosSales = z.infer<typeof posSalesSchema>;
