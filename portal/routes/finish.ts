import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { platformTopics } from '../../protocol/platform.ts';
import type { PortalLoginMethod } from '../../protocol/payloads/portal-login.ts';
import { baseUrl, flowHref, languageOf, pageContext, type PortalContext, sendPage } from '../context.ts';
import { safeContinueUrl } from '../flow/continue-url.ts';
import type { FlowState } from '../flow/token.ts';
import { GatewayError } from '../gateways/types.ts';
import type { Language } from '../i18n/index.ts';
import { connectingPage, messagePage } from '../views/pages.ts';

export interface LoginOutcome {
  method: PortalLoginMethod;
  memberId?: string | undefined;
  /** Shown on the success page after a sign-up. */
  memberNumber?: string | undefined;
  analytics: boolean;
  marketing: boolean;
}

/** Grants access through the mall's gateway, publishes the login event and sends the shopper on. */
export async function finishLogin(ctx: PortalContext, request: FastifyRequest, reply: FastifyReply, state: FlowState, lang: Language, outcome: LoginOutcome): Promise<FastifyReply> {
  const page = pageContext(ctx, lang, state.mall, (l) => flowHref('/start', ctx.tokens.seal(state), l));
  const arrival = state.arrival;
  const adapter = ctx.gatewayFor(state.mall);
  if (arrival === undefined || adapter === undefined) return sendPage(reply, 400, messagePage(page, page.m.errors.badRequest, page.m.errors.flowExpired));
  // The success page's token carries no MAC, IP or grant state: gateways pass its URL around in the clear.
  const doneState = ctx.tokens.create({
    mall: state.mall,
    arrival: { gateway: arrival.gateway, mall: arrival.mall, macTrusted: arrival.macTrusted, originalUrl: safeContinueUrl(arrival.originalUrl), grantState: {} },
    done: { method: outcome.method, memberNumber: outcome.memberNumber },
  });
  const doneHref = flowHref('/done', ctx.tokens.seal(doneState), lang);
  const loginRef = randomBytes(12).toString('base64url');
  let result;
  try {
    result = await adapter.grant(arrival, { sessionS: ctx.portal.sessionS, continueUrl: `${baseUrl(ctx, request)}${doneHref}`, loginRef });
  } catch (error) {
    const kind = error instanceof GatewayError ? error.kind : 'upstream';
    ctx.logger.error({ event: 'grant-failed', gateway: arrival.gateway, mall: state.mall, kind, reason: (error as Error).message }, 'gateway grant failed');
    return sendPage(reply, kind === 'invalid' ? 400 : 502, messagePage(page, page.m.errors.gateway, page.m.errors.gateway, flowHref('/start', ctx.tokens.seal(state), lang)));
  }
  const macConfirmed = result.kind !== 'pending' && result.macConfirmed === true;
  const event = ctx.options.events.login({
    arrival,
    method: outcome.method,
    memberId: outcome.memberId,
    analytics: outcome.analytics,
    marketing: outcome.marketing,
    termsVersion: ctx.portal.consentVersions.terms,
    macConfirmed,
  });
  ctx.options.publish(platformTopics.portalLogin(state.mall, ctx.portal.id), event);
  if (event.link === undefined && outcome.memberId !== undefined && outcome.analytics) ctx.confirmations.expect(loginRef, state.mall, outcome.memberId);
  ctx.grants.record(state.mall, arrival.clientIp ?? request.ip, ctx.portal.sessionS);
  ctx.logger.info({ event: 'login', method: outcome.method, gateway: arrival.gateway, mall: state.mall, linked: event.link !== undefined }, 'shopper logged in');
  switch (result.kind) {
    case 'granted':
      return reply.redirect(doneHref, 303);
    case 'pending': {
      // openNDS level 3: authmon picks the grant up; the connecting page re-checks until it has.
      const waitHref = flowHref('/connecting', ctx.tokens.seal({ ...state, done: doneState.done }), lang);
      return sendPage(reply, 200, connectingPage(page, waitHref, Math.max(1, Math.ceil(result.pollAfterMs / 1000))));
    }
    case 'redirect': {
      const grantUrl = safeContinueUrl(result.url);
      if (grantUrl === undefined) {
        ctx.logger.error({ event: 'grant-url-refused', gateway: arrival.gateway }, 'gateway grant URL is not http(s)');
        return sendPage(reply, 502, messagePage(page, page.m.errors.gateway, page.m.errors.gateway));
      }
      return sendPage(reply, 200, connectingPage(page, grantUrl, 1));
    }
  }
}

const waitQuery = z.object({ t: z.string().max(4096).optional(), lang: z.unknown() });

/** `/connecting`: re-checked by meta refresh while a pending grant (openNDS level 3) waits for the gateway. */
export function registerConnectingRoute(app: FastifyInstance, ctx: PortalContext): void {
  app.get('/connecting', async (request, reply) => {
    const query = waitQuery.safeParse(request.query);
    const lang = languageOf(ctx, request, query.data?.lang);
    const state = ctx.tokens.open(query.data?.t);
    const adapter = state === null ? undefined : ctx.gatewayFor(state.mall);
    if (state?.arrival === undefined || state.done === undefined || adapter?.grantStatus === undefined) {
      const page = pageContext(ctx, lang, state?.mall, (l) => `/connecting?lang=${l}`);
      return sendPage(reply, 400, messagePage(page, page.m.errors.flowExpired, page.m.errors.flowExpired));
    }
    const token = ctx.tokens.seal(state);
    const page = pageContext(ctx, lang, state.mall, (l) => flowHref('/connecting', token, l));
    let status;
    try {
      status = await adapter.grantStatus(state.arrival);
    } catch (error) {
      ctx.logger.error({ event: 'grant-status-failed', mall: state.mall, reason: (error as Error).message }, 'grant status check failed');
      status = 'failed' as const;
    }
    if (status === 'pending') return sendPage(reply, 200, connectingPage(page, flowHref('/connecting', token, lang), 2));
    if (status === 'failed') return sendPage(reply, 502, messagePage(page, page.m.errors.gateway, page.m.errors.gateway));
    const doneState = ctx.tokens.create({
      mall: state.mall,
      arrival: { ...state.arrival, clientMac: undefined, clientIp: undefined, grantState: {} },
      done: state.done,
    });
    return reply.redirect(flowHref('/done', ctx.tokens.seal(doneState), lang), 303);
  });
}
