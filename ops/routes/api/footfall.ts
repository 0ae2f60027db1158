import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema } from '../../../protocol/ids.ts';
import type { OpsDeps } from '../../server.ts';
import { durationMs, instantMs } from '../../time-params.ts';

const querySchema = z.strictObject({
  mall: idSchema,
  store: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : v.split(',')))
    .pipe(z.array(idSchema).max(500).optional()),
  from: instantMs,
  to: instantMs.optional(),
  every: durationMs.optional(),
});

/** Longest range one request may cover, in ms (400 days), and most buckets per store. */
const maxRangeMs = 400 * 24 * 3600 * 1000;
const maxBuckets = 20_000;

/** `GET /api/footfall`: entries and exits per store and interval. */
export function registerFootfallRoutes(app: FastifyInstance, deps: Pick<OpsDeps, 'store'>): void {
  app.get('/footfall', async (request, reply) => {
    const parsed = querySchema.safeParse(request.query);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'invalid query', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    const store = deps.store;
    if (store === undefined) return reply.code(503).send({ error: 'no time-series store in this process' });
    const q = parsed.data;
    const toMs = q.to ?? Date.now();
    const everyMs = q.every ?? 60 * 60 * 1000;
    if (toMs <= q.from) return reply.code(400).send({ error: 'to must be after from' });
    if (toMs - q.from > maxRangeMs) return reply.code(400).send({ error: 'range too long (max 400 days)' });
    if ((toMs - q.from) / everyMs > maxBuckets) return reply.code(400).send({ error: `too many intervals (max ${maxBuckets}); use a larger every` });
    const rows = await store.query({
      measurement: 'footfall',
      fields: ['entries', 'exits'],
      aggregate: 'sum',
      where: { mall: q.mall, ...(q.store ? { store: q.store } : {}) },
      fromMs: q.from,
      toMs,
      everyMs,
      groupBy: ['store'],
    });
    const byStore = new Map<string, { ts: string; entries: number; exits: number }[]>();
    for (const row of rows) {
      const name = row.tags.store ?? '';
      const list = byStore.get(name) ?? [];
      list.push({ ts: new Date(row.tsMs).toISOString(), entries: row.values.entries ?? 0, exits: row.values.exits ?? 0 });
      byStore.set(name, list);
    }
    return {
      mall: q.mall,
      from: new Date(q.from).toISOString(),
      to: new Date(toMs).toISOString(),
      everyMs,
      stores: [...byStore.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, intervals]) => ({
        store: name,
        entries: intervals.reduce((sum, i) => sum + i.entries, 0),
        exits: intervals.reduce((sum, i) => sum + i.exits, 0),
        intervals,
      })),
    };
  });
}
