import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { securityHeaders } from '../../portal/app.ts';
import { arrive, buildTestPortal, clientMac, field, location, post, type TestPortal, tokenOf } from './support.ts';

let portal: TestPortal;
beforeEach(async () => {
  portal = await buildTestPortal();
});
afterEach(async () => {
  await portal.close();
});

const xss = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
const get = (url: string, headers: Record<string, string> = {}) => portal.app.inject({ method: 'GET', url, headers });

function expectInert(body: string): void {
  expect(body).not.toMatch(/<script/i);
  expect(body).not.toMatch(/<img src=x/i);
  expect(body).not.toMatch(/javascript:/i);
}

describe('escaping of every reflected field', () => {
  it('escapes the identifier and name fields, Accept-Language, lang and the mall parameter', async () => {
    const start = await arrive(portal, { mac: clientMac, ap: 'ap-1', url: `http://example.com/${encodeURIComponent(xss)}` }, { 'accept-language': xss });
    const page = await get(`/signup?t=${tokenOf(start)}&lang=${encodeURIComponent(xss)}`, { 'accept-language': `${xss};q=1` });
    expect(page.statusCode).toBe(200);
    expectInert(page.body);
    const refused = await post(portal, '/signup', { t: field(page.body, 't'), csrf: field(page.body, 'csrf'), lang: xss, identifier: xss, name: xss });
    expect(refused.statusCode).toBe(400);
    expectInert(refused.body);
    expect(refused.body).toContain('&quot;&gt;&lt;script&gt;');
    const member = await post(portal, '/member', { t: field(page.body, 't'), csrf: field(page.body, 'csrf'), lang: 'en', identifier: xss });
    expectInert(member.body);
    for (const url of [`/privacy?m=${encodeURIComponent(xss)}&lang=${encodeURIComponent(xss)}`, `/terms?m=${encodeURIComponent(xss)}`, `/m/${encodeURIComponent(xss)}/`, `/${encodeURIComponent(xss)}`, `/done?t=${encodeURIComponent(xss)}`]) {
      const response = await get(url, { 'accept-language': xss });
      expectInert(response.body);
    }
  });

  it('escapes a hostile (but http) continue URL on the success page', async () => {
    const start = await arrive(portal, { url: 'http://example.com/"><script>alert(1)</script>' });
    const guest = await get(`/guest?t=${tokenOf(start)}&lang=en`);
    const done = await post(portal, '/guest', { t: field(guest.body, 't'), csrf: field(guest.body, 'csrf'), lang: 'en', terms: 'yes' });
    const page = await get(location(done));
    expectInert(page.body);
    expect(page.body).toContain('href="http://example.com/%22%3E%3Cscript%3Ealert(1)%3C/script%3E"');
  });
});

describe('no open redirects', () => {
  for (const url of ['javascript:alert(1)', '//evil.example/', 'data:text/html,hi', 'http://user:pw@evil.example/', 'ftp://evil.example/']) {
    it(`drops continue URL ${JSON.stringify(url)}`, async () => {
      const start = await arrive(portal, { url });
      const guest = await get(`/guest?t=${tokenOf(start)}&lang=en`);
      const done = await post(portal, '/guest', { t: field(guest.body, 't'), csrf: field(guest.body, 'csrf'), lang: 'en', terms: 'yes' });
      expect(location(done).startsWith('/done?')).toBe(true);
      const page = await get(location(done));
      expect(page.body).not.toContain('evil.example');
      expect(page.body).not.toContain('Continue to');
    });
  }
});

describe('forms, tokens and headers', () => {
  async function guestForm() {
    const start = await arrive(portal);
    const guest = await get(`/guest?t=${tokenOf(start)}&lang=en`);
    return { t: field(guest.body, 't'), csrf: field(guest.body, 'csrf'), lang: 'en', terms: 'yes' };
  }

  it('refuses a wrong CSRF value, a cross-site post, a foreign Origin and a tampered token', async () => {
    const form = await guestForm();
    expect((await post(portal, '/guest', { ...form, csrf: 'x'.repeat(43) })).statusCode).toBe(400);
    expect((await post(portal, '/guest', form, { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(400);
    expect((await post(portal, '/guest', form, { origin: 'http://evil.example' })).statusCode).toBe(400);
    const tampered = form.t.slice(0, 20) + (form.t[20] === 'A' ? 'B' : 'A') + form.t.slice(21);
    expect((await post(portal, '/guest', { ...form, t: tampered })).statusCode).toBe(400);
    // The CSRF value of one flow does not fit another flow's token.
    const other = await guestForm();
    expect((await post(portal, '/guest', { ...form, csrf: other.csrf })).statusCode).toBe(400);
    expect(portal.published).toHaveLength(0);
    // Same-origin with Origin: null (Referrer-Policy no-referrer) is a normal browser post.
    expect((await post(portal, '/guest', form, { origin: 'null', 'sec-fetch-site': 'same-origin' })).statusCode).toBe(303);
  });

  it('expires flow tokens', async () => {
    const form = await guestForm();
    portal.clock.advance(30 * 60 * 1000 + 1);
    const late = await post(portal, '/guest', form);
    expect(late.statusCode).toBe(400);
    expect(late.body).toContain('This page has expired');
  });

  it('refuses unexpected fields, repeated parameters, oversized bodies and JSON bodies', async () => {
    const form = await guestForm();
    expect((await post(portal, '/guest', { ...form, admin: '1' })).statusCode).toBe(400);
    const repeated = await portal.app.inject({ method: 'POST', url: '/guest', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `${new URLSearchParams(form).toString()}&terms=yes` });
    expect(repeated.statusCode).toBe(400);
    const big = await post(portal, '/guest', { ...form, terms: 'x'.repeat(20_000) });
    expect(big.statusCode).toBe(413);
    const json = await portal.app.inject({ method: 'POST', url: '/guest', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(form) });
    expect(json.statusCode).toBe(415);
    expect((await get(`/m/mall-1/?mac=${clientMac}&mac=aa:bb:cc:dd:ee:02`)).statusCode).toBe(400);
  });

  it('sends security headers on every page', async () => {
    for (const url of ['/privacy', '/nowhere', '/start?t=bad', '/assets/mall-1/style.css']) {
      const response = await get(url);
      for (const [name, value] of Object.entries(securityHeaders)) expect(response.headers[name]).toBe(value);
    }
    expect(securityHeaders['content-security-policy']).not.toContain('unsafe-inline');
  });

  it('never logs tokens, phones, codes or MACs', async () => {
    const start = await arrive(portal);
    const page = await get(`/signup?t=${tokenOf(start)}&lang=en`);
    await post(portal, '/signup', { t: field(page.body, 't'), csrf: field(page.body, 'csrf'), lang: 'en', identifier: '13800138000' });
    const code = portal.sender.latestCodeFor('+8613800138000') ?? 'none';
    const logs = portal.logs.join('\n');
    expect(logs).toContain('one-time code issued');
    for (const secret of [clientMac, '13800138000', code, tokenOf(start).slice(0, 40), field(page.body, 'csrf')]) expect(logs).not.toContain(secret);
  });
});

describe('pages', () => {
  it('stay well under 50 KB', async () => {
    const start = await arrive(portal);
    const t = tokenOf(start);
    for (const url of [start, `/guest?t=${t}`, `/member?t=${t}`, `/signup?t=${t}`, '/privacy?lang=zh-CN', '/privacy?lang=en', '/terms', '/my-data', '/assets/mall-1/style.css', '/nowhere']) {
      const response = await get(url);
      expect(response.statusCode, url).toBeLessThan(500);
      expect(Buffer.byteLength(response.body), url).toBeLessThan(50 * 1024);
    }
  });

  it('choose the language from Accept-Language, with a visible switch that keeps the flow', async () => {
    const start = await arrive(portal, undefined, { 'accept-language': 'zh-TW,zh;q=0.9,en;q=0.5' });
    expect(start).toContain('lang=zh-CN');
    const zh = await get(start);
    expect(zh.body).toContain('<html lang="zh-CN">');
    expect(zh.body).toContain('以访客身份上网');
    const switchHref = /<a href="([^"]+)" hreflang="en"/.exec(zh.body)?.[1]?.replace(/&amp;/g, '&') ?? '';
    expect(portal.ctx.tokens.open(tokenOf(switchHref))?.nonce).toBe(portal.ctx.tokens.open(tokenOf(start))?.nonce);
    const en = await get(switchHref, { 'accept-language': 'zh-CN' });
    expect(en.body).toContain('<html lang="en">');
    expect(en.body).toContain('Go online as a guest');
    const english = await arrive(portal, undefined, { 'accept-language': 'fr;q=1, en-GB;q=0.8' });
    expect(english).toContain('lang=en');
    const fallback = await arrive(portal, undefined, { 'accept-language': 'fr' });
    expect(fallback).toContain('lang=zh-CN');
  });

  it('serve the RFC 8908 captive-portal API', async () => {
    const before = await get('/m/mall-1/api/captive', { host: 'portal.example' });
    expect(before.headers['content-type']).toBe('application/captive+json');
    expect(JSON.parse(before.body)).toEqual({ captive: true, 'user-portal-url': 'http://portal.example/m/mall-1/' });
    const start = await arrive(portal);
    const guest = await get(`/guest?t=${tokenOf(start)}&lang=en`);
    await post(portal, '/guest', { t: field(guest.body, 't'), csrf: field(guest.body, 'csrf'), lang: 'en', terms: 'yes' });
    portal.clock.advance(60_000);
    const after = JSON.parse((await get('/m/mall-1/api/captive')).body) as Record<string, unknown>;
    expect(after.captive).toBe(false);
    expect(after['seconds-remaining']).toBe(4 * 3600 - 60);
    expect((await get('/m/nope/api/captive')).statusCode).toBe(404);
  });
});
