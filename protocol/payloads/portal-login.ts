import { z } from 'zod';
import { idSchema } from '../ids.ts';
import { epochMsSchema } from './common.ts';

/** 128-bit keyed hashes, base64url (ingest/pseudonym.ts pseudonymise and linkHash). */
const hash128Schema = z.string().regex(/^[A-Za-z0-9_-]{22}$/, 'must be a 128-bit base64url hash');

/** Gateway / access point identifiers as gateways report them (AP MAC, node id, gw_id): infrastructure, not people. */
const apIdSchema = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/, 'must be printable [A-Za-z0-9._:-]');

export const portalLoginMethods = ['guest', 'member', 'signup'] as const;
export type PortalLoginMethod = (typeof portalLoginMethods)[number];

/**
 * One successful portal login (portal → ingest). The raw client MAC never leaves the portal: `device` is the
 * day-keyed pseudonym ingest also computes for probe sightings. `link` is present only for a member who gave
 * analytics consent on a device whose MAC the gateway vouched for (docs/portal.md "Linking").
 */
export const portalLoginEventSchema = z.strictObject({
  v: z.literal(1),
  /** Unique per login; ingest de-duplicates QoS 1 redeliveries on it. */
  eventId: z.uuid(),
  ts: epochMsSchema,
  mall: idSchema,
  /** Store the access point maps to (portal config apStores), when known. */
  store: idSchema.optional(),
  ap: apIdSchema.optional(),
  gateway: z.enum(['opennds', 'meraki', 'unifi', 'wifidog', 'plain']),
  method: z.enum(portalLoginMethods),
  /** True when a member logged in or signed up (whatever their consents); false for guests. */
  member: z.boolean(),
  /** Day pseudonym of the client MAC, when the gateway supplied one. */
  device: hash128Schema.optional(),
  /** Whether the gateway's MAC is trustworthy (not a user-editable redirect parameter). */
  macTrusted: z.boolean(),
  consents: z.strictObject({
    termsVersion: z.string().min(1).max(32),
    analytics: z.boolean(),
    marketing: z.boolean(),
  }),
  link: z
    .strictObject({
      /** Stable link hash of the MAC (ingest/pseudonym.ts linkHash). */
      linkHash: hash128Schema,
      /** Member-scoped reference: HMAC of the member id; the raw member id stays in the portal. */
      memberRef: hash128Schema,
    })
    .optional(),
});

export type PortalLoginEvent = z.infer<typeof portalLoginEventSchema>;

/**
 * Member-link changes (portal → ingest). `link`: a gateway confirmed server to server, after the login, that the
 * MAC of a consenting member's device is genuine (WiFiDog), so ingest may link it now. `unlink` / `deleted`:
 * the member withdrew analytics consent or was deleted; ingest removes every link of this memberRef and stops.
 */
export const portalMemberEventSchema = z.discriminatedUnion('kind', [
  z.strictObject({ v: z.literal(1), eventId: z.uuid(), ts: epochMsSchema, kind: z.literal('link'), memberRef: hash128Schema, linkHash: hash128Schema }),
  z.strictObject({ v: z.literal(1), eventId: z.uuid(), ts: epochMsSchema, kind: z.enum(['unlink', 'deleted']), memberRef: hash128Schema }),
]);

export type PortalMemberEvent = z.infer<typeof portalMemberEventSchema>;
