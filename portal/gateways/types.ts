import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../core/logger.ts';

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
   * and 2 redirects). An untrusted MAC is never linked to a member without a trustworthy confirmation: a
   * `macConfirmed` grant result or a `GatewayDeps.onConfirmed` call (see docs/gateways.md).
   */
  macTrusted: boolean;
  /** Access point / gateway node the shopper is on (used to map to a store), when known. */
  apId?: string;
  ssid?: string;
  clientIp?: string;
  /** Where the shopper wanted to go; http(s) only, already validated by the adapter. */
  originalUrl?: string;
  /** Adapter-specific state needed later to grant access (openNDS hid, Meraki base_grant_url, …). */
  grantState: Record<string, string>;
}

/**
 * How access is granted:
 * - `redirect`: send the browser to `url` (the gateway opens the network when the browser arrives there);
 * - `granted`: the adapter already opened the network server-side;
 * - `pending`: the gateway will pick the grant up itself (openNDS level 3 authmon polling); show a
 *   "connecting…" page that re-checks `grantStatus()` every `pollAfterMs` (about 30 s at most).
 * `macConfirmed` is true when the adapter confirmed, during this grant, that the arrival's client MAC is the
 * shopper's own (UniFi Integration API client look-up with a matching client IP).
 */
export type GrantResult =
  | { kind: 'redirect'; url: string; macConfirmed?: boolean }
  | { kind: 'granted'; continueUrl?: string; macConfirmed?: boolean }
  | { kind: 'pending'; pollAfterMs: number; continueUrl?: string };

/** State of a `pending` grant. `failed` once the gateway did not pick it up in time. */
export type GrantStatus = 'pending' | 'granted' | 'failed';

export interface GrantRequest {
  /** Session length the gateway should allow, in s. */
  sessionS: number;
  /** Where to send the shopper after access is granted (validated). */
  continueUrl?: string;
  /**
   * Opaque reference to this login (e.g. the flow id). Passed back in `GatewayDeps.onConfirmed` when the gateway
   * later confirms the client MAC server to server (WiFiDog). Never contains personal data.
   */
  loginRef?: string;
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

/** A gateway's server-to-server confirmation that a login's client MAC is genuine. */
export interface GatewayConfirmation {
  gateway: GatewayKind;
  mall: string;
  /** `GrantRequest.loginRef` of the login being confirmed. */
  loginRef: string;
  /** Raw client MAC as the gateway itself reported it, lowercase colon form. Never log it. */
  clientMac: string;
}

/** What `createGateway` needs besides the mall's gateway settings. */
export interface GatewayDeps {
  mall: string;
  /** A child logger; adapters never pass raw MACs, tokens or secrets to it. */
  logger: Logger;
  /** Called when the gateway confirms a login's client MAC server to server (see GatewayConfirmation). */
  onConfirmed?: (confirmation: GatewayConfirmation) => void;
  /**
   * Path of the portal's arrival page for this mall (e.g. `/m/<mall>/`). When set, gateway paths that are
   * arrivals by protocol (openNDS: GET on the FAS path, which authmon also POSTs to; WiFiDog: `login/`) answer
   * with a 302 there, query intact, so one gateway prefix serves both.
   */
  arrivalPath?: string;
  /** Clock in ms since the epoch; tests pass a fake one. */
  now?: () => number;
}

/** One adapter per gateway protocol, behind one interface. */
export interface GatewayAdapter {
  readonly kind: GatewayKind;
  /** Parses and checks the arrival redirect's query. Throws GatewayError('invalid') on a bad or forged one. */
  parseArrival(query: Readonly<Record<string, string | undefined>>, request: { ip: string }): Promise<GatewayArrival>;
  /** Grants the shopper access. Throws GatewayError('upstream') when the gateway/controller failed. */
  grant(arrival: GatewayArrival, request: GrantRequest): Promise<GrantResult>;
  /** Where a `pending` grant stands (openNDS level 3). Adapters that never return `pending` omit it. */
  grantStatus?(arrival: GatewayArrival): Promise<GrantStatus>;
  /**
   * Extra HTTP endpoints the gateway itself calls (openNDS authmon, WiFiDog /auth and /ping), with paths
   * relative to the mall's gateway prefix: mount with `app.register(plugin, { prefix: '/gw/<mall>' })`.
   */
  registerRoutes?(app: FastifyInstance): void;
}
