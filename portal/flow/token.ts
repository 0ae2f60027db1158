import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { gatewayKinds } from '../gateways/types.ts';
import { hmacB64 } from '../keys.ts';

const shortText = z.string().max(2048);

const arrivalSchema = z.strictObject({
  gateway: z.enum(gatewayKinds),
  mall: z.string().max(64),
  clientMac: z.string().max(17).optional(),
  macTrusted: z.boolean(),
  apId: z.string().max(128).optional(),
  ssid: z.string().max(64).optional(),
  clientIp: z.string().max(64).optional(),
  originalUrl: shortText.optional(),
  grantState: z.record(z.string().max(64), shortText),
});

/** What a pending code check is for, and who it is about. */
const challengeSchema = z.strictObject({
  id: z.string().max(64),
  purpose: z.enum(['login', 'signup', 'mydata']),
  /** Carried so a resend can reach the same phone without asking again (encrypted inside the token). */
  identifier: z.string().max(32),
  name: z.string().max(60).optional(),
});

/**
 * Flow state that travels in the URL and hidden fields instead of cookies (captive mini-browsers drop them).
 * It holds the raw client MAC, so the token is encrypted and authenticated, never just signed.
 */
export const flowStateSchema = z.strictObject({
  /** Random per flow; CSRF values are bound to it. */
  nonce: z.string().max(32),
  issuedMs: z.number().int(),
  expiresMs: z.number().int(),
  mall: z.string().max(64),
  arrival: arrivalSchema.optional(),
  challenge: challengeSchema.optional(),
  /** Member verified in this flow (my-data page), valid until the token expires. */
  verifiedMember: z.string().max(32).optional(),
  /** Result shown on the success page. */
  done: z.strictObject({ method: z.enum(['guest', 'member', 'signup']), memberNumber: z.string().max(32).optional() }).optional(),
});

export type FlowState = z.infer<typeof flowStateSchema>;

const ivBytes = 12;
const tagBytes = 16;
/** Tokens longer than this are refused before any crypto: URLs in captive browsers stay short. */
export const maxTokenChars = 4096;

export class FlowTokens {
  constructor(
    private readonly key: Buffer,
    private readonly csrfKey: Buffer,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** Starts a new flow state (fresh nonce and expiry). */
  create(fields: Omit<FlowState, 'nonce' | 'issuedMs' | 'expiresMs'>): FlowState {
    const issuedMs = this.now();
    return { ...fields, nonce: randomBytes(12).toString('base64url'), issuedMs, expiresMs: issuedMs + this.ttlMs };
  }

  seal(state: FlowState): string {
    const iv = randomBytes(ivBytes);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from('plaza-flow/v1'));
    const body = Buffer.concat([cipher.update(JSON.stringify(state), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** Returns the state, or null for anything forged, corrupted, malformed or expired. Never throws. */
  open(token: unknown): FlowState | null {
    if (typeof token !== 'string' || token.length > maxTokenChars || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length < ivBytes + tagBytes + 2) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, ivBytes));
      decipher.setAAD(Buffer.from('plaza-flow/v1'));
      decipher.setAuthTag(raw.subarray(raw.length - tagBytes));
      const plain = Buffer.concat([decipher.update(raw.subarray(ivBytes, raw.length - tagBytes)), decipher.final()]);
      const parsed = flowStateSchema.safeParse(JSON.parse(plain.toString('utf8')));
      if (!parsed.success) return null;
      const now = this.now();
      if (parsed.data.expiresMs <= now || parsed.data.issuedMs > now + 60_000) return null;
      return parsed.data;
    } catch {
      return null;
    }
  }

  /** CSRF value for forms of this flow: only pages we rendered for this flow carry it. */
  csrfFor(state: FlowState): string {
    return hmacB64(this.csrfKey, 'csrf', state.nonce);
  }

  checkCsrf(state: FlowState, value: unknown): boolean {
    if (typeof value !== 'string' || value.length > 64) return false;
    const expected = Buffer.from(this.csrfFor(state));
    const given = Buffer.from(value);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
