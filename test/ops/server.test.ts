import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import { buildOpsApp } from '../../ops/server.ts';
import { tempDir } from '../support/tmp.ts';

const token = 'ops-token-for-tests-0123456789';

interface FootfallBody {
  stores: { store: string; entries: number; exits: number; intervals: { ts: string; entries: number; exits: number }[] }[];
}
const t0 = Date.parse('2026-11-27T02:00:00Z');

describe('ops API', () => {
  const store = new SqliteStore({ dataDir: tempDir('ops') }, createLogger('silent'));
  let healthy = true;
  const app = buildOpsApp({
    host: '127.0.0.1',
    port: 0,
    token,
    metrics: createMetricsRegistry(false),
    logger: createLogger('silent'),
    health: { ingest: () => ({ ok: healthy, reasons: healthy ? [] : ['MQTT broker unreachable'] }) },
    store,
  });
  const auth = { authorization: `Bearer ${token}` };

  beforeAll(async () => {
    await store.open();
    const points = [];
    for (let minute = 0; minute < 120; minute += 1) {
      points.push({ measurement: 'footfall', tags: { mall: 'm1', store: 'a' }, fields: { entries: { int: 2 }, exits: { int: 1 } }, tsMs: t0 + minute * 60_000 });
      points.push({ measurement: 'footfall', tags: { mall: 'm1', store: 'b' }, fields: { entries: { int: 1 }, exits: { int: 0 } }, tsMs: t0 + minute * 60_000 });
    }
    points.push({ measurement: 'footfall', tags: { mall: 'other', store: 'a' }, fields: { entries: { int: 99 }, exits: { int: 0 } }, tsMs: t0 });
    await store.write(points);
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('answers /health without a token: 200 when healthy, 503 with the reason otherwise', async () => {
    expect((await app.inject({ url: '/health' })).statusCode).toBe(200);
    healthy = false;
    const down = await app.inject({ url: '/health' });
    healthy = true;
    expect(down.statusCode).toBe(503);
    expect(down.json<{ reasons: string[] }>().reasons).toEqual(['ingest: MQTT broker unreachable']);
  });

  it('serves Prometheus metrics', async () => {
    const response = await app.inject({ url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/plain/);
  });

  it('refuses the API without the right bearer token', async () => {
    expect((await app.inject({ url: '/api/footfall?mall=m1&from=0' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/footfall?mall=m1&from=0', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
  });

  it('returns entries and exits per store and interval', async () => {
    const response = await app.inject({ url: `/api/footfall?mall=m1&from=${new Date(t0).toISOString()}&to=${t0 + 7_200_000}&every=1h`, headers: auth });
    expect(response.statusCode).toBe(200);
    const body = response.json<FootfallBody>();
    expect(body.stores.map((s) => [s.store, s.entries, s.exits])).toEqual([
      ['a', 240, 120],
      ['b', 120, 0],
    ]);
    expect(body.stores[0]?.intervals).toHaveLength(2);
    expect(body.stores[0]?.intervals[0]).toEqual({ ts: new Date(t0).toISOString(), entries: 120, exits: 60 });
  });

  it('filters by store list', async () => {
    const response = await app.inject({ url: `/api/footfall?mall=m1&store=b&from=${t0}&to=${t0 + 7_200_000}&every=1d`, headers: auth });
    expect(response.json<FootfallBody>().stores.map((s) => s.store)).toEqual(['b']);
  });

  it('rejects invalid parameters with a clear message and no internals', async () => {
    for (const query of ['mall=M1&from=0', 'mall=m1&from=yesterday', 'mall=m1&from=0&every=5x', 'mall=m1&from=0&every=1s', "mall=m1'&from=0", 'mall=m1&from=0&extra=1']) {
      const response = await app.inject({ url: `/api/footfall?${query}`, headers: auth });
      expect(response.statusCode, query).toBe(400);
      expect(response.json<{ error: unknown }>().error).toBeTypeOf('string');
    }
    const reversed = await app.inject({ url: `/api/footfall?mall=m1&from=${t0}&to=${t0 - 1}`, headers: auth });
    expect(reversed.statusCode).toBe(400);
  });
});
