import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceRegistry } from '../../broker/registry.ts';
import { configSchema, loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { LiveView } from '../../dashboards/live/live-view.ts';
import type { LiveSnapshot } from '../../dashboards/live/snapshot.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import { sha256Hex } from '../../ops/auth.ts';
import { buildOpsApp, type OpsDeps } from '../../ops/server.ts';
import { tempDir } from '../support/tmp.ts';

const adminToken = 'admin-token-for-tests-0123456789';
const viewerToken = 'viewer-token-for-tests-abcdefghij';
const marketerToken = 'marketer-token-for-tests-klmnopq';
const logger = createLogger('silent');
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('ops API roles and the live endpoints', () => {
  const dataDir = tempDir('plaza-live-roles');
  const store = new SqliteStore({ dataDir }, logger);
  const registry = DeviceRegistry.open(dataDir);
  const config = configSchema.parse({ dataDir, malls: { m1: { name: 'Mall One', stores: { a: { capacity: 20 } } } } });
  const live = new LiveView({ config, store, registry, logger });
  const deps: OpsDeps = {
    host: '127.0.0.1',
    port: 0,
    token: adminToken,
    tokens: [
      { name: 'wall', role: 'viewer', tokenSha256: sha256Hex(viewerToken) },
      { name: 'marketing', role: 'marketer', tokenSha256: sha256Hex(marketerToken) },
    ],
    metrics: createMetricsRegistry(false),
    logger,
    health: {},
    store,
    live,
  };
  const app = buildOpsApp(deps);

  beforeAll(async () => {
    await store.open();
    await live.start();
    const now = Date.now();
    live.accept([{ measurement: 'footfall', tags: { mall: 'm1', store: 'a' }, fields: { entries: { int: 4 }, exits: { int: 1 }, occupancy: { int: 3 } }, tsMs: Math.floor(now / 60_000) * 60_000 }]);
  });
  afterAll(async () => {
    await app.close();
    await live.stop();
    registry.close();
    await store.close();
  });

  it('answers 401 with a Bearer challenge without a token or with an unknown one', async () => {
    for (const headers of [{}, bearer('not-a-token'), { authorization: `Basic ${Buffer.from(`x:${viewerToken}`).toString('base64')}` }]) {
      const response = await app.inject({ url: '/api/live?mall=m1', headers });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('lets a viewer read live figures, alerts and footfall, and nothing else (403 insufficient_scope)', async () => {
    const liveResponse = await app.inject({ url: '/api/live?mall=m1', headers: bearer(viewerToken) });
    expect(liveResponse.statusCode).toBe(200);
    const snapshot = liveResponse.json<LiveSnapshot>();
    expect(snapshot).toMatchObject({ mall: 'm1', name: 'Mall One', totals: { occupancy: 3, entries15: 4, entries60: 4, capacity: 20 } });
    expect(snapshot.stores.map((s) => s.store)).toEqual(['a']);
    expect((await app.inject({ url: '/api/alerts?mall=m1', headers: bearer(viewerToken) })).statusCode).toBe(200);
    expect((await app.inject({ url: `/api/footfall?mall=m1&from=${Date.now() - 3_600_000}`, headers: bearer(viewerToken) })).statusCode).toBe(200);

    const pos = await app.inject({ method: 'POST', url: '/api/pos/sales', headers: bearer(viewerToken), payload: {} });
    expect(pos.statusCode).toBe(403);
    expect(pos.headers['www-authenticate']).toBe('Bearer error="insufficient_scope"');
    expect(pos.json<{ error: string }>().error).toBe('this needs the admin role; the token has viewer');
  });

  it('gives a marketer the viewer routes but not admin ones; the admin token passes the role check everywhere', async () => {
    expect((await app.inject({ url: '/api/live?mall=m1', headers: bearer(marketerToken) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/api/pos/sales', headers: bearer(marketerToken), payload: {} })).statusCode).toBe(403);
    // Past authorisation the body is checked: 400, not 401/403.
    expect((await app.inject({ method: 'POST', url: '/api/pos/sales', headers: bearer(adminToken), payload: {} })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/live?mall=m1', headers: bearer(adminToken) })).statusCode).toBe(200);
  });

  it('checks parameters: 400 for a bad mall or range, 404 for an unknown mall', async () => {
    expect((await app.inject({ url: '/api/live?mall=Bad%20Mall', headers: bearer(viewerToken) })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/live', headers: bearer(viewerToken) })).statusCode).toBe(400);
    const unknown = await app.inject({ url: '/api/live?mall=nowhere', headers: bearer(viewerToken) });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toEqual({ error: 'unknown mall', malls: ['m1'] });
    expect((await app.inject({ url: '/api/alerts?mall=m1&from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z', headers: bearer(viewerToken) })).statusCode).toBe(400);
    expect((await app.inject({ url: '/api/alerts?mall=m1&from=yesterday', headers: bearer(viewerToken) })).statusCode).toBe(400);
  });

  it('serves the page without a token, with a strict CSP and no inline script or style', async () => {
    const page = await app.inject({ url: '/live' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page.body).not.toMatch(/\sstyle=|\son[a-z]+=/);
    for (const asset of ['/live/app.js', '/live/messages.js', '/live/app.css']) expect((await app.inject({ url: asset })).statusCode).toBe(200);
    // Nothing on the page or its scripts comes from another origin.
    const script = (await app.inject({ url: '/live/app.js' })).body;
    expect(`${page.body}${script}`).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
  });

  it('is disabled (503) when no token at all is configured', async () => {
    const closed = buildOpsApp({ ...deps, token: undefined, tokens: [] });
    try {
      expect((await closed.inject({ url: '/api/live?mall=m1', headers: bearer(viewerToken) })).statusCode).toBe(503);
    } finally {
      await closed.close();
    }
  });

  it('accepts a token made by `plaza tokens add` once its entry is in the config file', { timeout: 60_000 }, async () => {
    const made = await new Promise<{ token: string; entry: { name: string; role: string; tokenSha256: string } }>((resolve, reject) => {
      execFile(process.execPath, [path.resolve('bin/plaza.js'), 'tokens', 'add', '--role', 'viewer', '--name', 'wall-2', '--json'], { env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 }, (error, stdout) =>
        error ? reject(new Error(`plaza tokens add failed: ${error.message}`)) : resolve(JSON.parse(stdout) as never),
      );
    });
    expect(made.entry).toEqual({ name: 'wall-2', role: 'viewer', tokenSha256: sha256Hex(made.token) });
    const file = path.join(tempDir('plaza-tokens'), 'plaza.yaml');
    writeFileSync(file, `ops:\n  tokens:\n    - { name: ${made.entry.name}, role: ${made.entry.role}, tokenSha256: ${made.entry.tokenSha256} }\n`);
    const loaded = loadConfig({ env: { PLAZA_CONFIG_FILE: file } });
    expect(loaded.ops.tokens).toEqual([made.entry]);
    const fromConfig = buildOpsApp({ ...deps, token: undefined, tokens: loaded.ops.tokens });
    try {
      expect((await fromConfig.inject({ url: '/api/live?mall=m1', headers: bearer(made.token) })).statusCode).toBe(200);
      expect((await fromConfig.inject({ method: 'POST', url: '/api/pos/sales', headers: bearer(made.token), payload: {} })).statusCode).toBe(403);
    } finally {
      await fromConfig.close();
    }
    // A plain token where a hash belongs is refused by the schema.
    expect(() => configSchema.parse({ ops: { tokens: [{ name: 'x', role: 'viewer', tokenSha256: made.token }] } })).toThrow(/64 hex digits/);
  });
});
