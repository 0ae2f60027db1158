import { createCipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createGateway } from '../../../portal/gateways/index.ts';
import { gatewaySettingsSchema } from '../../../portal/gateways/settings.ts';
import { GatewayError } from '../../../portal/gateways/types.ts';
import { testDeps } from './helpers.ts';

// Protocol vectors built here, independently of the adapter, the way openNDS builds them: the FAS query is
// PHP's openssl_encrypt(plain, 'aes-256-cbc', faskey, 0, iv) — key NUL-padded/cut to 32 bytes, PKCS#7 padding,
// base64 output — and openNDS base64-encodes that once more.
function phpOpensslEncrypt(plain: string, key: string, iv: string): string {
  const keyBytes = Buffer.alloc(32);
  Buffer.from(key, 'utf8').copy(keyBytes, 0, 0, 32);
  const cipher = createCipheriv('aes-256-cbc', keyBytes, Buffer.from(iv, 'latin1'));
  return Buffer.concat([cipher.update(plain, 'latin1'), cipher.final()]).toString('base64');
}
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

const token = '6f1e2d3c';
const hid = sha256(token);
const faskey = 'c775e7b757ede630cd0aa1113bd102661ab38829ca52a6422ab782862f268646';
const iv = sha256('random').slice(0, 16);
const gatewayNameRaw = 'Plaza%20North%20Gate';

function plainText(overrides: Record<string, string> = {}): string {
  const fields: Record<string, string> = {
    hid,
    clientip: '192.168.8.23',
    clientmac: '04:15:52:6A:E4:AD',
    client_type: 'cpd_can',
    cpi_query: 'none',
    gatewayname: gatewayNameRaw,
    gatewayurl: 'http%3A%2F%2F192.168.8.1%2F',
    version: '10.2.0',
    gatewayaddress: '192.168.8.1:2050',
    gatewaymac: '0A1B2C3D4E5F',
    authdir: 'opennds_auth',
    originurl: 'http%3A%2F%2Fexample.com%2Fnews%3Fa%3D1',
    clientif: 'br-lan 00:11:22:33:44:55 mesh0',
    themespec: 'none',
    ...overrides,
  };
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

function level3Query(plain = plainText(), key = faskey): Record<string, string> {
  return { fas: Buffer.from(phpOpensslEncrypt(plain, key, iv), 'latin1').toString('base64'), iv };
}

function adapter(extra: Record<string, unknown> = {}, deps = testDeps()) {
  const settings = gatewaySettingsSchema.parse({ kind: 'opennds', faskey, ...extra });
  return { gw: createGateway(settings, deps), deps };
}

async function invalid(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  expect((error as GatewayError).kind).toBe('invalid');
  return (error as GatewayError).message;
}

describe('openNDS level 3 (encrypted, https)', () => {
  it('decrypts the query as openNDS produces it and trusts the MAC', async () => {
    const { gw } = adapter();
    const arrival = await gw.parseArrival(level3Query(), { ip: '203.0.113.9' });
    expect(arrival).toMatchObject({
      gateway: 'opennds',
      mall: 'mall-a',
      clientMac: '04:15:52:6a:e4:ad',
      macTrusted: true,
      clientIp: '192.168.8.23',
      apId: '0a:1b:2c:3d:4e:5f',
      originalUrl: 'http://example.com/news?a=1',
    });
    expect(arrival.grantState).toMatchObject({ hid, gatewayAddress: '192.168.8.1:2050', authDir: 'opennds_auth', gatewayHash: sha256(gatewayNameRaw), clientIf: 'br-lan 00:11:22:33:44:55 mesh0' });
  });

  it('pads a short faskey with NUL bytes like PHP', async () => {
    const short = 'abc123XYZ';
    const { gw } = adapter({ faskey: short });
    const arrival = await gw.parseArrival(level3Query(plainText(), short), { ip: '1.1.1.1' });
    expect(arrival.clientMac).toBe('04:15:52:6a:e4:ad');
  });

  it('rejects a query encrypted under another key', async () => {
    const { gw } = adapter();
    expect(await invalid(gw.parseArrival(level3Query(plainText(), 'someOtherKey123'), { ip: '1.1.1.1' }))).toMatch(/decrypt|tampered/);
  });

  it('rejects a tampered ciphertext (flipped byte in a middle block)', async () => {
    const { gw } = adapter();
    const inner = Buffer.from(phpOpensslEncrypt(plainText(), faskey, iv), 'base64');
    inner[40] = (inner[40] ?? 0) ^ 0x5a;
    const fas = Buffer.from(inner.toString('base64'), 'latin1').toString('base64');
    expect(await invalid(gw.parseArrival({ fas, iv }, { ip: '1.1.1.1' }))).toMatch(/tampered|lacks|malformed|not/);
  });

  it('rejects an edited iv and a missing iv', async () => {
    const { gw } = adapter();
    const q = level3Query();
    const edited = `${(parseInt(q.iv?.[0] ?? '0', 16) ^ 0x1).toString(16)}${q.iv?.slice(1) ?? ''}`;
    await invalid(gw.parseArrival({ ...q, iv: edited }, { ip: '1.1.1.1' }));
    await invalid(gw.parseArrival({ ...q, iv: 'not-hex-at-all!!' }, { ip: '1.1.1.1' }));
    expect(await invalid(gw.parseArrival({ fas: q.fas }, { ip: '1.1.1.1' }))).toMatch(/iv/);
  });

  it('refuses a level-1 (plain base64) query: a downgrade to forge the MAC', async () => {
    const { gw } = adapter();
    const forged = Buffer.from(plainText({ clientmac: 'aa:aa:aa:aa:aa:aa' })).toString('base64');
    await invalid(gw.parseArrival({ fas: forged }, { ip: '1.1.1.1' }));
    await invalid(gw.parseArrival({ fas: forged, iv }, { ip: '1.1.1.1' }));
  });

  it('rejects payloads with a repeated field, a bad hid or a bad MAC', async () => {
    const { gw } = adapter();
    await invalid(gw.parseArrival(level3Query(`${plainText()}, clientmac=aa:aa:aa:aa:aa:aa`), { ip: '1.1.1.1' }));
    await invalid(gw.parseArrival(level3Query(plainText({ hid: 'xyz' })), { ip: '1.1.1.1' }));
    await invalid(gw.parseArrival(level3Query(plainText({ clientmac: 'nope' })), { ip: '1.1.1.1' }));
  });

  it('never sends the shopper to a gateway address outside the LAN unless configured', async () => {
    const { gw } = adapter();
    expect(await invalid(gw.parseArrival(level3Query(plainText({ gatewayaddress: 'evil.example:80' })), { ip: '1.1.1.1' }))).toMatch(/gatewayaddress/);
    await invalid(gw.parseArrival(level3Query(plainText({ gatewayaddress: '8.8.8.8:2050' })), { ip: '1.1.1.1' }));
    const allowed = adapter({ gatewayAddresses: ['8.8.8.8:2050'] }).gw;
    expect((await allowed.parseArrival(level3Query(plainText({ gatewayaddress: '8.8.8.8:2050' })), { ip: '1.1.1.1' })).grantState.gatewayAddress).toBe('8.8.8.8:2050');
  });

  it('accepts only configured gateway names when a list is set', async () => {
    const { gw } = adapter({ gatewayNames: ['Other Gate'] });
    expect(await invalid(gw.parseArrival(level3Query(), { ip: '1.1.1.1' }))).toMatch(/gateway name/);
    const ok = adapter({ gatewayNames: ['Plaza North Gate'] }).gw;
    await expect(ok.parseArrival(level3Query(), { ip: '1.1.1.1' })).resolves.toMatchObject({ macTrusted: true });
  });

  it('drops an origin URL that is not http(s)', async () => {
    const { gw } = adapter();
    const arrival = await gw.parseArrival(level3Query(plainText({ originurl: 'javascript%3Aalert(1)' })), { ip: '1.1.1.1' });
    expect(arrival.originalUrl).toBeUndefined();
  });

  it('grants by queueing for authmon (pending)', async () => {
    const { gw } = adapter();
    const arrival = await gw.parseArrival(level3Query(), { ip: '1.1.1.1' });
    const result = await gw.grant(arrival, { sessionS: 3600, continueUrl: 'https://plaza.example/welcome' });
    expect(result).toEqual({ kind: 'pending', pollAfterMs: 2000, continueUrl: 'https://plaza.example/welcome' });
    expect(await gw.grantStatus?.(arrival)).toBe('pending');
  });

  it('never logs the MAC, hid or faskey', async () => {
    const deps = testDeps();
    const { gw } = adapter({}, deps);
    const arrival = await gw.parseArrival(level3Query(), { ip: '1.1.1.1' });
    await gw.grant(arrival, { sessionS: 60 });
    const logs = deps.logText();
    expect(logs).toContain('grant-queued');
    for (const secret of ['04:15:52', '041552', hid, faskey.slice(0, 16)]) expect(logs).not.toContain(secret);
  });
});

describe('openNDS levels 1 and 2 (grant through the browser)', () => {
  const rhid = sha256(hid + faskey);

  it('level 1: base64 query, untrusted MAC, grant via authdir with rhid', async () => {
    const { gw } = adapter({ fasLevel: 1 });
    const arrival = await gw.parseArrival({ fas: Buffer.from(plainText()).toString('base64'), username: 'ignored' }, { ip: '1.1.1.1' });
    expect(arrival).toMatchObject({ clientMac: '04:15:52:6a:e4:ad', macTrusted: false });
    const result = await gw.grant(arrival, { sessionS: 600, continueUrl: 'https://plaza.example/ok' });
    expect(result.kind).toBe('redirect');
    const url = new URL(result.kind === 'redirect' ? result.url : '');
    expect(url.origin).toBe('http://192.168.8.1:2050');
    expect(url.pathname).toBe('/opennds_auth/');
    expect(url.searchParams.get('tok')).toBe(rhid);
    expect(url.searchParams.get('redir')).toBe('https://plaza.example/ok');
    expect(await gw.grantStatus?.(arrival)).toBe('granted');
  });

  it('level 2: encrypted but sent over http, so the MAC stays untrusted', async () => {
    const { gw } = adapter({ fasLevel: 2 });
    const arrival = await gw.parseArrival(level3Query(plainText({ authdir: 'custom_auth' })), { ip: '1.1.1.1' });
    expect(arrival.macTrusted).toBe(false);
    const result = await gw.grant(arrival, { sessionS: 600 });
    expect(result).toEqual({ kind: 'redirect', url: `http://192.168.8.1:2050/custom_auth/?tok=${rhid}&redir=${encodeURIComponent('http://example.com/news?a=1')}` });
  });

  it('level 1: restores + that arrived as a space in an unencoded query', async () => {
    // Base64 of printable text has '+' only where a '~' or '>' sits at the third byte of a group: find one.
    let fas: string | undefined;
    for (let i = 0; i < 3 && fas === undefined; i += 1) {
      const candidate = Buffer.from(plainText({ cpi_query: 'x'.repeat(i), themespec: '~~~' })).toString('base64');
      if (candidate.includes('+')) fas = candidate;
    }
    expect(fas).toBeDefined();
    const { gw } = adapter({ fasLevel: 1 });
    const arrival = await gw.parseArrival({ fas: fas?.replace(/\+/g, ' ') }, { ip: '1.1.1.1' });
    expect(arrival.clientMac).toBe('04:15:52:6a:e4:ad');
  });

  it('level 1 rejects garbage base64', async () => {
    const { gw } = adapter({ fasLevel: 1 });
    await invalid(gw.parseArrival({ fas: '%%%not base64%%%' }, { ip: '1.1.1.1' }));
    await invalid(gw.parseArrival({ fas: Buffer.from([0xff, 0x00, 0x10, 0x80]).toString('base64') }, { ip: '1.1.1.1' }));
  });
});
