import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebhookCodeSender } from '../../portal/otp/senders.ts';
import { arrive, buildTestPortal, field, location, post, type TestPortal, tokenOf } from './support.ts';

// The HTTP webhook sender against a local stand-in for an SMS provider bridge that checks the documented
// signature: x-plaza-signature = sha256=<hex HMAC-SHA256(secret, "<x-plaza-timestamp>.<body>")>.
const webhookSecret = 'sms-bridge-secret-0123456789';

interface Delivery {
  headers: IncomingMessage['headers'];
  raw: string;
  body: Record<string, unknown>;
  signatureValid: boolean;
}

type Mode = 'ok' | 'fail' | 'hang';

let provider: Server;
let providerUrl: string;
let mode: Mode;
let deliveries: Delivery[];
let portal: TestPortal;

function verify(headers: IncomingMessage['headers'], raw: string): boolean {
  const timestamp = headers['x-plaza-timestamp'];
  const signature = headers['x-plaza-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string' || !/^\d+$/.test(timestamp)) return false;
  // A bridge refuses old or future-dated requests: this one allows a minute either way.
  if (Math.abs(Number(timestamp) - Date.now() / 1000) > 60) return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', webhookSecret).update(`${timestamp}.${raw}`).digest('hex')}`);
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function handle(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const signatureValid = verify(request.headers, raw);
    deliveries.push({ headers: request.headers, raw, body: JSON.parse(raw) as Record<string, unknown>, signatureValid });
    if (mode === 'hang') return; // never answers: the sender's timeout must end the wait
    if (!signatureValid) {
      response.writeHead(401).end('bad signature');
      return;
    }
    if (mode === 'fail') {
      response.writeHead(500, { 'content-type': 'application/json' }).end('{"error":"provider down"}');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"queued"}');
  });
}

beforeEach(async () => {
  mode = 'ok';
  deliveries = [];
  provider = createServer(handle);
  await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
  providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/sms/send`;
  portal = await buildTestPortal({ sender: new WebhookCodeSender({ url: providerUrl, secret: webhookSecret, timeoutMs: 300 }) });
});

afterEach(async () => {
  await portal.close();
  provider.closeAllConnections();
  await new Promise<void>((resolve) => provider.close(() => resolve()));
});

async function signupForm(): Promise<{ t: string; csrf: string }> {
  const page = await portal.app.inject({ method: 'GET', url: `/signup?t=${tokenOf(await arrive(portal))}&lang=en` });
  expect(page.statusCode).toBe(200);
  return { t: field(page.body, 't'), csrf: field(page.body, 'csrf') };
}

function expectNoSecretsLogged(code: string | undefined): void {
  const logText = portal.logs.join('');
  // The portal's pino output is captured (request lines at least), so an absent value is really absent.
  expect(logText).toContain('"msg":"request"');
  if (code !== undefined) expect(logText).not.toContain(code);
  expect(logText).not.toContain('13800138000');
  expect(logText).not.toContain(webhookSecret);
}

describe('HTTP webhook code sender', () => {
  it('posts the documented, signed JSON body; the code the provider got logs the shopper in', async () => {
    const form = await signupForm();
    const sent = await post(portal, '/signup', { ...form, lang: 'en', identifier: '138 0013 8000' });
    expect(sent.statusCode).toBe(303);
    expect(deliveries).toHaveLength(1);
    const delivery = deliveries[0];
    expect(delivery?.signatureValid).toBe(true);
    expect(delivery?.headers['content-type']).toBe('application/json');
    expect(Object.keys(delivery?.body ?? {}).sort()).toEqual(['code', 'language', 'mall', 'purpose', 'text', 'to']);
    expect(delivery?.body).toMatchObject({ to: '+8613800138000', language: 'en', purpose: 'signup', mall: 'mall-1' });
    const code = String(delivery?.body.code);
    expect(code).toMatch(/^\d{6}$/);
    expect(String(delivery?.body.text)).toContain(code);

    const verifyPage = await portal.app.inject({ method: 'GET', url: location(sent) });
    const done = await post(portal, '/signup/verify', { t: field(verifyPage.body, 't'), csrf: field(verifyPage.body, 'csrf'), lang: 'en', code, terms: 'yes' });
    expect(done.statusCode).toBe(303);
    expect(location(done)).toMatch(/^\/done\?/);
    expect(portal.logs.some((line) => line.includes('"otp-issued"'))).toBe(true);
    expectNoSecretsLogged(code);
  });

  it('a tampered signature is refused by the stand-in (the check can fail)', () => {
    const raw = '{"to":"+8613800138000","code":"123456"}';
    const timestamp = String(Math.floor(Date.now() / 1000));
    const good = `sha256=${createHmac('sha256', webhookSecret).update(`${timestamp}.${raw}`).digest('hex')}`;
    expect(verify({ 'x-plaza-timestamp': timestamp, 'x-plaza-signature': good }, raw)).toBe(true);
    expect(verify({ 'x-plaza-timestamp': timestamp, 'x-plaza-signature': good }, raw.replace('123456', '123457'))).toBe(false);
    expect(verify({ 'x-plaza-timestamp': String(Number(timestamp) - 3600), 'x-plaza-signature': good }, raw)).toBe(false);
  });

  for (const failure of ['fail', 'hang'] as const) {
    it(`a provider that ${failure === 'fail' ? 'answers 500' : 'does not answer in time'} gets the shopper the "try again" page and no usable code`, async () => {
      mode = failure;
      const form = await signupForm();
      const startedMs = Date.now();
      const refused = await post(portal, '/signup', { ...form, lang: 'en', identifier: '13800138000' });
      if (failure === 'hang') expect(Date.now() - startedMs).toBeLessThan(5000);
      expect(refused.statusCode).toBe(503);
      expect(refused.body).toContain('We could not send a code just now. Please try again in a moment.');
      expect(deliveries).toHaveLength(1);
      expect(deliveries[0]?.signatureValid).toBe(true);
      const leaked = String(deliveries[0]?.body.code);
      // The page offers the request form again; its token holds no challenge, so the code that reached the
      // provider cannot be used, not even with the form of the failed attempt.
      expect(refused.body).toContain('name="identifier"');
      expect(portal.ctx.tokens.open(field(refused.body, 't'))?.challenge).toBeUndefined();
      const misuse = await post(portal, '/signup/verify', { t: field(refused.body, 't'), csrf: field(refused.body, 'csrf'), lang: 'en', code: leaked, terms: 'yes' });
      expect(misuse.statusCode).not.toBe(303);
      expect(portal.published).toHaveLength(0);
      const failed = portal.logs.filter((line) => line.includes('"otp-send-failed"'));
      expect(failed).toHaveLength(1);
      expect(failed[0]).toContain(failure === 'fail' ? 'HTTP 500' : 'TimeoutError');
      expectNoSecretsLogged(leaked);

      // Trying again at once works once the provider is back: the failed send set no resend cool-down.
      mode = 'ok';
      const retry = await post(portal, '/signup', { t: field(refused.body, 't'), csrf: field(refused.body, 'csrf'), lang: 'en', identifier: '13800138000' });
      expect(retry.statusCode).toBe(303);
      expect(deliveries).toHaveLength(2);
    });
  }
});
