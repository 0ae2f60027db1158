import type { PlainSettings } from './settings.ts';
import type { GatewayAdapter, GatewayArrival, GatewayDeps, GrantRequest, GrantResult } from './types.ts';
import { normaliseMac, optional, safeHttpUrl } from './util.ts';

/**
 * No gateway (development and demos): the portal URL itself is the arrival, optionally with `mac`, `ap`,
 * `ssid` and `url` query parameters, and there is nothing to open, so a grant is done at once.
 */
export class PlainAdapter implements GatewayAdapter {
  readonly kind = 'plain' as const;

  constructor(
    private readonly settings: PlainSettings,
    private readonly deps: GatewayDeps,
  ) {}

  async parseArrival(query: Readonly<Record<string, string | undefined>>, request: { ip: string }): Promise<GatewayArrival> {
    const clientMac = normaliseMac(optional(query, 'mac'));
    const apId = optional(query, 'ap', 64);
    const ssid = optional(query, 'ssid', 64);
    const originalUrl = safeHttpUrl(optional(query, 'url', 2048));
    return {
      gateway: 'plain',
      mall: this.deps.mall,
      ...(clientMac !== undefined ? { clientMac } : {}),
      macTrusted: clientMac !== undefined && this.settings.trustClaimedMac,
      ...(apId !== undefined && /^[A-Za-z0-9_.:-]+$/.test(apId) ? { apId } : {}),
      ...(ssid !== undefined ? { ssid } : {}),
      clientIp: request.ip,
      ...(originalUrl !== undefined ? { originalUrl } : {}),
      grantState: {},
    };
  }

  async grant(arrival: GatewayArrival, request: GrantRequest): Promise<GrantResult> {
    const continueUrl = request.continueUrl ?? arrival.originalUrl;
    return { kind: 'granted', ...(continueUrl !== undefined ? { continueUrl } : {}) };
  }
}
