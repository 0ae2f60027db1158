import type { UnifiSettings } from './settings.ts';
import { type GatewayAdapter, type GatewayArrival, type GatewayDeps, GatewayError, type GrantRequest, type GrantResult } from './types.ts';
import { type GuestLimits, IntegrationController, LegacyController } from './unifi-client.ts';
import { normaliseMac, optional, safeHttpUrl } from './util.ts';

/**
 * UniFi external portal server: the controller redirects to `/guest/s/<site>/?ap=<AP MAC>&id=<client MAC>
 * &t=<epoch>&url=<original>&ssid=<SSID>` (unsigned, so `id` is a claim) and the portal authorises the client
 * through the controller — legacy session API or Integration API (see unifi-client.ts).
 */
export class UnifiAdapter implements GatewayAdapter {
  readonly kind = 'unifi' as const;

  constructor(
    private readonly settings: UnifiSettings,
    private readonly deps: GatewayDeps,
    private readonly controller: LegacyController | IntegrationController,
  ) {}

  async parseArrival(query: Readonly<Record<string, string | undefined>>, request: { ip: string }): Promise<GatewayArrival> {
    const clientMac = normaliseMac(optional(query, 'id'));
    if (clientMac === undefined) throw new GatewayError('UniFi redirect lacks a client MAC (id)', 'invalid');
    const apMac = normaliseMac(optional(query, 'ap'));
    const ssid = optional(query, 'ssid', 64);
    const originalUrl = safeHttpUrl(optional(query, 'url', 2048));
    return {
      gateway: 'unifi',
      mall: this.deps.mall,
      clientMac,
      macTrusted: false,
      ...(apMac !== undefined ? { apId: apMac } : {}),
      ...(ssid !== undefined ? { ssid } : {}),
      ...(originalUrl !== undefined ? { originalUrl } : {}),
      grantState: { requestIp: request.ip, ...(apMac !== undefined ? { apMac } : {}) },
    };
  }

  async grant(arrival: GatewayArrival, request: GrantRequest): Promise<GrantResult> {
    const mac = arrival.clientMac;
    if (arrival.gateway !== 'unifi' || mac === undefined) throw new GatewayError('arrival was not made by the UniFi adapter', 'invalid');
    const limits: GuestLimits = {
      minutes: Math.max(1, Math.ceil(request.sessionS / 60)),
      ...(this.settings.uploadRateKbps !== undefined ? { upKbps: this.settings.uploadRateKbps } : {}),
      ...(this.settings.downloadRateKbps !== undefined ? { downKbps: this.settings.downloadRateKbps } : {}),
      ...(this.settings.dataLimitMB !== undefined ? { dataMB: this.settings.dataLimitMB } : {}),
    };
    const continueUrl = request.continueUrl ?? arrival.originalUrl;
    const started = Date.now();
    let macConfirmed = false;
    if (this.controller instanceof LegacyController) {
      await this.controller.authorizeGuest(mac, limits, arrival.grantState.apMac);
    } else {
      const { clientIp } = await this.controller.authorizeGuest(mac, limits);
      // The controller's IP for this MAC equals the address the shopper's request came from: the request was
      // made from that device (only meaningful without NAT between shoppers and portal, hence opt-in).
      macConfirmed = this.settings.confirmByClientIp && clientIp !== undefined && sameIp(clientIp, arrival.grantState.requestIp);
    }
    this.deps.logger.info({ event: 'unifi-authorized', api: this.settings.api, ms: Date.now() - started, macConfirmed }, 'UniFi guest authorised');
    return { kind: 'granted', ...(continueUrl !== undefined ? { continueUrl } : {}), ...(macConfirmed ? { macConfirmed } : {}) };
  }
}

function sameIp(a: string, b: string | undefined): boolean {
  if (b === undefined) return false;
  const strip = (ip: string): string => (ip.startsWith('::ffff:') ? ip.slice(7) : ip).toLowerCase();
  return strip(a) === strip(b);
}
