import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { reportCsv } from '../../dashboards/campaigns/csv.ts';
import { CampaignValidationError } from '../../dashboards/campaigns/model.ts';
import { editPage, type FormValues, listPage, messagePage, notices, reportPage } from '../../dashboards/campaigns/page/views.ts';
import { reportOptionsDefaults } from '../../dashboards/campaigns/report.ts';
import { CampaignConflictError, CampaignNotFoundError } from '../../dashboards/campaigns/repository.ts';
import type { CampaignService } from '../../dashboards/campaigns/service.ts';
import type { SafeHtml } from '../../portal/html/escape.ts';
import { idSchema } from '../../protocol/ids.ts';
import { type OpsRole, roleAllows, type TokenBook } from '../auth.ts';

const css = readFileSync(new URL('../../dashboards/campaigns/page/page.css', import.meta.url), 'utf8');

/** No scripts at all; styles and form posts only to this origin; never framed (clickjacking). */
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

const realm = 'Basic realm="PlazaPulse campaigns", charset="UTF-8"';

const formSchema = z.object({
  csrf: z.string().max(128).default(''),
  name: z.string().max(1000).default(''),
  mall: z.string().max(200).default(''),
  stores: z.string().max(20_000).default(''),
  controlStores: z.string().max(20_000).default(''),
  start: z.string().max(100).default(''),
  end: z.string().max(100).default(''),
  notes: z.string().max(10_000).default(''),
});
const paramsSchema = z.strictObject({ id: idSchema });
const weeksSchema = z.object({ weeks: z.coerce.number<string>().int().min(reportOptionsDefaults.minWeeks).max(reportOptionsDefaults.maxWeeks).optional() });

interface Viewer {
  role: OpsRole;
  csrf: string;
}

function page(reply: FastifyReply, body: SafeHtml, status = 200): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', contentSecurityPolicy)
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    // same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` with form posts.
    .header('referrer-policy', 'same-origin')
    .header('cache-control', 'no-store')
    .send(body.value);
}

/**
 * `/campaigns`: a server-rendered page to manage campaigns and read reports, without JavaScript. The browser
 * signs in with HTTP Basic (any user name, the ops token as password), which plain HTML forms carry along.
 * Because the browser then sends the credential by itself, every POST also needs a CSRF token bound to that
 * credential and a same-origin Origin / Sec-Fetch-Site where the browser sends them.
 */
export function registerCampaignPage(app: FastifyInstance, deps: { campaigns?: CampaignService | undefined }, tokens: TokenBook): void {
  const campaigns = deps.campaigns;
  if (campaigns === undefined) return;
  // Per process: a restart only means reloading the page before the next submit.
  const csrfKey = randomBytes(32);
  const csrfOf = (presented: string): string => createHmac('sha256', csrfKey).update(presented).digest('base64url');

  const signIn = (reply: FastifyReply): FastifyReply =>
    page(reply.header('www-authenticate', realm), messagePage('Sign in', 'Sign in with any user name and your ops API token as the password.'), 401);

  const viewerOf = (request: FastifyRequest, reply: FastifyReply): Viewer | undefined => {
    if (tokens.empty) {
      void page(reply, messagePage('Campaigns disabled', 'The ops API is disabled: set PLAZA_OPS_TOKEN.'), 503);
      return undefined;
    }
    const header = request.headers.authorization ?? '';
    const decoded = header.startsWith('Basic ') ? Buffer.from(header.slice(6), 'base64').toString('utf8') : '';
    const presented = decoded.includes(':') ? decoded.slice(decoded.indexOf(':') + 1) : '';
    const principal = tokens.identify(presented);
    if (principal === undefined) {
      void signIn(reply);
      return undefined;
    }
    return { role: principal.role, csrf: csrfOf(presented) };
  };

  /** A change needs the marketer role, a matching CSRF token and, where the browser says, the same origin. */
  const changeAllowed = (request: FastifyRequest, reply: FastifyReply, viewer: Viewer, csrf: string): boolean => {
    const site = request.headers['sec-fetch-site'];
    const crossSite = (site !== undefined && site !== 'same-origin' && site !== 'none') || !sameOrigin(request.headers.origin, request.headers.host);
    const given = Buffer.from(csrf);
    const expected = Buffer.from(viewer.csrf);
    if (crossSite || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      void page(reply, messagePage('Refused', 'This form is out of date or came from another site. Reload the page and try again.'), 403);
      return false;
    }
    if (!roleAllows(viewer.role, 'marketer')) {
      void page(reply, messagePage('Not allowed', 'Creating, editing and deleting campaigns needs the marketer role.'), 403);
      return false;
    }
    return true;
  };

  const input = (form: FormValues) => ({
    name: form.name,
    mall: form.mall.trim(),
    stores: form.stores,
    controlStores: form.controlStores,
    start: form.start,
    end: form.end,
    notes: form.notes,
  });

  const views = () => campaigns.list().map((c) => campaigns.view(c));
  const noticeOf = (request: FastifyRequest): string | undefined => {
    const done = (request.query as Record<string, unknown>).done;
    return typeof done === 'string' && Object.hasOwn(notices, done) ? notices[done] : undefined;
  };

  app.register(async (pages) => {
    await pages.register(formbody, { bodyLimit: 64 * 1024 });

    pages.get('/campaigns/page.css', async (_request, reply) =>
      reply.header('content-type', 'text/css; charset=utf-8').header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(css),
    );

    pages.get('/campaigns', async (request, reply) => {
      const viewer = viewerOf(request, reply);
      if (viewer === undefined) return reply;
      return page(reply, listPage({ campaigns: views(), canEdit: roleAllows(viewer.role, 'marketer'), csrf: viewer.csrf, notice: noticeOf(request) }));
    });

    pages.post('/campaigns', async (request, reply) => {
      const viewer = viewerOf(request, reply);
      if (viewer === undefined) return reply;
      const form = formSchema.safeParse(request.body ?? {});
      if (!form.success) return page(reply, messagePage('Refused', 'The form could not be read.'), 400);
      if (!changeAllowed(request, reply, viewer, form.data.csrf)) return reply;
      try {
        const { campaign } = await campaigns.create(input(form.data));
        request.log.info({ campaign: campaign.id, by: 'page' }, 'campaign created');
        return reply.code(303).header('location', `/campaigns/${campaign.id}?done=created`).send();
      } catch (error) {
        const errors = error instanceof CampaignValidationError ? error.problems : error instanceof CampaignConflictError ? [error.message] : undefined;
        if (errors === undefined) throw error;
        return page(reply, listPage({ campaigns: views(), canEdit: true, csrf: viewer.csrf, form: form.data, errors }), 400);
      }
    });

    pages.get('/campaigns/:id', async (request, reply) => {
      const viewer = viewerOf(request, reply);
      if (viewer === undefined) return reply;
      const campaign = idOf(request) === undefined ? undefined : campaigns.get(idOf(request) as string);
      if (campaign === undefined) return page(reply, messagePage('Not found', 'There is no such campaign.'), 404);
      return page(reply, editPage({ campaign: campaigns.view(campaign), canEdit: roleAllows(viewer.role, 'marketer'), csrf: viewer.csrf, notice: noticeOf(request) }));
    });

    pages.post('/campaigns/:id', async (request, reply) => {
      const viewer = viewerOf(request, reply);
      if (viewer === undefined) return reply;
      const id = idOf(request);
      const form = formSchema.safeParse(request.body ?? {});
      if (id === undefined || !form.success) return page(reply, messagePage('Refused', 'The form could not be read.'), 400);
      if (!changeAllowed(request, reply, viewer, form.data.csrf)) return reply;
      try {
        await campaigns.update(id, input(form.data));
        return reply.code(303).header('location', `/campaigns/${id}?done=updated`).send();
      } catch (error) {
        if (error instanceof CampaignNotFoundError) return page(reply, messagePage('Not found', 'There is no such campaign.'), 404);
        if (!(error instanceof CampaignValidationError)) throw error;
        const stored = campaigns.get(id);
        if (stored === undefined) return page(reply, messagePage('Not found', 'There is no such campaign.'), 404);
        return page(reply, editPage({ campaign: campaigns.view(stored), canEdit: true, csrf: viewer.csrf, form: form.data, errors: error.problems }), 400);
      }
    });

    pages.post('/campaigns/:id/delete', async (request, reply) => {
      const viewer = viewerOf(request, reply);
      if (viewer === undefined) return reply;
      const id = idOf(request);
      const form = formSchema.safeParse(request.body ?? {});
      if (id === undefined || !form.success) return page(reply, messagePage('Refused', 'The form could not be read.'), 400);
      if (!changeAllowed(request, reply, viewer, form.data.csrf)) return reply;
      try {
        await campaigns.delete(id);
      } catch (error) {
        if (error instanceof CampaignNotFoundError) return page(reply, messagePage('Not found', 'There is no such campaign.'), 404);
        throw error;
      }
      return reply.code(303).header('location', '/campaigns?done=deleted').send();
    });

    const report = async (request: FastifyRequest, reply: FastifyReply, format: 'html' | 'csv'): Promise<FastifyReply> => {
      const viewer = viewerOf(request, reply);
      if (viewer === undefined) return reply;
      const id = idOf(request);
      const campaign = id === undefined ? undefined : campaigns.get(id);
      if (campaign === undefined) return page(reply, messagePage('Not found', 'There is no such campaign.'), 404);
      const query = weeksSchema.safeParse(request.query);
      if (!query.success) return page(reply, messagePage('Refused', `Baseline weeks must be a whole number from ${reportOptionsDefaults.minWeeks} to ${reportOptionsDefaults.maxWeeks}.`), 400);
      if (!campaigns.hasStore) return page(reply, messagePage('Unavailable', 'No time-series store in this process.'), 503);
      const weeks = query.data.weeks ?? reportOptionsDefaults.weeks;
      const result = await campaigns.report(campaign, { weeks });
      if (format === 'html') return page(reply, reportPage(result, weeks));
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="campaign-${campaign.id}.csv"`)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(`\uFEFF${reportCsv(result)}`);
    };
    pages.get('/campaigns/:id/report', (request, reply) => report(request, reply, 'html'));
    pages.get('/campaigns/:id/report.csv', (request, reply) => report(request, reply, 'csv'));
  });
}

/** True when the browser sent no Origin (older browsers, some same-origin GET-to-POST flows) or this host's. */
function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === (host ?? '');
  } catch {
    return false; // "null" (sandboxed or privacy-sensitive contexts) and malformed origins
  }
}

function idOf(request: FastifyRequest): string | undefined {
  const parsed = paramsSchema.safeParse(request.params);
  return parsed.success ? parsed.data.id : undefined;
}
