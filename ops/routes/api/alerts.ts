import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema } from '../../../protocol/ids.ts';
import type { OpsDeps } from '../../server.ts';
import { instantMs } from '../../time-params.ts';

const querySchema = z.strictObject({ mall: idSchema, from: instantMs.optional(), to: instantMs.optional() });

const dayMs = 24 * 60 * 60 * 1000;

/** `GET /api/alerts?mall=&from=&to=`: alerts open at any time in [from, to) (default: the last 24 h), newest first. */
export function registerAlertRoutes(app: FastifyInstance, deps: Pick<OpsDeps, 'live'>): void {
  app.get('/alerts', async (request, reply) => {
    const parsed = querySchema.safeParse(request.query);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'invalid query', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    const live = deps.live;
    if (live === undefined) return reply.code(503).send({ error: 'no live view in this process (it runs with ingest)' });
    const q = parsed.data;
    const toMs = q.to ?? Date.now();
    const fromMs = q.from ?? toMs - dayMs;
    if (toMs <= fromMs) return reply.code(400).send({ error: 'to must be after from' });
    return { mall: q.mall, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), alerts: live.alertHistory(q.mall, fromMs, toMs) };
  });
}
