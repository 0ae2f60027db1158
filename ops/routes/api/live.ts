import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema } from '../../../protocol/ids.ts';
import type { OpsDeps } from '../../server.ts';

const querySchema = z.strictObject({ mall: idSchema });

/** `GET /api/live?mall=`: every figure of the live page for one mall, as JSON (docs/api.md). */
export function registerLiveApiRoutes(app: FastifyInstance, deps: Pick<OpsDeps, 'live'>): void {
  app.get('/live', async (request, reply) => {
    const parsed = querySchema.safeParse(request.query);
    if (!parsed.success) {
      return reply.code(400).send({ error: 'invalid query', issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    const live = deps.live;
    if (live === undefined) return reply.code(503).send({ error: 'no live view in this process (it runs with ingest)' });
    const snapshot = live.snapshot(parsed.data.mall);
    if (snapshot === undefined) return reply.code(404).send({ error: 'unknown mall', malls: live.malls() });
    return snapshot;
  });
}
