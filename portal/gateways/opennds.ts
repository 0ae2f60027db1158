import type { FastifyInstance } from 'fastify';
import { AuthmonQueues } from './opennds-authmon.ts';
import { decodeFasLevel1, decryptFas, type FasFields, parseFasFields } from './opennds-fas.ts';
import type { OpenndsSettings } from './settings.ts';
import {
  type GatewayAdapter,
  type GatewayArrival,
  type GatewayDeps,
  GatewayError,
  type GrantRequest,
  type GrantResult,
  type GrantStatus,
} from './types.ts';
import { isAllowedGatewayHost, redirectToArrival, required, safeHttpUrl, sha256Hex, sourceAllowlist, splitHostPort } from './util.ts';

/**
 * openNDS Forward Authentication Service, levels 1–3 (openNDS docs "FAS"). The portal never sees the client
 * token: openNDS sends `hid = sha256(token)` and accepts `rhid = sha256(hid + faskey)` back, through the
 * browser at `http://gatewayaddress/authdir/?tok=rhid` (levels 1, 2) or through authmon polling (level 3).
 */
export class OpenndsAdapter implements GatewayAdapter {
  readonly kind = 'opennds' as const;
  private readonly queues: AuthmonQueues;
  private readonly now: () => number;

  constructor(
    private readonly settings: OpenndsSettings,
    private readonly deps: GatewayDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.queues = new AuthmonQueues(settings, Buffer.from(`mall=${deps.mall}`).toString('base64'), this.now);
  }

  async parseArrival(query: Readonly<Record<string, string | undefined>>): Promise<GatewayArrival> {
    const level = this.settings.fasLevel;
    const fas = required(query, 'fas', 8192);
    // The configured level decides the decoding: a level-1 (unencrypted) query sent to a level-3 portal is a
    // downgrade attempt to forge the MAC, not a variant to accept.
    const plain = level === 1 ? decodeFasLevel1(fas) : decryptFas(fas, required(query, 'iv', 64), this.settings.faskey);
    const fields = parseFasFields(plain);
    if (this.settings.gatewayNames !== undefined && !this.settings.gatewayNames.includes(fields.gatewayName)) {
      throw new GatewayError('openNDS gateway name is not configured for this mall', 'invalid');
    }
    const target = this.grantTarget(fields);
    const originalUrl = safeHttpUrl(fields.originUrl);
    return {
      gateway: 'opennds',
      mall: this.deps.mall,
      clientMac: fields.clientMac,
      // Level 3 is encrypted under the faskey and travels over https only; level 2 is encrypted but sent over
      // plain http on the open Wi-Fi, where it can be captured and replayed; level 1 is editable base64.
      macTrusted: level === 3,
      apId: fields.gatewayMac ?? fields.gatewayName,
      clientIp: fields.clientIp,
      ...(originalUrl !== undefined ? { originalUrl } : {}),
      grantState: {
        level: String(level),
        hid: fields.hid,
        gatewayAddress: target,
        authDir: fields.authDir ?? this.settings.authDir,
        gatewayHash: sha256Hex(fields.gatewayNameRaw.trim()),
        ...(fields.clientIf !== undefined ? { clientIf: fields.clientIf } : {}),
      },
    };
  }

  async grant(arrival: GatewayArrival, request: GrantRequest): Promise<GrantResult> {
    const { hid, gatewayAddress, authDir, gatewayHash, level } = this.state(arrival);
    const rhid = this.rhid(hid);
    const continueUrl = request.continueUrl ?? arrival.originalUrl;
    if (level === '3') {
      this.queues.enqueue(gatewayHash, rhid, request.sessionS);
      this.deps.logger.debug({ event: 'grant-queued' }, 'openNDS grant waits for authmon');
      return { kind: 'pending', pollAfterMs: this.settings.pollAfterMs, ...(continueUrl !== undefined ? { continueUrl } : {}) };
    }
    const url = new URL(`http://${gatewayAddress}/${authDir}/`);
    url.searchParams.set('tok', rhid);
    if (continueUrl !== undefined) url.searchParams.set('redir', continueUrl);
    return { kind: 'redirect', url: url.href };
  }

  async grantStatus(arrival: GatewayArrival): Promise<GrantStatus> {
    const { hid, gatewayHash, level } = this.state(arrival);
    if (level !== '3') return 'granted';
    return this.queues.status(gatewayHash, this.rhid(hid));
  }

  /** POST on the FAS path: authmon's polls (the same URL the arrival GET uses); GET hands on to the arrival page. */
  registerRoutes(app: FastifyInstance): void {
    redirectToArrival(app, ['/'], this.deps.arrivalPath);
    const allowed = sourceAllowlist(this.settings.authmonSources);
    if (!app.hasContentTypeParser('application/x-www-form-urlencoded')) {
      app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16_384 }, (_request, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(typeof body === 'string' ? body : body.toString('latin1'))));
      });
    }
    app.post('/', async (request, reply) => {
      if (allowed !== undefined && !allowed(request.ip)) {
        return reply.code(403).type('text/plain; charset=utf-8').send('forbidden');
      }
      const body = request.body !== null && typeof request.body === 'object' ? (request.body as Record<string, unknown>) : {};
      const fields: Record<string, string | undefined> = {};
      for (const name of ['auth_get', 'gatewayhash', 'payload']) {
        const value = body[name];
        if (typeof value === 'string' && value.length <= 8192) fields[name] = value;
      }
      const answer = this.queues.handle(fields);
      this.deps.logger.debug({ event: `authmon-${answer.event}`, count: answer.count }, 'openNDS authmon poll');
      return reply.code(answer.status).type('text/plain; charset=utf-8').send(answer.text);
    });
  }

  private rhid(hid: string): string {
    return sha256Hex(hid.trim() + this.settings.faskey.trim());
  }

  private grantTarget(fields: FasFields): string {
    const target = splitHostPort(fields.gatewayAddress);
    if (target === undefined || !isAllowedGatewayHost(target.host, target.port, this.settings.gatewayAddresses)) {
      throw new GatewayError('openNDS gatewayaddress is not an allowed gateway', 'invalid');
    }
    return `${target.host}:${target.port}`;
  }

  private state(arrival: GatewayArrival): { hid: string; gatewayAddress: string; authDir: string; gatewayHash: string; level: string } {
    const { hid, gatewayAddress, authDir, gatewayHash, level } = arrival.grantState;
    if (arrival.gateway !== 'opennds' || hid === undefined || gatewayAddress === undefined || authDir === undefined || gatewayHash === undefined || level === undefined) {
      throw new GatewayError('arrival was not made by the openNDS adapter', 'invalid');
    }
    return { hid, gatewayAddress, authDir, gatewayHash, level };
  }
}
