import type { FastifyInstance } from 'fastify';
import { type KnownInterval, overlapProblems, salesMeasurement, salesPoint, timeProblem } from '../../../ingest/pos.ts';
import { StoreError } from '../../../ingest/store/types.ts';
import { posLimits, posSalesSchema } from '../../../protocol/payloads/pos.ts';
import type { OpsDeps } from '../../server.ts';

/** How far back the API accepts counts, in ms (400 days: backfills from a POS export, within default retention). */
const backfillMaxMs = 400 * 24 * 60 * 60 * 1000;

/**
 * `POST /api/pos/sales`: transaction counts per store and interval (body: protocol/payloads/pos.ts), written
 * straight to the time-series store as `sales` points. All or nothing: any invalid or overlapping interval
 * refuses the whole request. Sending the same interval again replaces its count.
 */
export function registerPosRoutes(app: FastifyInstance, deps: Pick<OpsDeps, 'store'>): void {
  app.post('/pos/sales', async (request, reply) => {
    const parsed = posSalesSchema.safeParse(request.body);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'invalid body', issues: parsed.error.issues.slice(0, 20).map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    const store = deps.store;
    if (store === undefined) return reply.code(503).send({ error: 'no time-series store in this process' });
    const report = parsed.data;
    const nowMs = Date.now();
    const late = report.intervals.map((interval) => timeProblem(interval, nowMs, backfillMaxMs)).filter((p) => p !== undefined);
    if (late.length > 0) return reply.code(400).send({ error: 'intervals out of range', issues: late.slice(0, 20) });

    const known = await knownIntervals(store, report.mall, report.intervals);
    const conflicts = overlapProblems(report.intervals, (s, startMs, endMs) => (known.get(s) ?? []).filter((k) => k.startMs < endMs && k.endMs > startMs));
    if (conflicts.length > 0) return reply.code(409).send({ error: 'intervals overlap intervals of the same store', issues: conflicts.slice(0, 20) });

    try {
      await store.write(report.intervals.map((interval) => salesPoint(report.mall, interval)));
    } catch (error) {
      if (error instanceof StoreError && error.retryable) {
        request.log.warn({ err: error.message }, 'store unavailable for point-of-sale counts');
        return reply.code(503).header('retry-after', '30').send({ error: 'time-series store unavailable; retry later' });
      }
      throw error;
    }
    return reply.code(200).send({ mall: report.mall, intervals: report.intervals.length });
  });
}

/** Sales intervals already stored for the stores and time span of a request. */
async function knownIntervals(
  store: NonNullable<OpsDeps['store']>,
  mall: string,
  intervals: readonly { store: string; startMs: number; endMs: number }[],
): Promise<Map<string, KnownInterval[]>> {
  const stores = [...new Set(intervals.map((i) => i.store))];
  // An interval lasts at most a day, so one that overlaps this span starts at most a day before it.
  const fromMs = Math.min(...intervals.map((i) => i.startMs)) - posLimits.maxIntervalMs;
  const toMs = Math.max(...intervals.map((i) => i.endMs));
  const rows = await store.query({ measurement: salesMeasurement, fields: ['interval_s'], aggregate: 'none', where: { mall, store: stores }, fromMs, toMs, groupBy: ['store'] });
  const known = new Map<string, KnownInterval[]>();
  for (const row of rows) {
    const lengthS = row.values.interval_s;
    if (lengthS === null || lengthS === undefined) continue;
    const name = row.tags.store ?? '';
    const list = known.get(name) ?? [];
    list.push({ startMs: row.tsMs, endMs: row.tsMs + lengthS * 1000 });
    known.set(name, list);
  }
  return known;
}
