import { describe, expect, it } from 'vitest';
import { createGateway } from '../../../portal/gateways/index.ts';
import { gatewaySettingsSchema } from '../../../portal/gateways/settings.ts';
import { GatewayError } from '../../../portal/gateways/types.ts';
import { testDeps } from './helpers.ts';

const merakiQuery = {
  base_grant_url: 'https://n143.network-auth.com/splash/grant',
  user_continue_url: 'http://meraki.com/',
  node_id: '1301936',
  node_mac: '00:18:0a:13:dd:b0',
  gateway_id: '1301936',
  client_ip: '10.162.50.40',
  client_mac: 'F4:5C:89:9B:17:67',
};

function meraki(extra: Record<string, unknown> = {}) {
  return createGateway(gatewaySettingsSchema.parse({ kind: 'meraki', ...extra }), testDeps());
}

async function rejected(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

describe('Meraki click-through', () => {
  it('reads the splash redirect; the client MAC is only a claim', async () => {
    const arrival = await meraki().parseArrival(merakiQuery, { ip: '203.0.113.5' });
    expect(arrival).toMatchObject({
      gateway: 'meraki',
      clientMac: 'f4:5c:89:9b:17:67',
      macTrusted: false,
      apId: '00:18:0a:13:dd:b0',
      clientIp: '10.162.50.40',
      originalUrl: 'http://meraki.com/',
    });
  });

  it('grants by redirecting to base_grant_url with continue_url and duration in s', async () => {
    const gw = meraki();
    const arrival = await gw.parseArrival(merakiQuery, { ip: '1.1.1.1' });
    const result = await gw.grant(arrival, { sessionS: 7200, continueUrl: 'https://plaza.example/welcome?lang=zh-CN' });
    expect(result.kind).toBe('redirect');
    const url = new URL(result.kind === 'redirect' ? result.url : '');
    expect(`${url.origin}${url.pathname}`).toBe('https://n143.network-auth.com/splash/grant');
    expect(url.searchParams.get('continue_url')).toBe('https://plaza.example/welcome?lang=zh-CN');
    expect(url.searchParams.get('duration')).toBe('7200');
    // Without a portal continue URL, the shopper's original destination is used.
    const plain = await gw.grant(arrival, { sessionS: 60 });
    expect(plain.kind === 'redirect' && new URL(plain.url).searchParams.get('continue_url')).toBe('http://meraki.com/');
  });

  it('refuses grant URLs outside the allowlist (open redirect / phishing)', async () => {
    const gw = meraki();
    for (const base of [
      'https://evil.example/splash/grant',
      'https://network-auth.com.evil.example/grant',
      'https://evilnetwork-auth.com/grant',
      'http://n143.network-auth.com/splash/grant',
      'https://user:pw@n143.network-auth.com/splash/grant',
      'https://n143.network-auth.com:8443/splash/grant',
      'javascript:alert(1)//n143.network-auth.com',
      'not a url',
    ]) {
      const error = await rejected(gw.parseArrival({ ...merakiQuery, base_grant_url: base }, { ip: '1.1.1.1' }));
      expect(error.kind).toBe('invalid');
    }
    await rejected(gw.parseArrival({ ...merakiQuery, base_grant_url: undefined }, { ip: '1.1.1.1' }));
  });

  it('re-checks the grant URL at grant time and honours configured hosts', async () => {
    const gw = meraki();
    const arrival = await gw.parseArrival(merakiQuery, { ip: '1.1.1.1' });
    await rejected(gw.grant({ ...arrival, grantState: { baseGrantUrl: 'https://evil.example/grant' } }, { sessionS: 60 }));
    const custom = meraki({ grantHosts: ['grant.plaza.example'], allowHttpGrant: true });
    const ok = await custom.parseArrival({ ...merakiQuery, base_grant_url: 'http://grant.plaza.example/splash/grant' }, { ip: '1.1.1.1' });
    expect(ok.grantState.baseGrantUrl).toBe('http://grant.plaza.example/splash/grant');
    await rejected(custom.parseArrival(merakiQuery, { ip: '1.1.1.1' }));
  });

  it('treats a malformed client_mac as absent and reports sign-on mode as unsupported', async () => {
    const gw = meraki();
    const arrival = await gw.parseArrival({ ...merakiQuery, client_mac: 'ff:ff:96:d5:d5' }, { ip: '1.1.1.1' });
    expect(arrival.clientMac).toBeUndefined();
    const error = await rejected(gw.parseArrival({ login_url: 'https://n143.network-auth.com/splash/login', client_mac: merakiQuery.client_mac }, { ip: '1.1.1.1' }));
    expect(error.message).toMatch(/sign-on/);
  });
});

describe('plain (no gateway)', () => {
  it('grants at once and never trusts a typed MAC unless configured for demos', async () => {
    const gw = createGateway(gatewaySettingsSchema.parse({ kind: 'plain' }), testDeps());
    const arrival = await gw.parseArrival({ mac: 'AA-BB-CC-DD-EE-01', ap: 'store-12', url: 'https://example.com/' }, { ip: '127.0.0.1' });
    expect(arrival).toMatchObject({ gateway: 'plain', clientMac: 'aa:bb:cc:dd:ee:01', macTrusted: false, apId: 'store-12', clientIp: '127.0.0.1' });
    expect(await gw.grant(arrival, { sessionS: 60 })).toEqual({ kind: 'granted', continueUrl: 'https://example.com/' });
    const demo = createGateway(gatewaySettingsSchema.parse({ kind: 'plain', trustClaimedMac: true }), testDeps());
    expect((await demo.parseArrival({ mac: 'aa:bb:cc:dd:ee:01' }, { ip: '127.0.0.1' })).macTrusted).toBe(true);
    expect((await demo.parseArrival({}, { ip: '127.0.0.1' })).macTrusted).toBe(false);
  });

  it('ignores a non-http original URL', async () => {
    const gw = createGateway(gatewaySettingsSchema.parse({ kind: 'plain' }), testDeps());
    const arrival = await gw.parseArrival({ url: 'javascript:alert(1)' }, { ip: '127.0.0.1' });
    expect(arrival.originalUrl).toBeUndefined();
    expect(await gw.grant(arrival, { sessionS: 60 })).toEqual({ kind: 'granted' });
  });
});

describe('gateway settings schema', () => {
  it('lists every problem with its path', () => {
    const result = gatewaySettingsSchema.safeParse({ kind: 'opennds', faskey: 'short', fasLevel: 4 });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.')) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['faskey', 'fasLevel']));
    expect(gatewaySettingsSchema.safeParse({ kind: 'unifi', controllerUrl: 'https://10.0.0.1', api: 'integration' }).error?.issues[0]?.path).toEqual(['apiKey']);
    expect(gatewaySettingsSchema.safeParse({ kind: 'unifi', controllerUrl: 'ftp://10.0.0.1', apiKey: 'k' }).success).toBe(false);
    expect(gatewaySettingsSchema.safeParse({ kind: 'wifidog', gatewayIds: [] }).success).toBe(false);
    expect(gatewaySettingsSchema.safeParse({ kind: 'chilli' }).success).toBe(false);
  });
});
