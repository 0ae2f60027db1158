import { z } from 'zod';
import { protocolLimits } from '../limits.ts';
import { readingHeader } from './common.ts';

const totalSchema = z.number().int().min(0).max(protocolLimits.counterMax);

/**
 * Door counter reading: running totals since this boot. Cumulative totals make a lost message harmless
 * and a repeated one a no-op; the platform derives per-minute deltas.
 */
export const doorPayloadSchema = z.strictObject({
  ...readingHeader,
  in: totalSchema,
  out: totalSchema,
});

export type DoorPayload = z.infer<typeof doorPayloadSchema>;
