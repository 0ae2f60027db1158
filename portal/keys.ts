import { createHmac, hkdfSync } from 'node:crypto';

/** Purpose-separated keys derived from the one portal secret (HKDF-SHA256), held in memory only. */
export interface PortalKeys {
  /** AES-256-GCM key for flow tokens. */
  flow: Buffer;
  /** HMAC key binding form CSRF values to a flow token. */
  csrf: Buffer;
  /** HMAC key for one-time code hashes. */
  otp: Buffer;
  /** AES-256-GCM key for member fields at rest (phone, name). */
  memberData: Buffer;
  /** HMAC key for the phone look-up index. */
  phoneIndex: Buffer;
  /** HMAC key for rate-limit keys that would otherwise hold a raw MAC. */
  client: Buffer;
}

function derive(secret: string, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'plaza-portal', `plaza-portal/${purpose}/v1`, 32));
}

export function derivePortalKeys(secret: string): PortalKeys {
  if (secret.length < 32) throw new Error('portal secret must have at least 32 characters');
  return {
    flow: derive(secret, 'flow'),
    csrf: derive(secret, 'csrf'),
    otp: derive(secret, 'otp'),
    memberData: derive(secret, 'member-data'),
    phoneIndex: derive(secret, 'phone-index'),
    client: derive(secret, 'client'),
  };
}

export function hmacB64(key: Buffer, ...parts: string[]): string {
  return createHmac('sha256', key).update(parts.join('\0')).digest('base64url');
}

/**
 * Member-scoped reference published to ingest instead of the member id: derived from the ingest master secret
 * so it is stable across portal restarts, and meaningless without the portal's member table.
 */
export function deriveMemberRefKey(hashSecret: string): Buffer {
  return createHmac('sha256', hashSecret).update('plaza-member-ref-key/v1').digest();
}

export function memberRef(key: Buffer, memberId: string): string {
  return createHmac('sha256', key).update(memberId).digest().subarray(0, 16).toString('base64url');
}
