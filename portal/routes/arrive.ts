import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema } from '../../protocol/ids.ts';
import { defaultMall, flowHref, isKnownMall, languageOf, pageContext, type PortalContext, sendPage } from '../context.ts';
import { safeContinueUrl } from '../flow/continue-url.ts';
import { GatewayError } from '../gateways/types.ts';
import { messagePage, startPage } from '../views/pages.ts';

const paramsSchema = z.strictObject({ mall: idSchema });
// lang is checked by languageOf; a bad value falls back instead of spoiling the whole query.
const flowQuery = z.object({ t: z.string().max(4096).optional(), lang: z.unknown() });

/** Landing from a gateway redirect (`/m/<mall>/?…`) and the choice page. */
export function registerArriveRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const arrive = async (request: import('fastify').FastifyRequest, reply: import('fastify').FastifyReply) => {
    const params = paramsSchema.safeParse(request.params);
    const lang = languageOf(ctx, request, (request.query as Record<string, unknown>).lang);
    const adapter = params.success && isKnownMall(ctx, params.data.mall) ? ctx.gatewayFor(params.data.mall) : undefined;
    if (!params.success || adapter === undefined) {
      const page = pageContext(ctx, lang, undefined, (l) => `/?lang=${l}`);
      return sendPage(reply, 404, messagePage(page, page.m.errors.notFound, page.m.errors.notFound));
    }
    const mall = params.data.mall;
    const page = pageContext(ctx, lang, mall, (l) => `/m/${mall}/?lang=${l}`);
    // Gateways send single-valued parameters; repeated ones are a malformed or forged redirect.
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(request.query as Record<string, unknown>)) {
      if (typeof value !== 'string') return sendPage(reply, 400, messagePage(page, page.m.errors.badRequest, page.m.errors.badRequest));
      query[key] = value;
    }
    let arrival;
    try {
      arrival = await adapter.parseArrival(query, { ip: request.ip });
    } catch (error) {
      const invalid = error instanceof GatewayError && error.kind === 'invalid';
      ctx.logger.warn({ event: 'arrival-refused', mall, reason: (error as Error).message }, 'gateway redirect refused');
      return sendPage(reply, invalid ? 400 : 502, messagePage(page, page.m.errors.badRequest, invalid ? page.m.errors.badRequest : page.m.errors.gateway));
    }
    const originalUrl = safeContinueUrl(arrival.originalUrl);
    const state = ctx.tokens.create({ mall, arrival: { ...arrival, mall, originalUrl } });
    return reply.redirect(flowHref('/start', ctx.tokens.seal(state), lang), 303);
  };
  app.get('/m/:mall', arrive);
  app.get('/m/:mall/', arrive);
  // Someone opening the portal's bare address (a demo, a misconfigured gateway) lands on the first mall's page.
  app.get('/', async (request, reply) => {
    const mall = defaultMall(ctx);
    const lang = languageOf(ctx, request, (request.query as Record<string, unknown>).lang);
    if (mall === undefined) {
      const page = pageContext(ctx, lang, undefined, (l) => `/?lang=${l}`);
      return sendPage(reply, 404, messagePage(page, page.m.errors.notFound, page.m.errors.notFound));
    }
    return reply.redirect(`/m/${mall}/`, 302);
  });

  app.get('/start', async (request, reply) => {
    const query = flowQuery.safeParse(request.query);
    const lang = languageOf(ctx, request, query.data?.lang);
    const state = ctx.tokens.open(query.data?.t);
    if (state === null) {
      const page = pageContext(ctx, lang, undefined, (l) => `/start?lang=${l}`);
      return sendPage(reply, 400, messagePage(page, page.m.errors.flowExpired, page.m.errors.flowExpired));
    }
    const token = ctx.tokens.seal(state);
    return sendPage(reply, 200, startPage(pageContext(ctx, lang, state.mall, (l) => flowHref('/start', token, l)), token));
  });
}
