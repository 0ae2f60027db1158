import { z } from 'zod';
import { idSchema } from '../ids.ts';
import { epochMsSchema } from './common.ts';

export const alertKinds = ['occupancy_over_capacity', 'device_silent', 'no_entries'] as const;
export type AlertKindName = (typeof alertKinds)[number];

/** A number, a short text or null: the figures behind an alert (occupancy, capacity, silentMin, …). */
const figureSchema = z.union([z.number(), z.string().max(200), z.null()]);

/**
 * An alert raised or cleared by the live view (platform → anyone who listens), on
 * `plaza/v1/<mall>/_platform/alerts`, QoS 1, not retained. One message per transition; `id` is the same in the
 * `raised` and the `cleared` message of one alert. Meanings of kinds and figures: docs/live-view.md.
 */
export const alertEventSchema = z.strictObject({
  v: z.literal(1),
  id: z.uuid(),
  event: z.enum(['raised', 'cleared']),
  kind: z.enum(alertKinds),
  mall: idSchema,
  store: idSchema,
  /** The sensor, for device_silent. */
  device: idSchema.optional(),
  /** When this transition happened. */
  ts: epochMsSchema,
  raisedTs: epochMsSchema,
  detail: z.record(z.string().max(64), figureSchema),
  /** Why it cleared: resolved, closed (outside opening hours), removed (device or store no longer installed). */
  clearReason: z.enum(['resolved', 'closed', 'removed']).optional(),
});

export type AlertEvent = z.infer<typeof alertEventSchema>;
