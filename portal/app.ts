import formbody from '@fastify/formbody';
import type { FastifyError, FastifyInstance } from 'fastify';
import { createPortalContext, languageOf, pageContext, type PortalAppOptions, type PortalContext, sendPage } from './context.ts';
import { registerArriveRoutes } from './routes/arrive.ts';
import { registerConnectingRoute } from './routes/finish.ts';
import { registerInfoRoutes } from './routes/info.ts';
import { registerLoginRoutes } from './routes/login.ts';
import { registerMyDataRoutes } from './routes/my-data.ts';
import { messagePage } from './views/pages.ts';

export type { PortalAppOptions };

/** No script anywhere, no framing, no referrer (tokens live in URLs), no sniffing. */
export const securityHeaders: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self' https: http:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-opener-policy': 'same-origin',
};

/** The captive portal as a fastify plugin: pages, forms, captive API. Process concerns live in server.ts. */
export async function portalApp(app: FastifyInstance, options: PortalAppOptions & { context?: (ctx: PortalContext) => void }): Promise<void> {
  const ctx = createPortalContext(options);
  options.context?.(ctx);

  app.addHook('onSend', async (_request, reply, payload) => {
    for (const [name, value] of Object.entries(securityHeaders)) reply.header(name, value);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setNotFoundHandler(async (request, reply) => {
    const page = pageContext(ctx, languageOf(ctx, request, undefined), undefined, (l) => `/privacy?lang=${l}`);
    return sendPage(reply, 404, messagePage(page, page.m.errors.notFound, page.m.errors.notFound));
  });

  // One place for errors: 4xx from parsing (bad body, too large, wrong type) keep their status, the rest is
  // a 500 with a generic page. Only the error's code and message are logged, never the request body or query.
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status === 500) ctx.logger.error({ event: 'request-failed', code: error.code, reason: error.message, method: request.method, path: request.routeOptions.url }, 'request failed');
    else ctx.logger.warn({ event: 'request-refused', code: error.code, status, method: request.method, path: request.routeOptions.url }, 'request refused');
    const page = pageContext(ctx, languageOf(ctx, request, undefined), undefined, (l) => `/privacy?lang=${l}`);
    return sendPage(reply, status, messagePage(page, status === 500 ? page.m.errors.server : page.m.errors.badRequest, status === 500 ? page.m.errors.server : page.m.errors.badRequest));
  });

  // The shopper-facing pages take urlencoded forms only; gateway endpoints get their own scopes and parsers.
  await app.register(async (pages) => {
    pages.removeContentTypeParser('application/json');
    await pages.register(formbody, { bodyLimit: 8 * 1024 });
    registerArriveRoutes(pages, ctx);
    registerLoginRoutes(pages, ctx);
    registerConnectingRoute(pages, ctx);
    registerMyDataRoutes(pages, ctx);
    registerInfoRoutes(pages, ctx);
  });
  // Endpoints the gateways call themselves (openNDS authmon, WiFiDog /auth and /ping), one prefix per mall.
  for (const [mall, adapter] of options.gateways) {
    if (adapter.registerRoutes !== undefined) {
      const register = adapter.registerRoutes.bind(adapter);
      await app.register(async (scope) => register(scope), { prefix: `/gw/${mall}` });
    }
  }
}
