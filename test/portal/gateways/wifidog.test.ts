import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../../portal/gateways/index.ts';
import { gatewaySettingsSchema } from '../../../portal/gateways/settings.ts';
import { type GatewayAdapter, GatewayError } from '../../../portal/gateways/types.ts';
import { type TestDeps, testDeps } from './helpers.ts';

const clientMac = '0a:11:22:33:44:55';
const loginQuery = { gw_address: '192.168.1.1', gw_port: '2060', gw_id: 'plaza-gw-1', ip: '192.168.1.23', mac: clientMac.toUpperCase(), url: 'http://example.com/' };
const gatewayIp = '198.51.100.7';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function setup(extra: Record<string, unknown> = {}): Promise<{ gw: GatewayAdapter; deps: TestDeps; app: FastifyInstance }> {
  const deps = testDeps();
  const gw = createGateway(gatewaySettingsSchema.parse({ kind: 'wifidog', gatewayIds: ['plaza-gw-1'], gatewaySources: [gatewayIp], ...extra }), deps);
  app = Fastify();
  await app.register(
    async (scope) => {
      gw.registerRoutes?.(scope);
    },
    { prefix: '/gw/mall-a' },
  );
  await app.ready();
  return { gw, deps, app };
}

/** Logs in and grants; returns the token the browser carries to the gateway. */
async function grantToken(gw: GatewayAdapter, loginRef = 'flow-1', query: Record<string, string> = loginQuery): Promise<string> {
  const arrival = await gw.parseArrival(query, { ip: '203.0.113.2' });
  const result = await gw.grant(arrival, { sessionS: 1800, loginRef });
  expect(result.kind).toBe('redirect');
  const url = new URL(result.kind === 'redirect' ? result.url : '');
  expect(`${url.origin}${url.pathname}`).toBe('http://192.168.1.1:2060/wifidog/auth');
  return url.searchParams.get('token') ?? '';
}

function auth(target: FastifyInstance, params: Record<string, string>, remoteAddress = gatewayIp) {
  return target.inject({ method: 'GET', url: `/gw/mall-a/auth/?${new URLSearchParams(params).toString()}`, remoteAddress });
}

describe('WiFiDog', () => {
  it('reads the login redirect; the MAC is a claim until the gateway confirms it', async () => {
    const { gw } = await setup();
    const arrival = await gw.parseArrival(loginQuery, { ip: '203.0.113.2' });
    expect(arrival).toMatchObject({ gateway: 'wifidog', clientMac, macTrusted: false, apId: 'plaza-gw-1', clientIp: '192.168.1.23', originalUrl: 'http://example.com/' });
  });

  it('refuses unknown gateways and grant targets outside the LAN', async () => {
    const { gw } = await setup();
    for (const bad of [{ gw_id: 'other' }, { gw_address: 'evil.example' }, { gw_address: '8.8.8.8' }, { gw_port: '99999' }]) {
      const error = await gw.parseArrival({ ...loginQuery, ...bad }, { ip: '1.1.1.1' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(GatewayError);
    }
  });

  it('answers Auth: 1 for the token with its MAC, confirms the MAC, then keeps the session on counters', async () => {
    const { gw, deps, app: a } = await setup();
    const token = await grantToken(gw);
    const login = await auth(a, { stage: 'login', ip: '192.168.1.23', mac: clientMac.toUpperCase(), token, incoming: '0', outgoing: '0', gw_id: 'plaza-gw-1' });
    expect(login.statusCode).toBe(200);
    expect(login.body).toBe('Auth: 1');
    expect(deps.confirmations).toEqual([{ gateway: 'wifidog', mall: 'mall-a', loginRef: 'flow-1', clientMac }]);
    const counters = await auth(a, { stage: 'counters', ip: '192.168.1.23', mac: clientMac, token, incoming: '12345', outgoing: '678', gw_id: 'plaza-gw-1' });
    expect(counters.body).toBe('Auth: 1');
    // A second login with the same token is a replay.
    expect((await auth(a, { stage: 'login', mac: clientMac, token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
    expect((await auth(a, { stage: 'logout', mac: clientMac, token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
    expect((await auth(a, { stage: 'counters', mac: clientMac, token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
    const logs = deps.logText();
    expect(logs).not.toContain(token);
    expect(logs.toLowerCase()).not.toContain('0a:11:22');
  });

  it('denies a token presented for another MAC, another gateway, unknown or expired', async () => {
    const { gw, deps, app: a } = await setup();
    const token = await grantToken(gw);
    expect((await auth(a, { stage: 'login', mac: '0a:11:22:33:44:99', token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
    expect((await auth(a, { stage: 'login', mac: clientMac, token, gw_id: 'plaza-gw-2' })).body).toBe('Auth: 0');
    expect((await auth(a, { stage: 'login', mac: clientMac, token: 'made-up', gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
    expect((await auth(a, { stage: 'login', mac: clientMac, token, gw_id: 'plaza-gw-1', extra: 'x' })).body).toBe('Auth: 1');
    const late = await grantToken(gw, 'flow-2');
    deps.clock.ms += 300_001;
    expect((await auth(a, { stage: 'login', mac: clientMac, token: late, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
    expect(deps.confirmations.map((c) => c.loginRef)).toEqual(['flow-1']);
  });

  it('ends the session after its length', async () => {
    const { gw, deps, app: a } = await setup();
    const token = await grantToken(gw);
    expect((await auth(a, { stage: 'login', mac: clientMac, token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 1');
    deps.clock.ms += 1_800_001;
    expect((await auth(a, { stage: 'counters', mac: clientMac, token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
  });

  it('binds a token without a claimed MAC to the MAC the gateway reports first', async () => {
    const { gw, app: a } = await setup();
    const { mac: _mac, ...noMac } = loginQuery;
    const token = await grantToken(gw, 'flow-3', noMac);
    expect((await auth(a, { stage: 'login', mac: clientMac, token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 1');
    expect((await auth(a, { stage: 'counters', mac: '0a:00:00:00:00:01', token, gw_id: 'plaza-gw-1' })).body).toBe('Auth: 0');
  });

  it('refuses /auth and /ping from outside the gateway sources; without sources it never confirms', async () => {
    const { gw, app: a } = await setup();
    const token = await grantToken(gw);
    expect((await auth(a, { stage: 'login', mac: clientMac, token, gw_id: 'plaza-gw-1' }, '203.0.113.66')).statusCode).toBe(403);
    expect((await a.inject({ method: 'GET', url: '/gw/mall-a/ping/?gw_id=plaza-gw-1', remoteAddress: '203.0.113.66' })).statusCode).toBe(403);
    await app?.close();

    const open = await setup({ gatewaySources: undefined });
    const openToken = await grantToken(open.gw);
    expect((await auth(open.app, { stage: 'login', mac: clientMac, token: openToken, gw_id: 'plaza-gw-1' }, '203.0.113.66')).body).toBe('Auth: 1');
    expect(open.deps.confirmations).toEqual([]);
  });

  it('answers the heartbeat with Pong for known gateways (gw_id or apfree device_id)', async () => {
    const { app: a } = await setup();
    const ping = await a.inject({ method: 'GET', url: '/gw/mall-a/ping/?gw_id=plaza-gw-1&sys_uptime=100&sys_memfree=1000&sys_load=0.1&wifidog_uptime=50', remoteAddress: gatewayIp });
    expect(ping.statusCode).toBe(200);
    expect(ping.body).toBe('Pong');
    expect((await a.inject({ method: 'GET', url: '/gw/mall-a/ping?device_id=plaza-gw-1', remoteAddress: gatewayIp })).body).toBe('Pong');
    expect((await a.inject({ method: 'GET', url: '/gw/mall-a/ping/?gw_id=unknown', remoteAddress: gatewayIp })).statusCode).toBe(404);
  });

  it('hands the login redirect on to the portal arrival page, query intact', async () => {
    const deps = { ...testDeps(), arrivalPath: '/m/mall-a/' };
    const gw = createGateway(gatewaySettingsSchema.parse({ kind: 'wifidog', gatewayIds: ['plaza-gw-1'] }), deps);
    app = Fastify();
    await app.register(
      async (scope) => {
        gw.registerRoutes?.(scope);
      },
      { prefix: '/gw/mall-a' },
    );
    const query = new URLSearchParams(loginQuery).toString();
    const login = await app.inject({ method: 'GET', url: `/gw/mall-a/login/?${query}` });
    expect(login.statusCode).toBe(302);
    expect(login.headers.location).toBe(`/m/mall-a/?${query}`);
  });

  it('serves gw_message without echoing the message', async () => {
    const { app: a } = await setup();
    const page = await a.inject({ method: 'GET', url: '/gw/mall-a/gw_message.php?message=<script>alert(1)</script>' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).not.toContain('<script>');
  });
});
