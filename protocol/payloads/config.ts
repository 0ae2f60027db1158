import { z } from 'zod';
import { protocolLimits } from '../limits.ts';

/** What the platform tells a device (retained on its config topic). Devices ignore keys they do not know. */
export const deviceConfigSchema = z.strictObject({
  v: z.literal(1),
  /** How often to publish readings, in seconds. */
  reportIntervalS: z.number().int().min(1).max(3600),
  /** Probes drop sightings weaker than this, in dBm. */
  rssiFloorDbm: z.number().int().min(protocolLimits.rssiMinDbm).max(protocolLimits.rssiMaxDbm).optional(),
  /** How often to publish a heartbeat, in seconds. */
  heartbeatIntervalS: z.number().int().min(10).max(3600).optional(),
});

export type DeviceConfig = z.infer<typeof deviceConfigSchema>;

export const defaultDeviceConfig: DeviceConfig = { v: 1, reportIntervalS: 60, rssiFloorDbm: -90, heartbeatIntervalS: 60 };
