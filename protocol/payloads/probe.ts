import { z } from 'zod';
import { protocolLimits } from '../limits.ts';
import { macSchema } from '../mac.ts';
import { epochMsSchema, readingHeader } from './common.ts';

export const sightingSchema = z.strictObject({
  mac: macSchema,
  rssi: z.number().int().min(protocolLimits.rssiMinDbm).max(protocolLimits.rssiMaxDbm),
  ts: epochMsSchema,
  /** True when the sighting is of a frame from a client associated with the mall Wi-Fi. */
  assoc: z.boolean().optional(),
  /** Hex digest of the probe request's information elements; stable across MAC rotations of one phone. */
  fp: z
    .string()
    .regex(/^[0-9a-f]+$/, 'must be lowercase hex')
    .max(protocolLimits.fingerprintMaxHexChars)
    .optional(),
  /** 802.11 sequence number of the frame (12 bits); continues across MAC rotations. */
  sn: z.number().int().min(0).max(protocolLimits.seqNumberMax).optional(),
});

/** Wi-Fi probe reading: a batch of sightings since the previous batch. */
export const probePayloadSchema = z.strictObject({
  ...readingHeader,
  obs: z.array(sightingSchema).max(protocolLimits.probeBatchMax),
});

export type Sighting = z.infer<typeof sightingSchema>;
export type ProbePayload = z.infer<typeof probePayloadSchema>;
