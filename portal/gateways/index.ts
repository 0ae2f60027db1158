import { readFileSync } from 'node:fs';
import type { HttpOptions } from './http-client.ts';
import { MerakiAdapter } from './meraki.ts';
import { OpenndsAdapter } from './opennds.ts';
import { PlainAdapter } from './plain.ts';
import type { GatewaySettings, UnifiSettings } from './settings.ts';
import type { GatewayAdapter, GatewayDeps } from './types.ts';
import { IntegrationController, LegacyController } from './unifi-client.ts';
import { UnifiAdapter } from './unifi.ts';
import { WifidogAdapter } from './wifidog.ts';

export { gatewaySettingsSchema, type GatewaySettings } from './settings.ts';
export * from './types.ts';

/** The adapter for one mall's gateway. Settings come from the mall's config, already parsed by the schema. */
export function createGateway(settings: GatewaySettings, deps: GatewayDeps): GatewayAdapter {
  const logger = deps.logger.child({ gateway: settings.kind });
  const scoped: GatewayDeps = { ...deps, logger };
  switch (settings.kind) {
    case 'opennds':
      return new OpenndsAdapter(settings, scoped);
    case 'meraki':
      return new MerakiAdapter(settings, scoped);
    case 'unifi':
      return new UnifiAdapter(settings, scoped, unifiController(settings));
    case 'wifidog':
      return new WifidogAdapter(settings, scoped);
    case 'plain':
      return new PlainAdapter(settings, scoped);
  }
}

function unifiController(settings: UnifiSettings): LegacyController | IntegrationController {
  const base = new URL(settings.controllerUrl);
  const http: HttpOptions = {
    timeoutMs: settings.timeoutMs,
    tlsVerify: settings.tlsVerify,
    ...(settings.caFile !== undefined ? { ca: readFileSync(settings.caFile, 'utf8') } : {}),
  };
  if (settings.api === 'legacy') {
    // The schema guarantees both for the legacy API.
    return new LegacyController(base, settings.site, settings.unifiOs, { username: settings.username ?? '', password: settings.password ?? '' }, http);
  }
  return new IntegrationController(base, settings.site, settings.apiKey ?? '', http, {
    attempts: settings.lookupAttempts,
    retryDelayMs: settings.lookupRetryDelayMs,
  });
}
