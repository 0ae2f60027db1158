import type { MerakiSettings } from './settings.ts';
import { type GatewayAdapter, type GatewayArrival, type GatewayDeps, GatewayError, type GrantRequest, type GrantResult } from './types.ts';
import { normaliseMac, optional, required, safeHttpUrl } from './util.ts';

/**
 * Cisco Meraki external captive portal, click-through (Meraki "Click-through API"): the splash redirect carries
 * `base_grant_url`, `user_continue_url`, `node_mac`, `client_ip`, `client_mac`; access is granted by sending the
 * browser to `base_grant_url?continue_url=…&duration=<s>`. Everything in the redirect is the shopper's to edit,
 * so `base_grant_url` must point at a Meraki host (else the portal is an open redirect to a phishing page) and
 * `client_mac` is only a claim.
 */
export class MerakiAdapter implements GatewayAdapter {
  readonly kind = 'meraki' as const;

  constructor(
    private readonly settings: MerakiSettings,
    private readonly deps: GatewayDeps,
  ) {}

  async parseArrival(query: Readonly<Record<string, string | undefined>>): Promise<GatewayArrival> {
    if (query.base_grant_url === undefined && query.login_url !== undefined) {
      throw new GatewayError('Meraki sign-on splash is not supported; configure the SSID for click-through', 'invalid');
    }
    const grantUrl = this.checkGrantUrl(required(query, 'base_grant_url', 2048));
    const clientMac = normaliseMac(optional(query, 'client_mac'));
    const apMac = normaliseMac(optional(query, 'node_mac'));
    const originalUrl = safeHttpUrl(optional(query, 'user_continue_url', 2048));
    const clientIp = optional(query, 'client_ip', 64);
    return {
      gateway: 'meraki',
      mall: this.deps.mall,
      ...(clientMac !== undefined ? { clientMac } : {}),
      macTrusted: false,
      ...(apMac !== undefined ? { apId: apMac } : {}),
      ...(clientIp !== undefined && /^[0-9a-fA-F.:]+$/.test(clientIp) ? { clientIp } : {}),
      ...(originalUrl !== undefined ? { originalUrl } : {}),
      grantState: { baseGrantUrl: grantUrl },
    };
  }

  async grant(arrival: GatewayArrival, request: GrantRequest): Promise<GrantResult> {
    const base = arrival.grantState.baseGrantUrl;
    if (arrival.gateway !== 'meraki' || base === undefined) throw new GatewayError('arrival was not made by the Meraki adapter', 'invalid');
    // Checked again: the flow token is the portal's, but a grant URL must never leave here unchecked.
    const url = new URL(this.checkGrantUrl(base));
    const continueUrl = request.continueUrl ?? arrival.originalUrl;
    if (continueUrl !== undefined) url.searchParams.set('continue_url', continueUrl);
    url.searchParams.set('duration', String(Math.max(1, Math.round(request.sessionS))));
    return { kind: 'redirect', url: url.href };
  }

  private checkGrantUrl(value: string): string {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new GatewayError('base_grant_url is not a URL', 'invalid');
    }
    const schemeOk = url.protocol === 'https:' || (this.settings.allowHttpGrant && url.protocol === 'http:');
    if (!schemeOk || url.username !== '' || url.password !== '' || url.port !== '' || !this.hostAllowed(url.hostname)) {
      throw new GatewayError('base_grant_url does not point at an allowed Meraki host', 'invalid');
    }
    url.hash = '';
    return url.href;
  }

  private hostAllowed(host: string): boolean {
    const name = host.toLowerCase();
    return this.settings.grantHosts.some((pattern) => {
      const p = pattern.toLowerCase();
      return p.startsWith('*.') ? name.endsWith(p.slice(1)) && name.length > p.length - 1 : name === p;
    });
  }
}
