import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema } from '../../protocol/ids.ts';
import { baseUrl, defaultMall, flowHref, isKnownMall, languageOf, pageContext, type PortalContext, sendPage } from '../context.ts';
import { displayHost, safeContinueUrl } from '../flow/continue-url.ts';
import { catalogues } from '../i18n/index.ts';
import { stylesheet } from '../views/layout.ts';
import { infoPage, successPage } from '../views/pages.ts';

const infoQuery = z.object({ lang: z.unknown(), m: z.string().max(64).optional() });
// lang is checked by languageOf; a bad value falls back instead of spoiling the whole query.
const flowQuery = z.object({ t: z.string().max(4096).optional(), lang: z.unknown() });

/** Privacy notice, terms, success page, stylesheets and the RFC 8908 captive-portal API. */
export function registerInfoRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const mallFrom = (asked: string | undefined): string | undefined =>
    asked !== undefined && idSchema.safeParse(asked).success && isKnownMall(ctx, asked) ? asked : defaultMall(ctx);

  for (const [path, doc, version] of [
    ['/privacy', 'privacy', 'privacy'],
    ['/terms', 'termsPage', 'terms'],
  ] as const) {
    app.get(path, async (request, reply) => {
      const query = infoQuery.safeParse(request.query);
      const lang = languageOf(ctx, request, query.data?.lang);
      const mall = mallFrom(query.data?.m);
      const page = pageContext(ctx, lang, mall, (l) => `${path}?${new URLSearchParams({ lang: l, m: mall ?? '' }).toString()}`);
      return sendPage(reply, 200, infoPage(page, catalogues[lang][doc], ctx.portal.consentVersions[version]));
    });
  }

  app.get('/done', async (request, reply) => {
    const query = flowQuery.safeParse(request.query);
    const lang = languageOf(ctx, request, query.data?.lang);
    const state = ctx.tokens.open(query.data?.t);
    const token = query.data?.t ?? '';
    const page = pageContext(ctx, lang, state?.mall, (l) => flowHref('/done', token, l));
    // A late or replayed success link still shows the success text; it grants nothing by itself.
    const continueUrl = safeContinueUrl(state?.arrival?.originalUrl);
    return sendPage(
      reply,
      200,
      successPage(page, {
        sessionHours: Math.round((ctx.portal.sessionS / 3600) * 10) / 10,
        memberNumber: state?.done?.memberNumber,
        continueUrl,
        continueHost: continueUrl === undefined ? undefined : displayHost(continueUrl),
      }),
    );
  });

  app.get('/assets/:mall/style.css', async (request, reply) => {
    const mall = (request.params as { mall?: string }).mall ?? '_';
    const colours = ctx.portal.malls[mall]?.colours ?? { primary: '#0b5cad', background: '#ffffff', text: '#1a1a1a' };
    return reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(stylesheet(colours));
  });

  // RFC 8908: the API URL comes from DHCP option 114 / RA (RFC 8910); one per mall.
  app.get('/m/:mall/api/captive', async (request, reply) => {
    const mall = (request.params as { mall?: string }).mall ?? '';
    if (!idSchema.safeParse(mall).success || !isKnownMall(ctx, mall)) return reply.code(404).header('content-type', 'application/captive+json').send(Buffer.from(JSON.stringify({ captive: true })));
    const base = baseUrl(ctx, request);
    const secondsRemaining = ctx.grants.secondsRemaining(mall, request.ip);
    const body: Record<string, unknown> = { captive: secondsRemaining === undefined, 'user-portal-url': `${base}/m/${mall}/` };
    const venue = ctx.portal.malls[mall]?.venueInfoUrl;
    if (venue !== undefined) body['venue-info-url'] = venue;
    if (secondsRemaining !== undefined) {
      body['seconds-remaining'] = secondsRemaining;
      body['can-extend-session'] = false;
    }
    return reply.header('content-type', 'application/captive+json').header('cache-control', 'private, no-store').send(Buffer.from(JSON.stringify(body)));
  });
}
