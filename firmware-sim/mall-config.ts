import { timeZoneSchema } from '../core/config.ts';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { idSchema } from '../protocol/ids.ts';

export const weekdays = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof weekdays)[number];

const probability = z.number().min(0).max(1);
const positive = z.number().positive();
/** "HH:MM-HH:MM" in the mall's time zone, or "closed". */
const hoursSchema = z.union([
  z.literal('closed'),
  z.string().regex(/^([01]\d|2[0-4]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/, 'must be "HH:MM-HH:MM" or "closed"'),
]);
const minMax = (unit: string) =>
  z.strictObject({ min: z.number().min(0), max: z.number().min(0) }).refine((r) => r.min <= r.max, `min must not exceed max (${unit})`);
/** A discrete distribution: value → weight, e.g. { "1": 0.5, "2": 0.5 }. */
const countWeights = z
  .record(z.string().regex(/^\d{1,2}$/, 'keys must be small whole numbers'), z.number().min(0))
  .refine((w) => Object.values(w).some((v) => v > 0), 'needs at least one positive weight');


const doorSchema = z.strictObject({
  id: idSchema,
  /** Relative share of the store's traffic using this door. */
  weight: positive.default(1),
  /** Probability that the counter misses a crossing; 0 is a perfect counter. */
  missProbability: probability.default(0),
});

const probeSchema = z.strictObject({
  id: idSchema,
  /** Position inside the store, from its left edge along the front, in m; default: the middle. */
  xM: z.number().min(0).optional(),
  /** Distance behind the shop front, in m; default: half the depth. */
  yM: z.number().min(0).optional(),
});

const storeSchema = z.strictObject({
  id: idSchema,
  name: z.string().max(200).optional(),
  widthM: positive.default(12),
  depthM: positive.default(15),
  capacity: z.number().int().min(1),
  /** Probability that a group passing the front walks in. */
  walkInProbability: probability,
  /** Dwell per visit: log-normal over seconds, given as the underlying normal's mu and sigma. */
  dwellS: z.strictObject({ mu: z.number().min(0).max(12), sigma: z.number().min(0).max(3) }),
  doors: z.array(doorSchema).min(1, 'a store needs at least one door counter'),
  probes: z.array(probeSchema).default([]),
});

const campaignSchema = z.strictObject({
  name: z.string().min(1).max(100),
  stores: z.array(idSchema).min(1),
  /** Local days the campaign runs; default every day. */
  weekdays: z.array(z.enum(weekdays)).optional(),
  /** Local time window, "HH:MM-HH:MM". */
  hours: hoursSchema.default('00:00-24:00'),
  /** Optional absolute bounds (ISO 8601). */
  fromIso: z.iso.datetime({ offset: true }).optional(),
  toIso: z.iso.datetime({ offset: true }).optional(),
  /** Multiplies the walk-in probability at the campaign's stores (capped at 1). */
  arrivalFactor: z.number().min(0).max(20),
});

const faultSchema = <T extends z.ZodRawShape>(shape: T) => z.strictObject({ enabled: z.boolean().default(false), ...shape });

export const faultsSchema = z
  .strictObject({
    /** Network loss: the device's connection drops and stays down for an outage. */
    disconnect: faultSchema({ perDevicePerDay: positive.default(4), outageS: minMax('s').default({ min: 20, max: 600 }) }).prefault({}),
    /** A reading published twice. */
    duplicate: faultSchema({ probability: probability.default(0.03) }).prefault({}),
    /** A reading held back and published after the next one. */
    reorder: faultSchema({ probability: probability.default(0.03) }).prefault({}),
    /** Firmware restart: counters reset to zero, new boot id, seq from 0. */
    reboot: faultSchema({ perDevicePerDay: positive.default(1) }).prefault({}),
    /** A fixed clock offset per device, uniform in ±maxS. */
    clockSkew: faultSchema({ maxS: z.number().min(0).max(3600).default(90) }).prefault({}),
    /** An extra, broken payload (not JSON, wrong field, truncated) next to a valid reading. */
    malformed: faultSchema({ probability: probability.default(0.02) }).prefault({}),
  })
  .prefault({});

export type FaultsConfig = z.infer<typeof faultsSchema>;
export const faultNames = ['disconnect', 'duplicate', 'reorder', 'reboot', 'clockSkew', 'malformed'] as const;
export type FaultName = (typeof faultNames)[number];

export const mallConfigSchema = z
  .strictObject({
    mall: idSchema,
    name: z.string().max(200).optional(),
    timeZone: timeZoneSchema,
    openingHours: z.strictObject(Object.fromEntries(weekdays.map((d) => [d, hoursSchema])) as Record<Weekday, typeof hoursSchema>),
    arrivals: z.strictObject({
      /** Shoppers arriving per hour, by local hour 0–23, on a weekday with factor 1. */
      perHour: z.array(z.number().min(0)).length(24, 'needs 24 values, one per local hour'),
      weekdayFactor: z
        .strictObject(Object.fromEntries(weekdays.map((d) => [d, z.number().min(0).default(1)])) as Record<Weekday, z.ZodDefault<z.ZodNumber>>)
        .prefault({}),
    }),
    groups: z
      .strictObject({
        /** Group size → weight. */
        size: countWeights.default({ '1': 1 }),
        walkSpeedMps: minMax('m/s').default({ min: 0.8, max: 1.4 }),
      })
      .prefault({}),
    layout: z
      .strictObject({
        /** Distance from the shop fronts to where shoppers walk, in m. */
        corridorOffsetM: positive.default(3),
      })
      .prefault({}),
    phones: z
      .strictObject({
        /** Phones carried per shopper → weight. */
        perShopper: countWeights.default({ '0': 0.08, '1': 0.84, '2': 0.08 }),
        /** Share of phones probing with their global (vendor) MAC instead of random ones. */
        globalMacShare: probability.default(0.1),
        /** How long a randomized probe MAC lives before rotating, in s. */
        rotationS: minMax('s').default({ min: 120, max: 900 }),
        /** Time between probe bursts, in s. */
        probeIntervalS: minMax('s').default({ min: 20, max: 90 }),
        /** Frames per probe burst (one per channel scanned). */
        framesPerBurst: z.number().int().min(1).max(14).default(3),
        /** Probability that a phone joins the mall Wi-Fi during its visit. */
        wifiJoinProbability: probability.default(0.25),
        /** Time between frames of an associated phone, in s. */
        associatedFrameIntervalS: minMax('s').default({ min: 5, max: 30 }),
        /** Distinct phone models, i.e. distinct probe IE fingerprints. */
        models: z.number().int().min(1).max(10_000).default(40),
      })
      .prefault({}),
    radio: z
      .strictObject({
        txPowerDbmAt1m: z.number().min(-80).max(0).default(-40),
        pathLossExponent: z.number().min(1.5).max(6).default(3),
        noiseSigmaDb: z.number().min(0).max(20).default(4),
        /** Extra loss through a wall between stores, in dB. */
        wallLossDb: z.number().min(0).max(60).default(10),
        /** Extra loss through a shop front, in dB. */
        frontLossDb: z.number().min(0).max(60).default(4),
        /** RSSI at which half the frames are captured, in dBm. */
        sensitivityDbm: z.number().min(-120).max(-40).default(-92),
        /** Share of frames a probe captures at good signal (it hops channels). */
        captureProbability: probability.default(0.7),
      })
      .prefault({}),
    portal: z
      .strictObject({
        /** Probability that a phone that joined the Wi-Fi logs in on the portal. */
        loginProbability: probability.default(0.5),
        /** Share of logins that are members (the rest are guests). */
        memberShare: probability.default(0.3),
      })
      .prefault({}),
    stores: z.array(storeSchema).min(1, 'a mall needs at least one store'),
    campaigns: z.array(campaignSchema).default([]),
    faults: faultsSchema,
    devices: z
      .strictObject({
        /** Readings a device buffers while offline; the oldest are dropped beyond this. */
        bufferMax: z.number().int().min(1).max(100_000).default(500),
        reconnectMinMs: z.number().int().min(10).default(500),
        reconnectMaxMs: z.number().int().min(10).default(30_000),
        firmware: z.string().min(1).max(32).default('plaza-sim-1'),
      })
      .prefault({}),
  })
  .superRefine((mall, ctx) => {
    const storeIds = new Set<string>();
    const deviceIds = new Set<string>();
    mall.stores.forEach((store, i) => {
      if (storeIds.has(store.id)) ctx.addIssue({ code: 'custom', path: ['stores', i, 'id'], message: `duplicate store id ${store.id}` });
      storeIds.add(store.id);
      const devices = [...store.doors.map((d, j) => ['doors', j, d.id] as const), ...store.probes.map((p, j) => ['probes', j, p.id] as const)];
      for (const [kind, j, id] of devices) {
        if (deviceIds.has(id)) ctx.addIssue({ code: 'custom', path: ['stores', i, kind, j, 'id'], message: `duplicate device id ${id}` });
        deviceIds.add(id);
      }
      store.probes.forEach((probe, j) => {
        if (probe.xM !== undefined && probe.xM > store.widthM) ctx.addIssue({ code: 'custom', path: ['stores', i, 'probes', j, 'xM'], message: 'must lie within the store width' });
        if (probe.yM !== undefined && probe.yM > store.depthM) ctx.addIssue({ code: 'custom', path: ['stores', i, 'probes', j, 'yM'], message: 'must lie within the store depth' });
      });
    });
    mall.campaigns.forEach((campaign, i) => {
      campaign.stores.forEach((store, j) => {
        if (!storeIds.has(store)) ctx.addIssue({ code: 'custom', path: ['campaigns', i, 'stores', j], message: `unknown store ${store}` });
      });
    });
    if (mall.devices.reconnectMinMs > mall.devices.reconnectMaxMs) {
      ctx.addIssue({ code: 'custom', path: ['devices', 'reconnectMinMs'], message: 'must not exceed reconnectMaxMs' });
    }
  });

export type MallConfig = z.infer<typeof mallConfigSchema>;
export type StoreSpec = MallConfig['stores'][number];

export class MallConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid mall config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'MallConfigError';
  }
}

/** Validates a parsed mall config; throws MallConfigError listing every problem with its path. */
export function parseMallConfig(raw: unknown, source = '(inline)'): MallConfig {
  const result = mallConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
  throw new MallConfigError(source, problems);
}

/** Reads a mall config file (YAML or JSON). */
export function loadMallConfig(file: string): MallConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new MallConfigError(file, [`cannot read: ${(error as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new MallConfigError(file, [`not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message}`]);
  }
  return parseMallConfig(raw, file);
}

/** The shipped demo mall. */
export const demoMallFile = new URL('./malls/demo.yaml', import.meta.url).pathname;

/** Opening hours as minutes since local midnight, or null when closed. */
export function parseHours(hours: string): { openMin: number; closeMin: number } | null {
  if (hours === 'closed') return null;
  const [open, close] = hours.split('-') as [string, string];
  return { openMin: toMinutes(open), closeMin: toMinutes(close) };
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}
