import type { z } from 'zod';
import { isId } from './ids.ts';
import { protocolLimits } from './limits.ts';
import { deviceConfigSchema } from './payloads/config.ts';
import { doorPayloadSchema } from './payloads/door.ts';
import { probePayloadSchema } from './payloads/probe.ts';
import { statusPayloadSchema } from './payloads/status.ts';

export const topicRoot = 'plaza/v1';

/** The one map from channel to payload schema: used to publish, authorise and parse. */
export const channelSchemas = {
  door: doorPayloadSchema,
  probe: probePayloadSchema,
  status: statusPayloadSchema,
  config: deviceConfigSchema,
} as const;

export type Channel = keyof typeof channelSchemas;
export type PayloadOf<C extends Channel> = z.infer<(typeof channelSchemas)[C]>;

export const channels = Object.keys(channelSchemas) as Channel[];

/** Channels a device publishes on (device → platform). `config` flows the other way. */
export const deviceChannels = ['door', 'probe', 'status'] as const satisfies readonly Channel[];
export type DeviceChannel = (typeof deviceChannels)[number];

export const deviceKinds = ['door', 'probe'] as const;
export type DeviceKind = (typeof deviceKinds)[number];

/** Which reading channel each kind of device owns, besides `status`. */
export const readingChannelOf: Record<DeviceKind, DeviceChannel> = { door: 'door', probe: 'probe' };

export interface DeviceAddress {
  mall: string;
  store: string;
  device: string;
}

export interface DeviceTopic<C extends Channel = Channel> extends DeviceAddress {
  channel: C;
}

export function isChannel(value: string): value is Channel {
  return Object.hasOwn(channelSchemas, value);
}

export function deviceTopic<C extends Channel>(address: DeviceAddress, channel: C): string {
  for (const id of [address.mall, address.store, address.device]) {
    if (!isId(id)) throw new Error(`invalid id in topic: ${JSON.stringify(id)}`);
  }
  return `${topicRoot}/${address.mall}/${address.store}/${address.device}/${channel}`;
}

/** Parses `plaza/v1/<mall>/<store>/<device>/<channel>`; returns null for anything outside the scheme. */
export function parseDeviceTopic(topic: string): DeviceTopic | null {
  if (topic.length > 3 * protocolLimits.idMaxLength + 32) return null;
  const parts = topic.split('/');
  if (parts.length !== 6 || parts[0] !== 'plaza' || parts[1] !== 'v1') return null;
  const [, , mall, store, device, channel] = parts as [string, string, string, string, string, string];
  if (!isId(mall) || !isId(store) || !isId(device) || !isChannel(channel)) return null;
  return { mall, store, device, channel };
}

/** Subscription filters for platform components. */
export const topicFilters = {
  /** Every device channel of every mall. */
  all: `${topicRoot}/+/+/+/+`,
  /** Every device channel of one mall (ingest partitions by mall). */
  mall: (mall: string): string => {
    if (!isId(mall)) throw new Error(`invalid mall id: ${JSON.stringify(mall)}`);
    return `${topicRoot}/${mall}/+/+/+`;
  },
  /** `mall` may be '+' for every mall. */
  channelOfMall: (mall: string, channel: Channel): string => {
    if (mall !== '+' && !isId(mall)) throw new Error(`invalid mall id: ${JSON.stringify(mall)}`);
    return `${topicRoot}/${mall}/+/+/${channel}`;
  },
} as const;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Parses and validates a payload for a channel. Never throws: malformed input yields a reason that names
 * the failing field but never echoes field values (which may hold a raw MAC).
 */
export function parsePayload<C extends Channel>(channel: C, payload: Buffer | string): ParseResult<PayloadOf<C>> {
  return parseJsonWith(channelSchemas[channel] as z.ZodType<unknown>, payload) as ParseResult<PayloadOf<C>>;
}

/** Parses JSON and validates it with a schema, with the same size bound and value-free reasons as device payloads. */
export function parseJsonWith<T>(schema: z.ZodType<T>, payload: Buffer | string): ParseResult<T> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > protocolLimits.maxPacketBytes) return { ok: false, reason: `payload too large (${size} bytes)` };
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, reason: describeIssues(result.error.issues) };
}

/** Anything shaped like a MAC address (colon, dash or no separators), whatever its case. */
const macLike = /[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}/gi;

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const reason = issues
    .slice(0, 3)
    .map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : '(root)';
      // zod names unknown keys in its message; a key may be a MAC, so only their number is reported.
      const message = issue.code === 'unrecognized_keys' ? `${issue.keys.length} unexpected field(s)` : issue.message;
      return `${where}: ${message}`;
    })
    .join('; ');
  // Second line of defence: reasons end up in logs and dead letters, which must never hold a raw MAC.
  return reason.replace(macLike, '<mac>');
}

export function encodePayload<C extends Channel>(channel: C, payload: PayloadOf<C>): Buffer {
  const parsed = channelSchemas[channel].parse(payload);
  return Buffer.from(JSON.stringify(parsed));
}
