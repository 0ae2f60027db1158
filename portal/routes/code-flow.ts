import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { flowHref, languageOf, openForm, pageContext, type PortalContext, sendPage } from '../context.ts';
import type { FlowState } from '../flow/token.ts';
import { catalogues, format, type Language } from '../i18n/index.ts';
import { normalisePhone, parseIdentifier } from '../members/phone.ts';
import type { CodeOutcome } from '../otp/service.ts';
import type { PageContext } from '../views/layout.ts';
import { type CodePurpose, codeRequestPage, codeVerifyPage, messagePage } from '../views/pages.ts';

// lang is checked by languageOf; a bad value falls back instead of spoiling the whole query.
const flowQuery = z.object({ t: z.string().max(4096).optional(), lang: z.unknown() });
const formBase = { t: z.string().max(4096), csrf: z.string().max(64), lang: z.string().max(64).optional() };
const requestForm = z.strictObject({ ...formBase, identifier: z.string().max(64), name: z.string().max(200).optional() });
const verifyForm = z.strictObject({
  ...formBase,
  code: z.string().max(32),
  terms: z.literal('yes').optional(),
  analytics: z.literal('yes').optional(),
  marketing: z.literal('yes').optional(),
});
const resendForm = z.strictObject(formBase);

const basePath: Record<CodePurpose, string> = { login: '/member', signup: '/signup', mydata: '/my-data' };

/** What happens after a code matched: log in, sign up, or open the member's data page. */
export type Verified = (ctx: PortalContext, request: FastifyRequest, reply: FastifyReply, state: FlowState, lang: Language, consents: { analytics: boolean; marketing: boolean }) => Promise<FastifyReply>;

export function expiredPage(ctx: PortalContext, reply: FastifyReply, lang: Language, mall?: string): FastifyReply {
  const page = pageContext(ctx, lang, mall, (l) => `/?lang=${l}`);
  return sendPage(reply, 400, messagePage(page, page.m.errors.flowExpired, page.m.errors.flowExpired, mall === undefined ? undefined : `/my-data?lang=${lang}&m=${mall}`));
}

/**
 * The three "phone + one-time code" flows share their steps: ask who → send a code → check it (+ consents).
 * Member login answers the same whether or not the member exists: a challenge is made either way, and the
 * code is only sent when there is a member.
 */
export function registerCodeFlow(app: FastifyInstance, ctx: PortalContext, purpose: CodePurpose, verified: Verified): void {
  const base = basePath[purpose];
  const form = (state: FlowState) => {
    const token = ctx.tokens.seal(state);
    return { token, csrf: ctx.tokens.csrfFor(state) };
  };
  const page = (state: FlowState, lang: Language, path: string): PageContext => pageContext(ctx, lang, state.mall, (l) => flowHref(path, ctx.tokens.seal(state), l));
  const needsArrival = purpose !== 'mydata';

  // The my-data entry page makes its own flow (no gateway arrival); the others continue one.
  if (needsArrival) {
    app.get(base, async (request, reply) => {
      const query = flowQuery.safeParse(request.query);
      const lang = languageOf(ctx, request, query.data?.lang);
      const state = ctx.tokens.open(query.data?.t);
      if (state?.arrival === undefined) return expiredPage(ctx, reply, lang);
      return sendPage(reply, 200, codeRequestPage(page(state, lang, base), purpose, form(state), {}));
    });
  }

  app.post(base, async (request, reply) => {
    const body = requestForm.safeParse(request.body);
    const lang = languageOf(ctx, request, body.data?.lang);
    const state = body.success ? openForm(ctx, request, body.data) : null;
    if (!body.success || state === null || (needsArrival && state.arrival === undefined)) return expiredPage(ctx, reply, lang);
    const m = catalogues[lang];
    const input = body.data.identifier.trim();
    const name = body.data.name?.replace(/[\p{Cc}\p{Cf}]/gu, '').trim();
    const again = (error: string, status = 400) => sendPage(reply, status, codeRequestPage(page(state, lang, base), purpose, form(state), { identifier: input, name }, error));
    if (name !== undefined && name.length > 60) return again(m.errors.name);
    let phone: string | undefined;
    let subject: string;
    if (purpose === 'login') {
      const identifier = parseIdentifier(input);
      if (identifier === null) return again(m.errors.identifier);
      const member = identifier.kind === 'member' ? ctx.members.byId(identifier.memberId) : ctx.members.byPhone(identifier.phone);
      phone = member?.phone;
      subject = identifier.kind === 'phone' ? identifier.phone : (member?.phone ?? identifier.memberId);
    } else {
      const normalised = normalisePhone(input);
      if (normalised === null) return again(m.errors.phone);
      subject = normalised;
      // Sign-up always sends (a known phone simply logs in); the data page only sends to members.
      phone = purpose === 'signup' || ctx.members.byPhone(normalised) !== undefined ? normalised : undefined;
    }
    const outcome = await ctx.otp.request({
      client: { mall: state.mall, gateway: state.arrival?.gateway ?? 'mydata', clientMac: state.arrival?.clientMac },
      purpose,
      subject,
      destination: phone === undefined ? undefined : { phone, language: lang, text: (code) => format(m.sms.text, { mall: page(state, lang, base).brand.name, code, minutes: Math.round(ctx.portal.otp.codeTtlS / 60) }) },
    });
    if (!outcome.ok) return again(codeError(m, outcome), outcome.reason === 'sendFailed' ? 503 : 429);
    const next: FlowState = { ...state, challenge: { id: outcome.challengeId, purpose, identifier: purpose === 'login' ? input : subject, ...(name ? { name } : {}) } };
    return reply.redirect(flowHref(`${base}/verify`, ctx.tokens.seal(next), lang), 303);
  });

  app.get(`${base}/verify`, async (request, reply) => {
    const query = flowQuery.safeParse(request.query);
    const lang = languageOf(ctx, request, query.data?.lang);
    const state = ctx.tokens.open(query.data?.t);
    if (state?.challenge?.purpose !== purpose) return expiredPage(ctx, reply, lang);
    return sendPage(reply, 200, codeVerifyPage(page(state, lang, `${base}/verify`), purpose, form(state), {}));
  });

  app.post(`${base}/verify`, async (request, reply) => {
    const body = verifyForm.safeParse(request.body);
    const lang = languageOf(ctx, request, body.data?.lang);
    const state = body.success ? openForm(ctx, request, body.data) : null;
    if (!body.success || state?.challenge?.purpose !== purpose) return expiredPage(ctx, reply, lang);
    const m = catalogues[lang];
    const again = (error: string) => sendPage(reply, 400, codeVerifyPage(page(state, lang, `${base}/verify`), purpose, form(state), { error }));
    const code = body.data.code.trim();
    if (!/^\d{6}$/.test(code)) return again(m.errors.codeFormat);
    // Terms first: a matching code is consumed, so the form must be complete before it is checked.
    if (purpose !== 'mydata' && body.data.terms !== 'yes') return again(m.errors.termsRequired);
    const client = { mall: state.mall, gateway: state.arrival?.gateway ?? 'mydata', clientMac: state.arrival?.clientMac };
    const result = ctx.otp.check(client, state.challenge.id, code);
    if (!result.ok) {
      if (result.reason === 'wrong') return again(format(m.errors.codeWrong, { left: result.attemptsLeft }));
      return again(result.reason === 'rateLimited' ? m.errors.rateLimited : m.errors.codeExpired);
    }
    return verified(ctx, request, reply, state, lang, { analytics: body.data.analytics === 'yes', marketing: body.data.marketing === 'yes' });
  });

  app.post(`${base}/resend`, async (request, reply) => {
    const body = resendForm.safeParse(request.body);
    const lang = languageOf(ctx, request, body.data?.lang);
    const state = body.success ? openForm(ctx, request, body.data) : null;
    if (state?.challenge?.purpose !== purpose) return expiredPage(ctx, reply, lang);
    const m = catalogues[lang];
    const { challenge } = state;
    let phone: string | undefined;
    let subject = challenge.identifier;
    if (purpose === 'login') {
      const identifier = parseIdentifier(challenge.identifier);
      const member = identifier === null ? undefined : identifier.kind === 'member' ? ctx.members.byId(identifier.memberId) : ctx.members.byPhone(identifier.phone);
      phone = member?.phone;
      if (identifier?.kind === 'phone') subject = identifier.phone;
      else if (member !== undefined) subject = member.phone;
    } else {
      phone = purpose === 'signup' || ctx.members.byPhone(challenge.identifier) !== undefined ? challenge.identifier : undefined;
    }
    const outcome = await ctx.otp.request({
      client: { mall: state.mall, gateway: state.arrival?.gateway ?? 'mydata', clientMac: state.arrival?.clientMac },
      purpose,
      subject,
      resendOf: challenge.id,
      destination: phone === undefined ? undefined : { phone, language: lang, text: (code) => format(m.sms.text, { mall: page(state, lang, base).brand.name, code, minutes: Math.round(ctx.portal.otp.codeTtlS / 60) }) },
    });
    const p = page(state, lang, `${base}/verify`);
    if (!outcome.ok) return sendPage(reply, outcome.reason === 'sendFailed' ? 503 : 429, codeVerifyPage(p, purpose, form(state), { error: codeError(m, outcome) }));
    const next: FlowState = { ...state, challenge: { ...challenge, id: outcome.challengeId } };
    return sendPage(reply, 200, codeVerifyPage(p, purpose, form(next), {}));
  });
}

function codeError(m: (typeof catalogues)[Language], outcome: Exclude<CodeOutcome, { ok: true }>): string {
  switch (outcome.reason) {
    case 'cooldown':
      return format(m.errors.cooldown, { seconds: outcome.waitS });
    case 'rateLimited':
      return m.errors.rateLimited;
    case 'sendFailed':
      return m.errors.sendFailed;
  }
}
