import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Registry } from 'prom-client';
import type { Component } from '../core/component.ts';
import type { Logger } from '../core/logger.ts';
import type { CampaignService } from '../dashboards/campaigns/service.ts';
import type { LiveFeed } from '../dashboards/live/live-view.ts';
import type { TimeSeriesStore } from '../ingest/store/types.ts';
import { bearerGuard, type OpsTokenEntry, TokenBook } from './auth.ts';
import { registerAlertRoutes } from './routes/api/alerts.ts';
import { registerCampaignRoutes } from './routes/api/campaigns.ts';
import { registerFootfallRoutes } from './routes/api/footfall.ts';
import { registerLiveApiRoutes } from './routes/api/live.ts';
import { registerPosRoutes } from './routes/api/pos.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerCampaignPage } from './routes/campaigns-page.ts';
import { registerLiveRoutes } from './routes/live.ts';

/** A component's health; components add their own detail fields, which /health shows as they are. */
export interface HealthCheck {
  ok: boolean;
  reasons: string[];
}

export interface OpsDeps {
  host: string;
  port: number;
  /** The admin token (PLAZA_OPS_TOKEN). */
  token: string | undefined;
  /** Role tokens from the config file (ops.tokens). */
  tokens?: readonly OpsTokenEntry[];
  metrics: Registry;
  logger: Logger;
  /** Health of each component that reports one. */
  health: Record<string, () => HealthCheck>;
  store: TimeSeriesStore | undefined;
  /** The live view (dashboards/live), in processes that run ingest. */
  live?: LiveFeed;
  /** Campaigns and their reports (dashboards/campaigns), in processes that run ops. */
  campaigns?: CampaignService;
}

/** The app as a plugin-free function so tests can use app.inject() without listening. */
export function buildOpsApp(deps: OpsDeps): FastifyInstance {
  const app = Fastify({
    // pino's Logger is fastify's logger; only the generic parameters differ.
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // Request lines would carry query strings; the API logs what it needs itself.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: 30_000,
    bodyLimit: 1024 * 1024,
  });
  // 5xx details stay in the log, never in the response.
  app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error, url: request.routeOptions.url }, 'ops request failed');
      return reply.code(status).send({ error: 'internal error' });
    }
    return reply.code(status).send({ error: error.message });
  });
  const tokens = new TokenBook(deps.token, deps.tokens);
  registerHealthRoutes(app, deps);
  registerLiveRoutes(app, deps, tokens);
  registerCampaignPage(app, deps, tokens);
  app.register(
    async (api) => {
      api.addHook('onRequest', bearerGuard(tokens));
      registerFootfallRoutes(api, deps);
      registerPosRoutes(api, deps);
      registerLiveApiRoutes(api, deps);
      registerAlertRoutes(api, deps);
      registerCampaignRoutes(api, deps);
    },
    { prefix: '/api' },
  );
  return app;
}

/** The ops HTTP server (PLAZA_OPS_PORT): health, metrics and the token-protected API. */
export class OpsServer implements Component {
  readonly name = 'ops';
  private app: FastifyInstance | undefined;

  constructor(private readonly deps: OpsDeps) {}

  get port(): number {
    const address = this.app?.server.address();
    if (typeof address !== 'object' || address === null) throw new Error('ops server is not listening');
    return address.port;
  }

  async start(): Promise<void> {
    this.app = buildOpsApp(this.deps);
    await this.app.listen({ host: this.deps.host, port: this.deps.port });
    this.deps.logger.info({ port: this.port }, 'ops API listening');
  }

  async stop(): Promise<void> {
    await this.app?.close();
    this.app = undefined;
  }
}
