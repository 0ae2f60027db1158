import { createCipheriv, createHash } from 'node:crypto';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway } from '../../../portal/gateways/index.ts';
import { gatewaySettingsSchema } from '../../../portal/gateways/settings.ts';
import type { GatewayAdapter, GatewayArrival } from '../../../portal/gateways/types.ts';
import { type TestDeps, testDeps } from './helpers.ts';

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const faskey = 'k3yForThePlazaGateway';
const iv = sha256('iv').slice(0, 16);
const gatewayName = 'Mall%20A%20Gate';
const gatewayHash = sha256(gatewayName);
const b64 = (s: string): string => Buffer.from(s).toString('base64');

function encryptedQuery(n: number): Record<string, string> {
  const plain = [
    `hid=${sha256(`token-${n}`)}`,
    `clientip=192.168.8.${n}`,
    `clientmac=02:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
    `gatewayname=${gatewayName}`,
    'gatewayaddress=192.168.8.1:2050',
    'authdir=opennds_auth',
    'originurl=http%3A%2F%2Fexample.com%2F',
  ].join(', ');
  const key = Buffer.alloc(32);
  Buffer.from(faskey).copy(key);
  const cipher = createCipheriv('aes-256-cbc', key, Buffer.from(iv, 'latin1'));
  const php = Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
  return { fas: Buffer.from(php).toString('base64'), iv };
}

/** Decodes one answer line the way authmon.sh does: printf of the %xx escapes, then split on spaces. */
function authmonFields(line: string): string[] {
  return decodeURIComponent(line).split(' ');
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function setup(extra: Record<string, unknown> = {}, withFormbody = false): Promise<{ gw: GatewayAdapter; deps: TestDeps; app: FastifyInstance }> {
  const deps = { ...testDeps(), arrivalPath: '/m/mall-a/' };
  const gw = createGateway(gatewaySettingsSchema.parse({ kind: 'opennds', faskey, ...extra }), deps);
  app = Fastify();
  if (withFormbody) await app.register(formbody);
  await app.register(
    async (scope) => {
      gw.registerRoutes?.(scope);
    },
    { prefix: '/gw/mall-a' },
  );
  await app.ready();
  return { gw, deps, app };
}

function poll(target: FastifyInstance, fields: Record<string, string>) {
  return target.inject({
    method: 'POST',
    url: '/gw/mall-a/',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'openNDS(authmon;NDS:10.2.0;)' },
    payload: new URLSearchParams(fields).toString(),
  });
}

async function arriveAndGrant(gw: GatewayAdapter, n: number, sessionS = 3600): Promise<GatewayArrival> {
  const arrival = await gw.parseArrival(encryptedQuery(n), { ip: '203.0.113.1' });
  expect((await gw.grant(arrival, { sessionS })).kind).toBe('pending');
  return arrival;
}

describe('openNDS authmon endpoint', () => {
  it('lists a pending grant on view, drops it on ack and reports it granted', async () => {
    const { gw, app: a } = await setup({ uploadRateKbps: 500, downloadQuotaKB: 1000 });
    const arrival = await arriveAndGrant(gw, 1, 5400);
    const rhid = sha256(sha256('token-1') + faskey);

    const listed = await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64('none') });
    expect(listed.statusCode).toBe(200);
    expect(listed.body.startsWith('* ')).toBe(true);
    const lines = listed.body.slice(2).split(' ');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(' ');
    const [lineRhid, minutes, up, down, upQuota, downQuota, custom] = authmonFields(lines[0] ?? '');
    expect([lineRhid, minutes, up, down, upQuota, downQuota]).toEqual([rhid, '90', '500', '0', '0', '1000']);
    expect(Buffer.from(custom ?? '', 'base64').toString()).toBe('mall=mall-a');
    expect(await gw.grantStatus?.(arrival)).toBe('pending');

    const ack = await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64(`* ${rhid}`) });
    expect(ack.body).toBe('ack');
    expect(await gw.grantStatus?.(arrival)).toBe('granted');
    const again = await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64('none') });
    expect(again.body).toBe('*');
  });

  it('accepts a newline-separated ack list and an empty one', async () => {
    const { gw, app: a } = await setup({}, true);
    const first = await arriveAndGrant(gw, 1);
    const second = await arriveAndGrant(gw, 2);
    expect((await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64('*') })).body).toBe('ack');
    expect(await gw.grantStatus?.(first)).toBe('pending');
    const acks = `* ${sha256(sha256('token-1') + faskey)}\n* ${sha256(sha256('token-2') + faskey)}\n`;
    expect((await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64(acks) })).body).toBe('ack');
    expect(await gw.grantStatus?.(first)).toBe('granted');
    expect(await gw.grantStatus?.(second)).toBe('granted');
  });

  it('list hands entries over at once (older authmon)', async () => {
    const { gw, app: a } = await setup();
    const arrival = await arriveAndGrant(gw, 3);
    const listed = await poll(a, { auth_get: 'list', gatewayhash: gatewayHash });
    expect(listed.body).toMatch(/^\* [0-9a-f]{64}%20/);
    expect(await gw.grantStatus?.(arrival)).toBe('granted');
    expect((await poll(a, { auth_get: 'list', gatewayhash: gatewayHash })).body).toBe('*');
  });

  it('answers at most 4 clients per poll, as authmon authorises at most 4', async () => {
    const { gw, app: a } = await setup();
    for (let n = 1; n <= 6; n += 1) await arriveAndGrant(gw, n);
    const listed = await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64('none') });
    expect(listed.body.slice(2).split(' ')).toHaveLength(4);
    expect(listed.body.length).toBeLessThanOrEqual(1002);
  });

  it('clear drops stale grants; other gateways see an empty list', async () => {
    const { gw, app: a } = await setup();
    const arrival = await arriveAndGrant(gw, 4);
    expect((await poll(a, { auth_get: 'view', gatewayhash: sha256('Other%20Gate'), payload: b64('none') })).body).toBe('*');
    expect((await poll(a, { auth_get: 'clear', gatewayhash: gatewayHash })).statusCode).toBe(200);
    expect(await gw.grantStatus?.(arrival)).toBe('failed');
  });

  it('forgets grants after the TTL and keeps each gateway list bounded', async () => {
    const { gw, deps, app: a } = await setup({ pendingTtlMs: 10_000, maxPendingPerGateway: 2 });
    const one = await arriveAndGrant(gw, 1);
    deps.clock.ms += 1;
    const two = await arriveAndGrant(gw, 2);
    deps.clock.ms += 1;
    const three = await arriveAndGrant(gw, 3);
    expect(await gw.grantStatus?.(one)).toBe('failed');
    expect(await gw.grantStatus?.(two)).toBe('pending');
    deps.clock.ms += 10_001;
    expect(await gw.grantStatus?.(three)).toBe('failed');
    expect((await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64('none') })).body).toBe('*');
  });

  it('acknowledges deauthed and custom reports, refuses malformed polls', async () => {
    const { app: a } = await setup();
    expect((await poll(a, { auth_get: 'deauthed', gatewayhash: gatewayHash, payload: b64(b64('method=timeout, rhid=x')) })).body).toBe('ack');
    expect((await poll(a, { auth_get: 'custom', gatewayhash: gatewayHash, payload: b64('x') })).body).toBe('ack');
    expect((await poll(a, { auth_get: 'view', gatewayhash: 'not-a-hash', payload: b64('none') })).statusCode).toBe(400);
    expect((await poll(a, { auth_get: 'delete-all', gatewayhash: gatewayHash })).statusCode).toBe(400);
    expect((await poll(a, { gatewayhash: gatewayHash })).statusCode).toBe(400);
  });

  it('hands the FAS GET on to the portal arrival page; authmon POSTs stay here', async () => {
    const { app: a } = await setup({}, true);
    const query = new URLSearchParams(encryptedQuery(7)).toString();
    const arrival = await a.inject({ method: 'GET', url: `/gw/mall-a/?${query}` });
    expect(arrival.statusCode).toBe(302);
    expect(arrival.headers.location).toBe(`/m/mall-a/?${query}`);
    expect((await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64('none') })).body).toBe('*');
  });

  it('refuses polls from outside the configured source addresses', async () => {
    const { gw, app: a } = await setup({ authmonSources: ['198.51.100.0/24'] });
    await arriveAndGrant(gw, 5);
    const refused = await poll(a, { auth_get: 'view', gatewayhash: gatewayHash, payload: b64('none') });
    expect(refused.statusCode).toBe(403);
    const allowed = await a.inject({
      method: 'POST',
      url: '/gw/mall-a/',
      remoteAddress: '198.51.100.20',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ auth_get: 'view', gatewayhash: gatewayHash, payload: b64('none') }).toString(),
    });
    expect(allowed.statusCode).toBe(200);
    expect(allowed.body).toMatch(/^\* [0-9a-f]{64}/);
  });
});
