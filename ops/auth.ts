import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Bearer-token check in constant time (hash both sides so lengths never leak through timing). */
export function bearerGuard(token: string | undefined) {
  const expected = token === undefined ? undefined : createHash('sha256').update(token).digest();
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (expected === undefined) {
      await reply.code(503).send({ error: 'the ops API is disabled: set PLAZA_OPS_TOKEN' });
      return;
    }
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    const ok = presented.length > 0 && timingSafeEqual(createHash('sha256').update(presented).digest(), expected);
    if (!ok) await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing or wrong bearer token' });
  };
}
