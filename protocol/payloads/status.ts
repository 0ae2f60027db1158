import { z } from 'zod';
import { bootIdSchema } from '../ids.ts';
import { protocolLimits } from '../limits.ts';
import { epochMsSchema } from './common.ts';

/** Heartbeat a device publishes (retained) on connect and every report interval. */
export const heartbeatSchema = z.strictObject({
  v: z.literal(1),
  online: z.literal(true),
  boot: bootIdSchema,
  ts: epochMsSchema,
  fw: z.string().min(1).max(protocolLimits.firmwareVersionMaxLength),
  uptimeS: z.number().int().min(0).max(10 * 365 * 24 * 3600),
  /** Readings the device dropped from its offline buffer since boot. */
  dropped: z.number().int().min(0).max(protocolLimits.counterMax).optional(),
  rssiDbm: z.number().int().min(protocolLimits.rssiMinDbm).max(protocolLimits.rssiMaxDbm).optional(),
});

/** Set by the broker (retained) when a device's connection ends; devices may also use it as their will. */
export const offlineSchema = z.strictObject({
  v: z.literal(1).optional(),
  online: z.literal(false),
  ts: epochMsSchema.optional(),
});

/** Discriminated on `online`, so a bad heartbeat is reported by field rather than as a failed union. */
export const statusPayloadSchema = z.discriminatedUnion('online', [heartbeatSchema, offlineSchema]);

export type Heartbeat = z.infer<typeof heartbeatSchema>;
export type StatusPayload = z.infer<typeof statusPayloadSchema>;
