import type { FastifyInstance } from 'fastify';

export const gatewayKinds = ['opennds', 'meraki', 'unifi', 'wifidog', 'plain'] as const;
export type GatewayKind = (typeof gatewayKinds)[number];

/**
 * What an adapter read from the redirect that brought a shopper to the portal. Held in memory and inside the
 * encrypted flow token only; the raw client MAC is never logged or stored.
 */
export interface GatewayArrival {
  gateway: GatewayKind;
  mall: string;
  /** Raw client MAC, lowercase colon form, when the gateway supplied one. */
  clientMac?: string;
  /**
   * False when the MAC is a claim the shopper could edit (query parameters of UniFi, Meraki, openNDS level 1
   * redirects). An untrusted MAC is never linked to a member without a trustworthy confirmation.
   */
  macTrusted: boolean;
  /** Access point / gateway node the shopper is on (used to map to a store), when known. */
  apId?: string;
  ssid?: string;
  clientIp?: string;
  /** Where the shopper wanted to go; validated (http/https only) before use. */
  originalUrl?: string;
  /** Adapter-specific state needed later to grant access (openNDS tok/hid, Meraki base_grant_url, …). */
  grantState: Record<string, string>;
}

/** How access is granted: the portal redirects the browser, or the adapter already did it server-side. */
export type GrantResult = { kind: 'redirect'; url: string } | { kind: 'granted'; continueUrl?: string };

export interface GrantRequest {
  /** Session length the gateway should allow, in s. */
  sessionS: number;
  /** Where to send the shopper after access is granted (validated). */
  continueUrl?: string;
}

export class GatewayError extends Error {
  constructor(
    message: string,
    /** 4xx-style: the redirect or request was invalid/forged; 5xx-style: the gateway/controller failed. */
    readonly kind: 'invalid' | 'upstream',
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}

/** One adapter per gateway protocol, behind one interface. */
export interface GatewayAdapter {
  readonly kind: GatewayKind;
  /** Parses and checks the arrival redirect's query. Throws GatewayError('invalid') on a bad or forged one. */
  parseArrival(query: Readonly<Record<string, string | undefined>>, request: { ip: string }): Promise<GatewayArrival>;
  /** Grants the shopper access. */
  grant(arrival: GatewayArrival, request: GrantRequest): Promise<GrantResult>;
  /** Extra HTTP endpoints the gateway itself calls (openNDS authmon, WiFiDog /auth and /ping). */
  registerRoutes?(app: FastifyInstance): void;
}
