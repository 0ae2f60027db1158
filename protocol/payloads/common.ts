import { z } from 'zod';
import { bootIdSchema } from '../ids.ts';
import { protocolLimits } from '../limits.ts';

/** Epoch milliseconds. Bounded to a plausible range; skew relative to receive time is judged by ingest. */
export const epochMsSchema = z
  .number()
  .int()
  .min(1_500_000_000_000, 'epoch ms before 2017')
  .max(4_102_444_800_000, 'epoch ms after 2100');

export const seqSchema = z.number().int().min(0).max(protocolLimits.seqMax);

/** Fields every device → platform reading carries: protocol version, boot id, sequence number, device time. */
export const readingHeader = {
  v: z.literal(1),
  boot: bootIdSchema,
  seq: seqSchema,
  ts: epochMsSchema,
};
