import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { reportCsv } from '../../../dashboards/campaigns/csv.ts';
import { CampaignValidationError } from '../../../dashboards/campaigns/model.ts';
import { type CampaignReport, reportOptionsDefaults } from '../../../dashboards/campaigns/report.ts';
import { CampaignConflictError, CampaignNotFoundError } from '../../../dashboards/campaigns/repository.ts';
import type { CampaignService } from '../../../dashboards/campaigns/service.ts';
import { StoreError } from '../../../ingest/store/types.ts';
import { idSchema } from '../../../protocol/ids.ts';

const paramsSchema = z.strictObject({ id: idSchema });
const listSchema = z.strictObject({ mall: idSchema.optional() });
const dateList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  .pipe(z.array(z.iso.date()).max(366));
export const reportQuerySchema = z.strictObject({
  weeks: z.coerce.number<string>().int().min(reportOptionsDefaults.minWeeks).max(reportOptionsDefaults.maxWeeks).optional(),
  /** Local dates left out of the baseline (holidays), comma-separated YYYY-MM-DD. */
  exclude: dateList.optional(),
  format: z.enum(['json', 'csv']).default('json'),
});

function issues(error: z.ZodError): string[] {
  return error.issues.slice(0, 20).map((i) => `${i.path.join('.') || '(query)'}: ${i.message}`);
}

/** Maps the service's errors onto 400 / 404 / 409; anything else is the error handler's 500. */
export function sendCampaignError(reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof CampaignValidationError) return reply.code(400).send({ error: 'invalid campaign', issues: error.problems });
  if (error instanceof CampaignNotFoundError) return reply.code(404).send({ error: error.message });
  if (error instanceof CampaignConflictError) return reply.code(409).send({ error: error.message });
  throw error;
}

/**
 * `/api/campaigns[/:id[/report]]`: campaign CRUD and the uplift report (docs/campaigns.md). Roles (ops/auth.ts
 * routeRoles): any token reads campaigns and reports; marketer and admin create, edit and delete.
 */
export function registerCampaignRoutes(app: FastifyInstance, deps: { campaigns?: CampaignService | undefined }): void {
  const service = (reply: FastifyReply): CampaignService | undefined => {
    if (deps.campaigns === undefined) void reply.code(503).send({ error: 'campaigns are not available in this process' });
    return deps.campaigns;
  };

  app.get('/campaigns', async (request, reply) => {
    const query = listSchema.safeParse(request.query);
    if (!query.success) return reply.code(400).send({ error: 'invalid query', issues: issues(query.error) });
    const campaigns = service(reply);
    if (campaigns === undefined) return reply;
    return { campaigns: campaigns.list(query.data.mall).map((c) => campaigns.view(c)) };
  });

  app.post('/campaigns', async (request, reply) => {
    const campaigns = service(reply);
    if (campaigns === undefined) return reply;
    try {
      const { campaign, annotation } = await campaigns.create(request.body);
      request.log.info({ campaign: campaign.id, mall: campaign.mall, by: request.opsPrincipal?.name }, 'campaign created');
      return reply.code(201).header('location', `/api/campaigns/${campaign.id}`).send({ campaign: campaigns.view(campaign), annotation });
    } catch (error) {
      return sendCampaignError(reply, error);
    }
  });

  app.get('/campaigns/:id', async (request, reply) => {
    const params = paramsSchema.safeParse(request.params);
    if (!params.success) return reply.code(400).send({ error: 'invalid campaign id', issues: issues(params.error) });
    const campaigns = service(reply);
    if (campaigns === undefined) return reply;
    const campaign = campaigns.get(params.data.id);
    if (campaign === undefined) return reply.code(404).send({ error: `no campaign ${params.data.id}` });
    return { campaign: campaigns.view(campaign) };
  });

  app.put('/campaigns/:id', async (request, reply) => {
    const params = paramsSchema.safeParse(request.params);
    if (!params.success) return reply.code(400).send({ error: 'invalid campaign id', issues: issues(params.error) });
    const body = request.body;
    if (typeof body === 'object' && body !== null && 'id' in body && body.id !== params.data.id) {
      return reply.code(400).send({ error: 'invalid campaign', issues: ['id: does not match the URL; a campaign id cannot change'] });
    }
    const campaigns = service(reply);
    if (campaigns === undefined) return reply;
    try {
      const { campaign, annotation } = await campaigns.update(params.data.id, body);
      request.log.info({ campaign: campaign.id, by: request.opsPrincipal?.name }, 'campaign updated');
      return { campaign: campaigns.view(campaign), annotation };
    } catch (error) {
      return sendCampaignError(reply, error);
    }
  });

  app.delete('/campaigns/:id', async (request, reply) => {
    const params = paramsSchema.safeParse(request.params);
    if (!params.success) return reply.code(400).send({ error: 'invalid campaign id', issues: issues(params.error) });
    const campaigns = service(reply);
    if (campaigns === undefined) return reply;
    try {
      const { campaign, annotation } = await campaigns.delete(params.data.id);
      request.log.info({ campaign: campaign.id, by: request.opsPrincipal?.name }, 'campaign deleted');
      return { deleted: campaign.id, annotation };
    } catch (error) {
      return sendCampaignError(reply, error);
    }
  });

  app.get('/campaigns/:id/report', async (request, reply) => {
    const params = paramsSchema.safeParse(request.params);
    if (!params.success) return reply.code(400).send({ error: 'invalid campaign id', issues: issues(params.error) });
    const query = reportQuerySchema.safeParse(request.query);
    if (!query.success) return reply.code(400).send({ error: 'invalid query', issues: issues(query.error) });
    const campaigns = service(reply);
    if (campaigns === undefined) return reply;
    const campaign = campaigns.get(params.data.id);
    if (campaign === undefined) return reply.code(404).send({ error: `no campaign ${params.data.id}` });
    if (!campaigns.hasStore) return reply.code(503).send({ error: 'no time-series store in this process' });
    const { weeks, exclude, format } = query.data;
    let report: CampaignReport;
    try {
      report = await campaigns.report(campaign, { ...(weeks === undefined ? {} : { weeks }), ...(exclude === undefined ? {} : { excludeDates: exclude }) });
    } catch (error) {
      if (!(error instanceof StoreError && error.retryable)) throw error;
      request.log.warn({ err: error.message, campaign: campaign.id }, 'store unavailable for a campaign report');
      return reply.code(503).header('retry-after', '30').send({ error: 'time-series store unavailable; retry later' });
    }
    if (format === 'json') return report;
    return (
      reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="campaign-${campaign.id}.csv"`)
        // The byte-order mark makes spreadsheet programs read the UTF-8 (Chinese store and campaign names) correctly.
        .send(`\uFEFF${reportCsv(report)}`)
    );
  });
}
