
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { CampaignRepository } from '../../dashboards/campaigns/repository.ts';
import { CampaignService } from '../../dashboards/campaigns/service.ts';
import type { SqliteStore } from '../../ingest/store/sqlite.ts';
import { sha256Hex } from '../../ops/auth.ts';
import { buildOpsApp } from '../../ops/server.ts';
import { tempDir } from '../support/tmp.ts';
import { dayMs, firstMondayMs, mall, storeWith, syntheticFootfall, timeZone } from './campaigns-fixture.ts';
import { launchChromium } from '../support/chromium.ts';

const adminToken = 'admin-token-for-campaign-page-0123';
const viewerToken = 'viewer-token-for-campaign-page-012';
const basic = (token: string) => ({ authorization: `Basic ${Buffer.from(`someone:${token}`).toString('base64')}` });
describe('campaigns page', () => {
  let store: SqliteStore;
  const repository = new CampaignRepository(tempDir('campaigns-page'));
  let app: ReturnType<typeof buildOpsApp>;
  let base: string;

  beforeAll(async () => {
    const startMs = firstMondayMs + 42 * dayMs + 10 * 3600 * 1000;
    store = await storeWith(syntheticFootfall({ days: 49, seed: 41, effects: [{ store: 'a', fromMs: startMs, toMs: firstMondayMs + 49 * dayMs, factor: 1.5 }] }));
    repository.open();
    app = buildOpsApp({
      host: '127.0.0.1',
      port: 0,
      token: adminToken,
      tokens: [{ name: 'screen', role: 'viewer', tokenSha256: sha256Hex(viewerToken) }],
      metrics: createMetricsRegistry(false),
      logger: createLogger('silent'),
      health: {},
      store,
      campaigns: new CampaignService({ repository, store, mallInfo: (m) => (m === mall ? { timeZone, stores: ['a', 'b', 'c', 'd'] } : undefined), logger: createLogger('silent'), now: () => firstMondayMs + 50 * dayMs }),
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app.close();
    repository.close();
    await store.close();
  });

  const csrfOf = (page: string): string => /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
  const form = (fields: Record<string, string>) => ({ 'content-type': 'application/x-www-form-urlencoded', payload: new URLSearchParams(fields).toString() });

  it('asks for Basic sign-in, and refuses wrong tokens', async () => {
    const anonymous = await app.inject({ url: '/campaigns' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Basic realm="PlazaPulse campaigns", charset="UTF-8"');
    expect((await app.inject({ url: '/campaigns', headers: basic('wrong-wrong-wrong-wrong') })).statusCode).toBe(401);
    const ok = await app.inject({ url: '/campaigns', headers: basic(viewerToken) });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-security-policy']).toContain("default-src 'none'");
    expect(ok.headers['x-frame-options']).toBe('DENY');
    expect(ok.headers['cache-control']).toBe('no-store');
    // Viewers get no forms.
    expect(ok.body).not.toContain('<form class="campaign"');
  });

  it('needs the CSRF token, the same origin and the marketer role to change anything; escapes what it shows', async () => {
    const page = (await app.inject({ url: '/campaigns', headers: basic(adminToken) })).body;
    const csrf = csrfOf(page);
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const fields = { name: '<script>alert(1)</script>', mall, stores: 'a', controlStores: 'c,d', start: '2026-02-16T10:00', end: '2026-02-23T00:00', notes: '"><img src=x onerror=alert(1)>' };
    const post = (headers: Record<string, string>, extra: Record<string, string>) => {
      const { payload, ...type } = form({ ...fields, ...extra });
      return app.inject({ method: 'POST', url: '/campaigns', headers: { ...headers, ...type }, payload });
    };
    expect((await post(basic(adminToken), {})).statusCode).toBe(403);
    expect((await post(basic(adminToken), { csrf: 'forged' })).statusCode).toBe(403);
    expect((await post({ ...basic(adminToken), origin: 'https://evil.example' }, { csrf })).statusCode).toBe(403);
    expect((await post({ ...basic(adminToken), 'sec-fetch-site': 'cross-site' }, { csrf })).statusCode).toBe(403);
    const viewerCsrf = csrfOf((await app.inject({ url: '/campaigns', headers: basic(viewerToken) })).body);
    expect((await post(basic(viewerToken), { csrf: viewerCsrf })).statusCode).toBe(403);
    // A token bound to another credential does not work either.
    expect((await post(basic(viewerToken), { csrf })).statusCode).toBe(403);
    expect(repository.list()).toEqual([]);

    const invalid = await post(basic(adminToken), { csrf, end: '2026-02-01T00:00' });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.body).toContain('end: must be after start');
    expect(invalid.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(invalid.body).not.toContain('<script>alert(1)');

    const created = await post(basic(adminToken), { csrf });
    expect(created.statusCode).toBe(303);
    const [campaign] = repository.list();
    expect(created.headers.location).toBe(`/campaigns/${campaign?.id}?done=created`);
    const list = (await app.inject({ url: '/campaigns', headers: basic(viewerToken) })).body;
    expect(list).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(list).not.toContain('<script>');
    const edit = (await app.inject({ url: `/campaigns/${campaign?.id}`, headers: basic(adminToken) })).body;
    expect(edit).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(edit).not.toContain('<img');
    expect(repository.delete(campaign?.id ?? '').name).toBe(fields.name);
  });

  it('works in Chromium without JavaScript: create, report, CSV, edit and delete', async () => {
    const context = await launchChromium({
      javaScriptEnabled: false,
      httpCredentials: { username: 'marketing', password: adminToken },
      acceptDownloads: true,
    });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(8000);
      await page.goto(`${base}/campaigns`);
      await page.fill('#name', '春季促销 Spring');
      await page.fill('#mall', mall);
      await page.fill('#stores', 'a, b');
      await page.fill('#controlStores', 'c, d');
      await page.fill('#start', '2026-02-16T10:00');
      await page.fill('#end', '2026-02-23T00:00');
      await Promise.all([page.waitForURL(/\/campaigns\/c-[0-9a-f]{10}\?done=created$/), page.click('button[type=submit]')]);
      expect(await page.textContent('[role=status]')).toBe('Campaign created.');
      expect(await page.textContent('h1')).toBe('春季促销 Spring');

      await Promise.all([page.waitForURL(/\/report$/), page.click('text=Uplift report')]);
      const verdict = (await page.textContent('.verdict')) ?? '';
      expect(verdict).toMatch(/^footfall rose by about \+\d/);
      await page.fill('#weeks', '4');
      await Promise.all([page.waitForURL(/\/report\?weeks=4$/), page.click('text=Recalculate')]);
      expect(await page.textContent('h2')).toBe('Against the same weekday and time over the previous 4 weeks');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('text=CSV')]);
      expect(download.suggestedFilename()).toMatch(/^campaign-c-[0-9a-f]{10}\.csv$/);

      await page.goBack();
      await page.click(`text=← 春季促销 Spring`);
      await page.fill('#end', '2026-02-22T00:00');
      await Promise.all([page.waitForURL(/\?done=updated$/), page.click('text=Save changes')]);
      expect(repository.list()[0]?.endMs).toBe(firstMondayMs + 48 * dayMs);
      await Promise.all([page.waitForURL(/\/campaigns\?done=deleted$/), page.click('text=Delete this campaign')]);
      expect(await page.textContent('[role=status]')).toBe('Campaign deleted.');
      expect(repository.list()).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
