import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { flowHref, languageOf, openForm, pageContext, type PortalContext, sendPage } from '../context.ts';
import type { FlowState } from '../flow/token.ts';
import { catalogues, type Language } from '../i18n/index.ts';
import { parseIdentifier } from '../members/phone.ts';
import type { ConsentType } from '../members/store.ts';
import { guestPage, messagePage } from '../views/pages.ts';
import { expiredPage, registerCodeFlow } from './code-flow.ts';
import { finishLogin } from './finish.ts';

// lang is checked by languageOf; a bad value falls back instead of spoiling the whole query.
const flowQuery = z.object({ t: z.string().max(4096).optional(), lang: z.unknown() });
const guestForm = z.strictObject({ t: z.string().max(4096), csrf: z.string().max(64), lang: z.string().max(64).optional(), terms: z.literal('yes').optional() });

/** Records terms acceptance and any optional consent ticked now; returns the member's consents after that. */
function recordConsents(ctx: PortalContext, memberId: string, lang: Language, ticked: { analytics: boolean; marketing: boolean }): { analytics: boolean; marketing: boolean } {
  const tsMs = ctx.now();
  const versions = ctx.portal.consentVersions;
  const granted: ConsentType[] = ['terms'];
  if (ticked.analytics) granted.push('analytics');
  if (ticked.marketing) granted.push('marketing');
  for (const type of granted) ctx.members.recordConsent(memberId, { type, action: 'granted', textVersion: versions[type], language: lang, tsMs });
  // An unticked box at login does not withdraw an earlier consent; withdrawal is on the my-data page.
  const current = ctx.members.currentConsents(memberId);
  return { analytics: current.analytics, marketing: current.marketing };
}

/** Guest access, member login and sign-up. */
export function registerLoginRoutes(app: FastifyInstance, ctx: PortalContext): void {
  app.get('/guest', async (request, reply) => {
    const query = flowQuery.safeParse(request.query);
    const lang = languageOf(ctx, request, query.data?.lang);
    const state = ctx.tokens.open(query.data?.t);
    if (state?.arrival === undefined) return expiredPage(ctx, reply, lang);
    const token = ctx.tokens.seal(state);
    return sendPage(reply, 200, guestPage(pageContext(ctx, lang, state.mall, (l) => flowHref('/guest', token, l)), { token, csrf: ctx.tokens.csrfFor(state) }));
  });

  app.post('/guest', async (request, reply) => {
    const body = guestForm.safeParse(request.body);
    const lang = languageOf(ctx, request, body.data?.lang);
    const state = body.success ? openForm(ctx, request, body.data) : null;
    if (!body.success || state?.arrival === undefined) return expiredPage(ctx, reply, lang);
    if (body.data.terms !== 'yes') {
      const token = ctx.tokens.seal(state);
      const page = pageContext(ctx, lang, state.mall, (l) => flowHref('/guest', token, l));
      return sendPage(reply, 400, guestPage(page, { token, csrf: ctx.tokens.csrfFor(state) }, catalogues[lang].errors.termsRequired));
    }
    return finishLogin(ctx, request, reply, state, lang, { method: 'guest', analytics: false, marketing: false });
  });

  registerCodeFlow(app, ctx, 'login', async (ctx, request, reply, state, lang, ticked) => {
    const identifier = parseIdentifier((state.challenge as NonNullable<FlowState['challenge']>).identifier);
    const member = identifier === null ? undefined : identifier.kind === 'member' ? ctx.members.byId(identifier.memberId) : ctx.members.byPhone(identifier.phone);
    if (member === undefined) {
      // Only reachable with a code sent to this phone, so saying "not a member" reveals nothing new.
      const token = ctx.tokens.seal({ ...state, challenge: undefined });
      const page = pageContext(ctx, lang, state.mall, (l) => flowHref('/start', token, l));
      return sendPage(reply, 404, messagePage(page, page.m.member.title, page.m.member.notMember, flowHref('/signup', token, lang)));
    }
    const consents = recordConsents(ctx, member.memberId, lang, ticked);
    return finishLogin(ctx, request, reply, state, lang, { method: 'member', memberId: member.memberId, ...consents });
  });

  registerCodeFlow(app, ctx, 'signup', async (ctx, request, reply, state, lang, ticked) => {
    const challenge = state.challenge as NonNullable<FlowState['challenge']>;
    const { member, created } = ctx.members.findOrCreate(challenge.identifier, challenge.name, ctx.now());
    const consents = recordConsents(ctx, member.memberId, lang, ticked);
    return finishLogin(ctx, request, reply, state, lang, {
      method: created ? 'signup' : 'member',
      memberId: member.memberId,
      memberNumber: created ? member.memberId : undefined,
      ...consents,
    });
  });
}
