import { z } from 'zod';

/** An instant given as ISO 8601 or epoch milliseconds. */
export const instantMs = z.string().transform((value, ctx) => {
  const ms = /^\d{1,15}$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'must be ISO 8601 or epoch ms' });
    return z.NEVER;
  }
  return ms;
});

const unitMs: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration such as 15m, 1h, 1d (InfluxQL-style units s, m, h, d); at least 1 minute. */
export const durationMs = z.string().transform((value, ctx) => {
  const match = /^(\d{1,6})([smhd])$/.exec(value);
  const ms = match ? Number(match[1]) * (unitMs[match[2] as string] as number) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 60_000) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration like 15m, 1h or 1d (at least 1m)' });
    return z.NEVER;
  }
  return ms;
});
