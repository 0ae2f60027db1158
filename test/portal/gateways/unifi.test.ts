import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../../portal/gateways/index.ts';
import { gatewaySettingsSchema } from '../../../portal/gateways/settings.ts';
import { type GatewayAdapter, GatewayError } from '../../../portal/gateways/types.ts';
import { type TestDeps, testDeps } from './helpers.ts';
import { type StandInOptions, UnifiStandIn } from './unifi-controller.ts';

const clientMac = '1c:71:25:63:e4:24';
const redirect = { ap: '94:2A:6F:D0:30:57', id: clientMac.toUpperCase(), t: '1742398732', url: 'http://example.com/', ssid: 'Plaza Free WiFi' };
const password = 'controller-secret-pw';
const apiKey = 'integration-api-key-0123456789';

let standIn: UnifiStandIn | undefined;
let tmp: string | undefined;
afterEach(async () => {
  await standIn?.stop();
  standIn = undefined;
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

async function controller(options: StandInOptions): Promise<UnifiStandIn> {
  standIn = new UnifiStandIn({ username: 'portal', password, apiKey, ...options });
  await standIn.start();
  return standIn;
}

function adapter(settings: Record<string, unknown>, deps: TestDeps = testDeps()): { gw: GatewayAdapter; deps: TestDeps } {
  return { gw: createGateway(gatewaySettingsSchema.parse({ kind: 'unifi', ...settings }), deps), deps };
}

async function upstream(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  expect((error as GatewayError).kind).toBe('upstream');
  const message = (error as GatewayError).message;
  expect(message.toLowerCase()).not.toContain('1c:71:25');
  return message;
}

describe('UniFi external portal: redirect', () => {
  it('reads id/ap/url/ssid; the client MAC is a claim', async () => {
    const { gw } = adapter({ controllerUrl: 'https://10.0.0.1', apiKey });
    const arrival = await gw.parseArrival(redirect, { ip: '192.168.1.50' });
    expect(arrival).toMatchObject({ gateway: 'unifi', clientMac, macTrusted: false, apId: '94:2a:6f:d0:30:57', ssid: 'Plaza Free WiFi', originalUrl: 'http://example.com/' });
    await expect(gw.parseArrival({ ...redirect, id: 'zz' }, { ip: '1.1.1.1' })).rejects.toThrow(/client MAC/);
  });
});

describe('UniFi legacy API (session + CSRF)', () => {
  it('classic controller: logs in once, sends cookie and CSRF token, authorises with a lowercase MAC', async () => {
    const c = await controller({ flavour: 'classic' });
    const { gw, deps } = adapter({ controllerUrl: c.url, api: 'legacy', unifiOs: false, username: 'portal', password });
    const arrival = await gw.parseArrival(redirect, { ip: '1.1.1.1' });
    expect(await gw.grant(arrival, { sessionS: 3601, continueUrl: 'https://plaza.example/ok' })).toEqual({ kind: 'granted', continueUrl: 'https://plaza.example/ok' });
    await gw.grant(arrival, { sessionS: 60 });
    expect(c.logins).toBe(1);
    expect(c.authorized).toEqual([
      { mac: clientMac, minutes: 61 },
      { mac: clientMac, minutes: 1 },
    ]);
    const command = c.requests.find((r) => r.path === '/api/s/default/cmd/stamgr');
    expect(command?.body).toEqual({ cmd: 'authorize-guest', mac: clientMac, minutes: 61, ap_mac: '94:2a:6f:d0:30:57' });
    const logs = deps.logText();
    expect(logs).toContain('unifi-authorized');
    for (const secret of [password, '1c:71:25', 'unifises']) expect(logs).not.toContain(secret);
  });

  it('logs in again when the session expired (401 and the older 200 + api.err.LoginRequired)', async () => {
    for (const loginRequiredStatus of [401, 200] as const) {
      const c = await controller({ flavour: 'classic', loginRequiredStatus });
      const { gw } = adapter({ controllerUrl: c.url, api: 'legacy', unifiOs: false, username: 'portal', password });
      const arrival = await gw.parseArrival(redirect, { ip: '1.1.1.1' });
      await gw.grant(arrival, { sessionS: 600 });
      c.expireSessions();
      await gw.grant(arrival, { sessionS: 600 });
      expect(c.logins).toBe(2);
      expect(c.authorized).toHaveLength(2);
      await c.stop();
      standIn = undefined;
    }
  });

  it('turns errors answered as HTTP 200 into upstream errors with the api.err code', async () => {
    const c = await controller({ flavour: 'classic', site: 'mall-a-site' });
    const { gw } = adapter({ controllerUrl: c.url, api: 'legacy', unifiOs: false, username: 'portal', password, site: 'default' });
    const arrival = await gw.parseArrival(redirect, { ip: '1.1.1.1' });
    expect(await upstream(gw.grant(arrival, { sessionS: 600 }))).toMatch(/api\.err\.NoSiteContext/);
    expect(c.authorized).toEqual([]);
  });

  it('reports a refused login without the password', async () => {
    const c = await controller({ flavour: 'classic' });
    const { gw } = adapter({ controllerUrl: c.url, api: 'legacy', unifiOs: false, username: 'portal', password: 'wrong-password' });
    const message = await upstream(gw.grant(await gw.parseArrival(redirect, { ip: '1.1.1.1' }), { sessionS: 600 }));
    expect(message).toMatch(/login failed with HTTP 400 \(api\.err\.Invalid\)/);
    expect(message).not.toContain('wrong-password');
  });

  it('UniFi OS: /api/auth/login, x-csrf-token header, /proxy/network prefix and CSRF rotation', async () => {
    const c = await controller({ flavour: 'unifios' });
    const { gw } = adapter({ controllerUrl: c.url, api: 'legacy', unifiOs: true, username: 'portal', password });
    const arrival = await gw.parseArrival(redirect, { ip: '1.1.1.1' });
    await gw.grant(arrival, { sessionS: 600 });
    // The stand-in rotated the token; the second call must carry the new one or be refused with 403.
    await gw.grant(arrival, { sessionS: 600 });
    expect(c.logins).toBe(1);
    expect(c.authorized).toHaveLength(2);
    expect(c.requests.filter((r) => r.path === '/proxy/network/api/s/default/cmd/stamgr')).toHaveLength(2);
  });

  it('gives up after the timeout', async () => {
    const c = await controller({ flavour: 'classic' });
    c.delayMs = 2_000;
    const { gw } = adapter({ controllerUrl: c.url, api: 'legacy', unifiOs: false, username: 'portal', password, timeoutMs: 200 });
    const started = Date.now();
    expect(await upstream(gw.grant(await gw.parseArrival(redirect, { ip: '1.1.1.1' }), { sessionS: 600 }))).toMatch(/within 200 ms/);
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('UniFi Integration API (API key)', () => {
  const client = { id: '6f3b6677-e61a-3057-8a4f-74ea11396064', macAddress: clientMac, ipAddress: '192.168.1.50' };

  it('finds site and client (retrying a client not listed yet) and authorises it', async () => {
    const c = await controller({ flavour: 'unifios', clients: [{ ...client, visibleFromLookup: 3 }] });
    const { gw } = adapter({ controllerUrl: c.url, apiKey, lookupRetryDelayMs: 5 });
    const arrival = await gw.parseArrival(redirect, { ip: '203.0.113.9' });
    expect(await gw.grant(arrival, { sessionS: 5400 })).toEqual({ kind: 'granted', continueUrl: 'http://example.com/' });
    expect(c.authorized).toEqual([{ mac: clientMac, minutes: 90 }]);
    const lookups = c.requests.filter((r) => r.path.includes('/clients?filter='));
    expect(lookups).toHaveLength(3);
    expect(decodeURIComponent(lookups[0]?.path ?? '')).toContain(`macAddress.eq('${clientMac}')`);
    expect(c.requests.every((r) => r.headers['x-api-key'] === apiKey)).toBe(true);
    const action = c.requests.find((r) => r.path.endsWith('/actions'));
    expect(action?.body).toEqual({ action: 'AUTHORIZE_GUEST_ACCESS', timeLimitMinutes: 90 });
  });

  it('confirms the MAC only when asked to and the controller reports the requesting IP for it', async () => {
    const c = await controller({ flavour: 'unifios', clients: [client] });
    const confirming = adapter({ controllerUrl: c.url, apiKey, confirmByClientIp: true, downloadRateKbps: 2048, dataLimitMB: 500 }).gw;
    const same = await confirming.parseArrival(redirect, { ip: '::ffff:192.168.1.50' });
    expect(await confirming.grant(same, { sessionS: 600 })).toMatchObject({ kind: 'granted', macConfirmed: true });
    expect(c.requests.find((r) => r.path.endsWith('/actions'))?.body).toEqual({ action: 'AUTHORIZE_GUEST_ACCESS', timeLimitMinutes: 10, dataUsageLimitMBytes: 500, rxRateLimitKbps: 2048 });
    const other = await confirming.parseArrival(redirect, { ip: '192.168.1.77' });
    expect(await confirming.grant(other, { sessionS: 600 })).not.toHaveProperty('macConfirmed');
    const notAsked = adapter({ controllerUrl: c.url, apiKey }).gw;
    expect(await notAsked.grant(same, { sessionS: 600 })).not.toHaveProperty('macConfirmed');
  });

  it('fails cleanly for an unknown client, a wrong key and an unknown site', async () => {
    const c = await controller({ flavour: 'unifios', clients: [] });
    const arrival = await adapter({ controllerUrl: c.url, apiKey }).gw.parseArrival(redirect, { ip: '1.1.1.1' });
    expect(await upstream(adapter({ controllerUrl: c.url, apiKey, lookupAttempts: 2, lookupRetryDelayMs: 1 }).gw.grant(arrival, { sessionS: 60 }))).toMatch(/does not list the client/);
    expect(await upstream(adapter({ controllerUrl: c.url, apiKey: 'wrong' }).gw.grant(arrival, { sessionS: 60 }))).toMatch(/refused the API key \(HTTP 401\)/);
    expect(await upstream(adapter({ controllerUrl: c.url, apiKey, site: 'elsewhere' }).gw.grant(arrival, { sessionS: 60 }))).toMatch(/no site "elsewhere"/);
    expect(c.authorized).toEqual([]);
  });
});

describe('UniFi controller TLS', () => {
  it('verifies the certificate by default, trusts a configured CA, or skips verification when told', async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'plaza-unifi-tls-'));
    const keyFile = path.join(tmp, 'key.pem');
    const certFile = path.join(tmp, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const c = await controller({ flavour: 'unifios', clients: [{ id: 'c1', macAddress: clientMac, ipAddress: '192.168.1.50' }], https: { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') } });
    expect(c.url.startsWith('https://')).toBe(true);
    const arrival = await adapter({ controllerUrl: c.url, apiKey }).gw.parseArrival(redirect, { ip: '1.1.1.1' });
    expect(await upstream(adapter({ controllerUrl: c.url, apiKey }).gw.grant(arrival, { sessionS: 60 }))).toMatch(/certificate/);
    await expect(adapter({ controllerUrl: c.url, apiKey, caFile: certFile }).gw.grant(arrival, { sessionS: 60 })).resolves.toMatchObject({ kind: 'granted' });
    await expect(adapter({ controllerUrl: c.url, apiKey, tlsVerify: false }).gw.grant(arrival, { sessionS: 60 })).resolves.toMatchObject({ kind: 'granted' });
    expect(c.authorized).toHaveLength(2);
  });
});
