import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { portalLoginEventSchema, portalMemberEventSchema } from '../../protocol/payloads/portal-login.ts';
import { arrive, buildTestPortal, clientMac, field, location, post, type TestPortal, tokenOf } from './support.ts';

let portal: TestPortal;
beforeEach(async () => {
  portal = await buildTestPortal();
});
afterEach(async () => {
  await portal.close();
});

async function get(url: string, headers: Record<string, string> = {}) {
  return portal.app.inject({ method: 'GET', url, headers });
}

/** Runs a code flow up to the verify page; returns that page's token and CSRF value. */
async function requestCode(start: string, base: '/member' | '/signup', identifier: string, extra: Record<string, string> = {}) {
  const page = await get(`${base}?t=${tokenOf(start)}&lang=en`);
  expect(page.statusCode).toBe(200);
  const sent = await post(portal, base, { t: field(page.body, 't'), csrf: field(page.body, 'csrf'), lang: 'en', identifier, ...extra });
  expect(sent.statusCode).toBe(303);
  const verify = await get(location(sent));
  expect(verify.statusCode).toBe(200);
  return { t: field(verify.body, 't'), csrf: field(verify.body, 'csrf'), body: verify.body };
}

async function signUp(phone: string, analytics: boolean) {
  const start = await arrive(portal);
  const form = await requestCode(start, '/signup', phone, { name: 'Li Lei' });
  const code = portal.sender.latestCodeFor(`+86${phone}`);
  expect(code).toMatch(/^\d{6}$/);
  const done = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code: code ?? '', terms: 'yes', ...(analytics ? { analytics: 'yes' } : {}) });
  expect(done.statusCode).toBe(303);
  return done;
}

describe('guest flow', () => {
  it('sends a visitor of the bare portal address to the mall page', async () => {
    const response = await portal.app.inject({ url: '/' });
    expect(response.statusCode).toBe(302);
    expect(response.headers.location).toMatch(/^\/m\/[a-z0-9-]+\/$/);
    expect((await portal.app.inject({ url: response.headers.location as string })).statusCode).toBe(303);
  });

  it('needs the terms, then grants, publishes a pseudonymous login event and shows the success page', async () => {
    const start = await arrive(portal);
    const startPage = await get(start);
    expect(startPage.statusCode).toBe(200);
    expect(startPage.body).toContain('Plaza One');
    const guest = await get(`/guest?t=${tokenOf(start)}&lang=en`);
    const form = { t: field(guest.body, 't'), csrf: field(guest.body, 'csrf'), lang: 'en' };
    const refused = await post(portal, '/guest', form);
    expect(refused.statusCode).toBe(400);
    expect(refused.body).toContain('Please accept the terms of use');
    expect(portal.published).toHaveLength(0);

    const granted = await post(portal, '/guest', { ...form, terms: 'yes' });
    expect(granted.statusCode).toBe(303);
    const done = await get(location(granted));
    expect(done.statusCode).toBe(200);
    expect(done.body).toContain('You are online');
    expect(done.body).toContain('href="http://example.com/"');

    expect(portal.published).toHaveLength(1);
    const { topic, payload } = portal.published[0] ?? { topic: '', payload: null };
    expect(topic).toBe('plaza/v1/mall-1/_portal/main/login');
    const event = portalLoginEventSchema.parse(payload);
    expect(event).toMatchObject({ mall: 'mall-1', store: 'store-1', ap: 'ap-1', method: 'guest', member: false, gateway: 'plain' });
    expect(event.device).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(event.link).toBeUndefined();
    expect(JSON.stringify(payload)).not.toContain(clientMac);
    // The success link travels through gateways: its token must not carry the MAC even encrypted.
    expect(portal.ctx.tokens.open(tokenOf(location(granted)))?.arrival?.clientMac).toBeUndefined();
  });
});

describe('sign-up and member login', () => {
  it('signs up with phone + code, records consents with version and language, and links only with analytics consent', async () => {
    const done = await signUp('13800138000', true);
    const page = await get(location(done));
    expect(page.body).toMatch(/Your member number is \d{9}/);
    const member = portal.ctx.members.byPhone('+8613800138000');
    expect(member?.name).toBe('Li Lei');
    const history = portal.ctx.members.history(member?.memberId ?? '');
    expect(history.map((r) => [r.type, r.action, r.textVersion, r.language])).toEqual([
      ['terms', 'granted', '2026-01', 'en'],
      ['analytics', 'granted', '2026-01', 'en'],
    ]);
    const event = portalLoginEventSchema.parse(portal.published[0]?.payload);
    expect(event.method).toBe('signup');
    expect(event.consents).toEqual({ termsVersion: '2026-01', analytics: true, marketing: false });
    expect(event.link?.linkHash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(event)).not.toContain(member?.memberId ?? 'x');
    // Phone and name are encrypted at rest; the MAC and the code never reach the database.
    portal.db.pragma('wal_checkpoint(TRUNCATE)');
    const file = readFileSync(path.join(portal.dataDir, 'portal.sqlite')).toString('latin1');
    expect(file).not.toContain('13800138000');
    expect(file).not.toContain('Li Lei');
    expect(file).not.toContain(clientMac);
  });

  it('without analytics consent there is no link, and the login by member number works', async () => {
    await signUp('13800138001', false);
    expect(portalLoginEventSchema.parse(portal.published[0]?.payload).link).toBeUndefined();
    const memberId = portal.ctx.members.byPhone('+8613800138001')?.memberId ?? '';
    const start = await arrive(portal);
    const form = await requestCode(start, '/member', memberId);
    expect(form.body).toContain('If this number belongs to a member');
    const code = portal.sender.latestCodeFor('+8613800138001') ?? '';
    const done = await post(portal, '/member/verify', { t: form.t, csrf: form.csrf, lang: 'en', code, terms: 'yes', marketing: 'yes' });
    expect(done.statusCode).toBe(303);
    const event = portalLoginEventSchema.parse(portal.published[1]?.payload);
    expect(event).toMatchObject({ method: 'member', member: true, consents: { analytics: false, marketing: true } });
    expect(event.link).toBeUndefined();
  });

  it('never links an untrusted MAC, even with analytics consent', async () => {
    await portal.close();
    portal = await buildTestPortal({ trustClaimedMac: false });
    await signUp('13800138002', true);
    const event = portalLoginEventSchema.parse(portal.published[0]?.payload);
    expect(event.consents.analytics).toBe(true);
    expect(event.macTrusted).toBe(false);
    expect(event.link).toBeUndefined();
  });

  it('answers the same for an unknown member and sends nothing', async () => {
    await signUp('13800138003', false);
    const knownId = portal.ctx.members.byPhone('+8613800138003')?.memberId ?? '';
    const sentBefore = portal.sender.outbox.length;
    const unknownId = knownId === '123456789' ? '987654321' : '123456789';
    const strip = (body: string) => body.replace(/value="[^"]*"/g, '').replace(/t=[A-Za-z0-9_-]+/g, '');
    const known = await requestCode(await arrive(portal), '/member', knownId);
    const unknown = await requestCode(await arrive(portal), '/member', unknownId);
    const unknownPhone = await requestCode(await arrive(portal), '/member', '13900000000');
    expect(strip(unknown.body)).toBe(strip(known.body));
    expect(strip(unknownPhone.body)).toBe(strip(known.body));
    expect(portal.sender.outbox.length).toBe(sentBefore + 1);
    const attempt = await post(portal, '/member/verify', { t: unknown.t, csrf: unknown.csrf, lang: 'en', code: '000000', terms: 'yes' });
    expect(attempt.statusCode).toBe(400);
    expect(attempt.body).toContain('Tries left: 4');
  });
});

describe('one-time codes', () => {
  it('locks a code after 5 wrong tries; the right code then fails too', async () => {
    const form = await requestCode(await arrive(portal), '/signup', '13800138010');
    const code = portal.sender.latestCodeFor('+8613800138010') ?? '';
    const wrong = code === '000000' ? '111111' : '000000';
    for (let left = 4; left >= 1; left -= 1) {
      const response = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code: wrong, terms: 'yes' });
      expect(response.body).toContain(`Tries left: ${left}`);
    }
    const fifth = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code: wrong, terms: 'yes' });
    expect(fifth.body).toContain('expired or was used up');
    const right = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code, terms: 'yes' });
    expect(right.statusCode).toBe(400);
    expect(portal.published).toHaveLength(0);
  });

  it('expires after 5 minutes', async () => {
    const form = await requestCode(await arrive(portal), '/signup', '13800138011');
    const code = portal.sender.latestCodeFor('+8613800138011') ?? '';
    portal.clock.advance(5 * 60 * 1000 + 1);
    const late = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code, terms: 'yes' });
    expect(late.statusCode).toBe(400);
    expect(late.body).toContain('expired');
  });

  it('checks the terms before spending the code', async () => {
    const form = await requestCode(await arrive(portal), '/signup', '13800138012');
    const code = portal.sender.latestCodeFor('+8613800138012') ?? '';
    const noTerms = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code });
    expect(noTerms.body).toContain('accept the terms');
    const ok = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code, terms: 'yes' });
    expect(ok.statusCode).toBe(303);
  });

  it('enforces the resend cool-down; a resent code replaces the old one', async () => {
    const form = await requestCode(await arrive(portal), '/signup', '13800138013');
    const first = portal.sender.latestCodeFor('+8613800138013') ?? '';
    const early = await post(portal, '/signup/resend', { t: form.t, csrf: form.csrf, lang: 'en' });
    expect(early.statusCode).toBe(429);
    expect(early.body).toContain('wait 60 seconds');
    portal.clock.advance(60_000);
    const resent = await post(portal, '/signup/resend', { t: form.t, csrf: form.csrf, lang: 'en' });
    expect(resent.statusCode).toBe(200);
    const second = portal.sender.latestCodeFor('+8613800138013') ?? '';
    expect(portal.sender.outbox).toHaveLength(2);
    if (first !== second) {
      const old = await post(portal, '/signup/verify', { t: form.t, csrf: form.csrf, lang: 'en', code: first, terms: 'yes' });
      expect(old.statusCode).toBe(400);
    }
    const ok = await post(portal, '/signup/verify', { t: field(resent.body, 't'), csrf: field(resent.body, 'csrf'), lang: 'en', code: second, terms: 'yes' });
    expect(ok.statusCode).toBe(303);
  });

  it('limits sends per phone, whatever the client', async () => {
    for (let i = 0; i < 5; i += 1) {
      await requestCode(await arrive(portal, { mac: `aa:bb:cc:dd:ee:${(16 + i).toString(16)}` }), '/signup', '13800138020');
    }
    const start = await arrive(portal, { mac: 'aa:bb:cc:dd:ee:99' });
    const page = await get(`/signup?t=${tokenOf(start)}&lang=en`);
    const refused = await post(portal, '/signup', { t: field(page.body, 't'), csrf: field(page.body, 'csrf'), lang: 'en', identifier: '13800138020' });
    expect(refused.statusCode).toBe(429);
    expect(refused.body).toContain('Too many attempts');
    expect(portal.sender.outbox).toHaveLength(5);
  });

  it('limits sends per (gateway, client MAC), not per IP', async () => {
    const start = await arrive(portal);
    for (let i = 0; i < 10; i += 1) await requestCode(start, '/signup', `1380013810${i}`);
    const page = await get(`/signup?t=${tokenOf(start)}&lang=en`);
    const form = { t: field(page.body, 't'), csrf: field(page.body, 'csrf'), lang: 'en' };
    expect((await post(portal, '/signup', { ...form, identifier: '13900139000' })).statusCode).toBe(429);
    // Another device behind the same NAT (same IP) is not affected.
    await requestCode(await arrive(portal, { mac: 'aa:bb:cc:dd:ee:77' }), '/signup', '13900139000');
    // An hour later the first device may ask again.
    portal.clock.advance(60 * 60 * 1000);
    await requestCode(await arrive(portal), '/signup', '13900139001');
  });
});

describe('my data: withdrawal and deletion', () => {
  async function openMyData(phone: string) {
    const entry = await get('/my-data?lang=en&m=mall-1');
    expect(entry.statusCode).toBe(200);
    const sent = await post(portal, '/my-data', { t: field(entry.body, 't'), csrf: field(entry.body, 'csrf'), lang: 'en', identifier: phone });
    expect(sent.statusCode).toBe(303);
    const verify = await get(location(sent));
    const code = portal.sender.latestCodeFor(`+86${phone}`) ?? '';
    const opened = await post(portal, '/my-data/verify', { t: field(verify.body, 't'), csrf: field(verify.body, 'csrf'), lang: 'en', code });
    expect(opened.statusCode).toBe(303);
    return get(location(opened));
  }

  it('withdraws analytics consent (recorded, unlink published) and deletes the member', async () => {
    await signUp('13800138030', true);
    const memberId = portal.ctx.members.byPhone('+8613800138030')?.memberId ?? '';
    const manage = await openMyData('13800138030');
    expect(manage.body).toContain('Link my visits to my membership: given');
    const form = { t: field(manage.body, 't'), csrf: field(manage.body, 'csrf'), lang: 'en' };
    const withdrawn = await post(portal, '/my-data/manage', { ...form, action: 'withdraw-analytics' });
    expect(withdrawn.statusCode).toBe(200);
    expect(withdrawn.body).toContain('Link my visits to my membership: not given');
    expect(portal.ctx.members.history(memberId).at(-1)).toMatchObject({ type: 'analytics', action: 'withdrawn', textVersion: '2026-01', language: 'en' });
    const unlink = portal.published.at(-1);
    expect(unlink?.topic).toBe('plaza/v1/mall-1/_portal/main/member');
    const login = portalLoginEventSchema.parse(portal.published[0]?.payload);
    expect(portalMemberEventSchema.parse(unlink?.payload)).toMatchObject({ kind: 'unlink', memberRef: login.link?.memberRef });

    const deleted = await post(portal, '/my-data/manage', { ...form, action: 'delete' });
    expect(deleted.body).toContain('have been deleted');
    expect(portal.ctx.members.byId(memberId)).toBeUndefined();
    expect(portal.ctx.members.history(memberId)).toEqual([]);
    expect(portalMemberEventSchema.parse(portal.published.at(-1)?.payload).kind).toBe('deleted');
    // The verified token is useless once the member is gone.
    expect((await post(portal, '/my-data/manage', { ...form, action: 'delete' })).statusCode).toBe(400);
  });

  it('sends no code to a phone without membership', async () => {
    const entry = await get('/my-data?lang=en');
    const sent = await post(portal, '/my-data', { t: field(entry.body, 't'), csrf: field(entry.body, 'csrf'), lang: 'en', identifier: '13700137000' });
    expect(sent.statusCode).toBe(303);
    expect(portal.sender.outbox).toHaveLength(0);
  });
});
