import type { FastifyInstance } from 'fastify';
import type { OpsDeps } from '../server.ts';

/** `/health` (no token: load balancers and compose health checks call it) and `/metrics` (Prometheus). */
export function registerHealthRoutes(app: FastifyInstance, deps: Pick<OpsDeps, 'health' | 'metrics'>): void {
  app.get('/health', async (_request, reply) => {
    const components: Record<string, unknown> = {};
    const reasons: string[] = [];
    for (const [name, check] of Object.entries(deps.health)) {
      const result = check();
      components[name] = result;
      for (const reason of result.reasons) reasons.push(`${name}: ${reason}`);
      if (!result.ok && result.reasons.length === 0) reasons.push(`${name}: not healthy`);
    }
    const ok = Object.values(deps.health).every((check) => check().ok);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', reasons, components });
  });

  app.get('/metrics', async (_request, reply) => {
    const text = await deps.metrics.metrics();
    return reply.header('content-type', deps.metrics.contentType).send(text);
  });
}
