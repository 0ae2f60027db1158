import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * A stand-in UniFi Network controller, following the documented/observed API: legacy session login (classic
 * `/api/login` with cookies `unifises` + `csrf_token`; UniFi OS `/api/auth/login` with cookie `TOKEN`, header
 * `x-csrf-token` and rotation via `x-updated-csrf-token`, Network under `/proxy/network`), the `cmd/stamgr`
 * `authorize-guest` command answering errors as HTTP 200 `{"meta":{"rc":"error","msg":"api.err.…"}}`, and the
 * Integration API (`X-API-KEY`, `/proxy/network/integration/v1/…`, `AUTHORIZE_GUEST_ACCESS`).
 */

export interface StandInClient {
  id: string;
  macAddress: string;
  ipAddress: string;
  /** The client is listed only from this look-up on (a client that just joined is not listed at once). */
  visibleFromLookup?: number;
}

export interface StandInOptions {
  flavour: 'classic' | 'unifios';
  username?: string;
  password?: string;
  apiKey?: string;
  site?: string;
  /** How an expired session is reported on stamgr: 401, or the older HTTP 200 + api.err.LoginRequired. */
  loginRequiredStatus?: 200 | 401;
  clients?: StandInClient[];
  https?: { key: string; cert: string };
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

export class UnifiStandIn {
  readonly requests: RecordedRequest[] = [];
  readonly authorized: Array<{ mac: string; minutes: number }> = [];
  logins = 0;
  /** While set, every request waits this long before answering (timeout tests). */
  delayMs = 0;
  private readonly sessions = new Map<string, string>();
  private readonly lookups = new Map<string, number>();
  private app: FastifyInstance | undefined;
  url = '';

  constructor(private readonly options: StandInOptions) {}

  expireSessions(): void {
    this.sessions.clear();
  }

  async start(): Promise<void> {
    // Typed as the plain-HTTP instance: the routes do not care which transport carries them.
    const app = (this.options.https !== undefined ? Fastify({ https: this.options.https }) : Fastify()) as unknown as FastifyInstance;
    this.app = app;
    const o = this.options;
    const site = o.site ?? 'default';
    const prefix = o.flavour === 'unifios' ? '/proxy/network' : '';

    app.addHook('onRequest', async (request) => {
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      this.requests.push({ method: request.method, path: request.url, headers: request.headers, body: undefined });
    });
    app.addHook('preHandler', async (request) => {
      const last = this.requests.at(-1);
      if (last !== undefined) last.body = request.body;
    });

    app.post(o.flavour === 'unifios' ? '/api/auth/login' : '/api/login', async (request, reply) => {
      const body = request.body as { username?: string; password?: string } | undefined;
      if (body?.username !== o.username || body?.password !== o.password) {
        return o.flavour === 'unifios'
          ? reply.code(401).send({ code: 'AUTHENTICATION_FAILED_INVALID_CREDENTIALS', message: 'Invalid username or password' })
          : reply.code(400).send({ meta: { rc: 'error', msg: 'api.err.Invalid' }, data: [] });
      }
      this.logins += 1;
      const session = randomBytes(12).toString('hex');
      const csrf = randomBytes(12).toString('hex');
      this.sessions.set(session, csrf);
      if (o.flavour === 'unifios') {
        reply.header('set-cookie', [`TOKEN=${session}; path=/; samesite=strict; secure; httponly`]).header('x-csrf-token', csrf);
        return { unique_id: 'u1', username: o.username };
      }
      reply.header('set-cookie', [`unifises=${session}; Path=/; Secure; HttpOnly`, `csrf_token=${csrf}; Path=/; Secure`]);
      return { meta: { rc: 'ok' }, data: [] };
    });

    app.post(`${prefix}/api/s/:site/cmd/stamgr`, async (request: FastifyRequest<{ Params: { site: string } }>, reply) => {
      const session = sessionFrom(request.headers.cookie, o.flavour === 'unifios' ? 'TOKEN' : 'unifises');
      const csrf = session === undefined ? undefined : this.sessions.get(session);
      if (csrf === undefined) return reply.code(o.loginRequiredStatus ?? 401).send({ meta: { rc: 'error', msg: 'api.err.LoginRequired' }, data: [] });
      if (request.headers['x-csrf-token'] !== csrf) return reply.code(403).send({ meta: { rc: 'error', msg: 'api.err.InvalidCSRFToken' }, data: [] });
      if (o.flavour === 'unifios' && session !== undefined) this.rotateCsrf(session, reply);
      // The controller's habit: errors are HTTP 200 with meta.rc "error".
      if (request.params.site !== site) return { meta: { rc: 'error', msg: 'api.err.NoSiteContext' }, data: [] };
      const body = request.body as { cmd?: string; mac?: string; minutes?: number };
      if (body.cmd !== 'authorize-guest' || typeof body.mac !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(body.mac)) {
        return { meta: { rc: 'error', msg: 'api.err.InvalidPayload' }, data: [] };
      }
      this.authorized.push({ mac: body.mac, minutes: body.minutes ?? -1 });
      return { meta: { rc: 'ok' }, data: [{ authorized_by: 'api', mac: body.mac, minutes: body.minutes }] };
    });

    const integration = '/proxy/network/integration/v1';
    const siteId = '88f7af54-98f8-306a-a1c7-c9349722b1f6';
    const keyOk = (request: FastifyRequest, reply: FastifyReply): boolean => {
      if (request.headers['x-api-key'] === o.apiKey && o.apiKey !== undefined) return true;
      void reply.code(401).send({ statusCode: 401, statusName: 'UNAUTHORIZED', code: 'api.authentication.missing-credentials', message: 'Missing credentials' });
      return false;
    };
    app.get(`${integration}/sites`, async (request, reply) => {
      if (!keyOk(request, reply)) return reply;
      return { offset: 0, limit: 25, count: 1, totalCount: 1, data: [{ id: siteId, internalReference: site, name: 'Default' }] };
    });
    app.get(`${integration}/sites/:siteId/clients`, async (request: FastifyRequest<{ Params: { siteId: string }; Querystring: { filter?: string } }>, reply) => {
      if (!keyOk(request, reply)) return reply;
      if (request.params.siteId !== siteId) return reply.code(404).send({ statusCode: 404, statusName: 'NOT_FOUND', code: 'api.site.not-found', message: 'Site not found' });
      const mac = /^macAddress\.eq\('([0-9a-f:]+)'\)$/.exec(request.query.filter ?? '')?.[1];
      const seen = (this.lookups.get(mac ?? '') ?? 0) + 1;
      this.lookups.set(mac ?? '', seen);
      const data = (o.clients ?? []).filter((c) => c.macAddress === mac && seen >= (c.visibleFromLookup ?? 1)).map(({ id, macAddress, ipAddress }) => ({ id, macAddress, ipAddress, type: 'WIRELESS' }));
      return { offset: 0, limit: 25, count: data.length, totalCount: data.length, data };
    });
    app.post(`${integration}/sites/:siteId/clients/:clientId/actions`, async (request: FastifyRequest<{ Params: { siteId: string; clientId: string } }>, reply) => {
      if (!keyOk(request, reply)) return reply;
      const client = (o.clients ?? []).find((c) => c.id === request.params.clientId);
      const body = request.body as { action?: string; timeLimitMinutes?: number };
      if (client === undefined) return reply.code(404).send({ statusCode: 404, statusName: 'NOT_FOUND', code: 'api.client.not-found', message: 'Client not found' });
      if (body.action !== 'AUTHORIZE_GUEST_ACCESS') return reply.code(400).send({ statusCode: 400, statusName: 'BAD_REQUEST', code: 'api.request.invalid', message: 'Bad action' });
      this.authorized.push({ mac: client.macAddress, minutes: body.timeLimitMinutes ?? -1 });
      const now = new Date();
      return { action: 'AUTHORIZE_GUEST_ACCESS', grantedAuthorization: { authorizedAt: now.toISOString(), expiresAt: new Date(now.getTime() + (body.timeLimitMinutes ?? 0) * 60_000).toISOString() } };
    });

    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    this.url = address;
  }

  async stop(): Promise<void> {
    await this.app?.close();
  }

  private rotateCsrf(session: string, reply: FastifyReply): void {
    const next = randomBytes(12).toString('hex');
    this.sessions.set(session, next);
    reply.header('x-updated-csrf-token', next);
  }
}

function sessionFrom(cookie: string | undefined, name: string): string | undefined {
  for (const part of (cookie ?? '').split(';')) {
    const [key, value] = part.trim().split('=');
    if (key === name) return value;
  }
  return undefined;
}
