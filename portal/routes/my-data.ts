import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { idSchema } from '../../protocol/ids.ts';
import { platformTopics } from '../../protocol/platform.ts';
import { defaultMall, flowHref, isKnownMall, languageOf, openForm, pageContext, type PortalContext, sendPage } from '../context.ts';
import type { FlowState } from '../flow/token.ts';
import { catalogues } from '../i18n/index.ts';
import { codeRequestPage, manageDataPage, messagePage } from '../views/pages.ts';
import { expiredPage, registerCodeFlow } from './code-flow.ts';

const startQuery = z.object({ lang: z.unknown(), m: z.string().max(64).optional() });
// lang is checked by languageOf; a bad value falls back instead of spoiling the whole query.
const flowQuery = z.object({ t: z.string().max(4096).optional(), lang: z.unknown() });
const actionForm = z.strictObject({
  t: z.string().max(4096),
  csrf: z.string().max(64),
  lang: z.string().max(64).optional(),
  action: z.enum(['withdraw-analytics', 'withdraw-marketing', 'delete']),
});

/** "My data": reached from the privacy notice; withdraw consents or be unlinked and deleted, after a code check. */
export function registerMyDataRoutes(app: FastifyInstance, ctx: PortalContext): void {
  const allMalls = (): string[] => [...new Set([...Object.keys(ctx.portal.malls), ...Object.keys(ctx.options.config.malls), ...ctx.options.gateways.keys()])];
  const announce = (kind: 'unlink' | 'deleted', memberId: string): void => {
    // Members are not tied to one mall: every mall's ingest must drop the links.
    for (const mall of allMalls()) ctx.options.publish(platformTopics.portalMember(mall, ctx.portal.id), ctx.options.events.memberGone(kind, memberId));
  };

  // The entry page needs no flow from a gateway: a fresh token is made here.
  app.get('/my-data', async (request, reply) => {
    const query = startQuery.safeParse(request.query);
    const lang = languageOf(ctx, request, query.data?.lang);
    const asked = query.data?.m;
    const mall = asked !== undefined && idSchema.safeParse(asked).success && isKnownMall(ctx, asked) ? asked : defaultMall(ctx);
    if (mall === undefined) return expiredPage(ctx, reply, lang);
    const state = ctx.tokens.create({ mall });
    const page = pageContext(ctx, lang, mall, (l) => `/my-data?${new URLSearchParams({ lang: l, m: mall }).toString()}`);
    return sendPage(reply, 200, codeRequestPage(page, 'mydata', { token: ctx.tokens.seal(state), csrf: ctx.tokens.csrfFor(state) }, {}));
  });

  registerCodeFlow(app, ctx, 'mydata', async (ctx, _request, reply, state, lang) => {
    const phone = (state.challenge as NonNullable<FlowState['challenge']>).identifier;
    const member = ctx.members.byPhone(phone);
    if (member === undefined) {
      const page = pageContext(ctx, lang, state.mall, (l) => `/my-data?lang=${l}&m=${state.mall}`);
      return sendPage(reply, 200, messagePage(page, page.m.mydata.title, page.m.mydata.noMember));
    }
    const next: FlowState = { ...ctx.tokens.create({ mall: state.mall }), verifiedMember: member.memberId };
    return reply.redirect(flowHref('/my-data/manage', ctx.tokens.seal(next), lang), 303);
  });

  app.get('/my-data/manage', async (request, reply) => {
    const query = flowQuery.safeParse(request.query);
    const lang = languageOf(ctx, request, query.data?.lang);
    const state = ctx.tokens.open(query.data?.t);
    const memberId = state?.verifiedMember;
    if (state === null || memberId === undefined || ctx.members.byId(memberId) === undefined) return expiredPage(ctx, reply, lang);
    const token = ctx.tokens.seal(state);
    const page = pageContext(ctx, lang, state.mall, (l) => flowHref('/my-data/manage', token, l));
    return sendPage(reply, 200, manageDataPage(page, { token, csrf: ctx.tokens.csrfFor(state) }, ctx.members.currentConsents(memberId)));
  });

  app.post('/my-data/manage', async (request, reply) => {
    const body = actionForm.safeParse(request.body);
    const lang = languageOf(ctx, request, body.data?.lang);
    const state = body.success ? openForm(ctx, request, body.data) : null;
    const memberId = state?.verifiedMember;
    if (!body.success || state === null || memberId === undefined || ctx.members.byId(memberId) === undefined) return expiredPage(ctx, reply, lang);
    const m = catalogues[lang];
    const page = pageContext(ctx, lang, state.mall, (l) => `/my-data?lang=${l}&m=${state.mall}`);
    if (body.data.action === 'delete') {
      ctx.members.delete(memberId);
      announce('deleted', memberId);
      ctx.logger.info({ event: 'member-deleted' }, 'member deleted on request');
      return sendPage(reply, 200, messagePage(page, m.mydata.title, m.mydata.deleted));
    }
    const type = body.data.action === 'withdraw-analytics' ? 'analytics' : 'marketing';
    const { consentVersions } = ctx.portal;
    ctx.members.recordConsent(memberId, { type, action: 'withdrawn', textVersion: consentVersions[type], language: lang, tsMs: ctx.now() });
    if (type === 'analytics') announce('unlink', memberId);
    ctx.logger.info({ event: 'consent-withdrawn', type }, 'consent withdrawn');
    const token = ctx.tokens.seal(state);
    const managePage = pageContext(ctx, lang, state.mall, (l) => flowHref('/my-data/manage', token, l));
    return sendPage(reply, 200, manageDataPage(managePage, { token, csrf: ctx.tokens.csrfFor(state) }, ctx.members.currentConsents(memberId), m.mydata.done));
  });
}
