import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import { StoreError } from '../../ingest/store/types.ts';
import { registerPosRoutes } from '../../ops/routes/api/pos.ts';
import { tempDir } from '../support/tmp.ts';

const hourMs = 3_600_000;
// Whole hours, two days back: inside every accepted window.
const t0 = Math.floor(Date.now() / hourMs) * hourMs - 48 * hourMs;
const interval = (store: string, startHour: number, hours: number, transactions: number) => ({ store, startMs: t0 + startHour * hourMs, endMs: t0 + (startHour + hours) * hourMs, transactions });

describe('POST /api/pos/sales (route behind the ops bearer guard)', () => {
  const store = new SqliteStore({ dataDir: tempDir('ops-pos') }, createLogger('silent'));
  const app = Fastify();
  const post = (payload: unknown) => app.inject({ method: 'POST', url: '/api/pos/sales', payload: payload as Record<string, unknown> });
  const stored = async (s: string): Promise<Record<number, number | null>> => {
    const rows = await store.query({ measurement: 'sales', fields: ['transactions'], aggregate: 'none', where: { mall: 'm1', store: s }, fromMs: t0 - 48 * hourMs, toMs: t0 + 48 * hourMs });
    return Object.fromEntries(rows.map((r) => [(r.tsMs - t0) / hourMs, r.values.transactions ?? null]));
  };

  beforeAll(async () => {
    await store.open();
    await app.register(async (api) => registerPosRoutes(api, { store }), { prefix: '/api' });
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('stores transactions per store and interval as sales points', async () => {
    const response = await post({ v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 12), interval('a', 1, 1, 7), interval('b', 0, 2, 30)] });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ mall: 'm1', intervals: 3 });
    expect(await stored('a')).toEqual({ 0: 12, 1: 7 });
    expect(await stored('b')).toEqual({ 0: 30 });
    const lengths = await store.query({ measurement: 'sales', fields: ['interval_s'], aggregate: 'none', where: { mall: 'm1', store: 'b' }, fromMs: t0, toMs: t0 + hourMs });
    expect(lengths[0]?.values.interval_s).toBe(7200);
  });

  it('replaces the count when the same interval comes again (a correction or a retry)', async () => {
    expect((await post({ v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 13)] })).statusCode).toBe(200);
    expect((await post({ v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 13)] })).statusCode).toBe(200);
    expect(await stored('a')).toEqual({ 0: 13, 1: 7 });
  });

  it('refuses overlapping intervals (stored or in the request) and writes nothing of that request', async () => {
    const daily = await post({ v: 1, mall: 'm1', intervals: [interval('c', 0, 1, 1), interval('a', 0, 24, 100)] });
    expect(daily.statusCode).toBe(409);
    expect(daily.json<{ issues: string[] }>().issues.join()).toMatch(/^intervals\.1: a .* overlaps/);
    expect(await stored('c')).toEqual({});
    const inside = await post({ v: 1, mall: 'm1', intervals: [interval('d', 0, 2, 5), interval('d', 1, 1, 5)] });
    expect(inside.statusCode).toBe(409);
    expect(await stored('d')).toEqual({});
    // Adjacent intervals and other stores or malls do not overlap.
    expect((await post({ v: 1, mall: 'm1', intervals: [interval('a', 2, 1, 4), interval('c', 0, 24, 50)] })).statusCode).toBe(200);
    expect((await post({ v: 1, mall: 'm2', intervals: [interval('a', 0, 24, 50)] })).statusCode).toBe(200);
  });

  it('rejects invalid bodies with the failing field and stores nothing', async () => {
    const cases: unknown[] = [
      { v: 1, mall: 'm1', intervals: [] },
      { v: 1, mall: 'M1', intervals: [interval('a', 5, 1, 1)] },
      { v: 1, mall: 'm1', intervals: [{ ...interval('a', 5, 1, 1), startMs: t0 + 5 * hourMs + 1 }] },
      { v: 1, mall: 'm1', intervals: [interval('a', 5, 25, 1)] },
      { v: 1, mall: 'm1', intervals: [interval('a', 5, 1, -1)] },
      { v: 1, mall: 'm1', intervals: [{ ...interval('a', 5, 1, 1), extra: true }] },
      { v: 2, mall: 'm1', intervals: [interval('a', 5, 1, 1)] },
      [1, 2],
    ];
    for (const body of cases) {
      const response = await post(body);
      expect(response.statusCode, JSON.stringify(body)).toBe(400);
      expect(response.json<{ issues: string[] }>().issues.length).toBeGreaterThan(0);
    }
    const future = await post({ v: 1, mall: 'm1', intervals: [interval('a', 60, 1, 1)] });
    expect(future.statusCode).toBe(400);
    expect(future.body).toContain('future');
    expect(Object.keys(await stored('a'))).toEqual(['0', '1', '2']);
  });

  it('answers 503 while the store is unreachable, so the sender retries', async () => {
    const down = Fastify();
    const broken = Object.assign(Object.create(store) as SqliteStore, { write: async () => Promise.reject(new StoreError('connection refused', true)) });
    await down.register(async (api) => registerPosRoutes(api, { store: broken }), { prefix: '/api' });
    const response = await down.inject({ method: 'POST', url: '/api/pos/sales', payload: { v: 1, mall: 'm9', intervals: [interval('a', 0, 1, 1)] } });
    await down.close();
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('30');
  });
});
