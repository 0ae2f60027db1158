import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { WifidogSettings } from './settings.ts';
import { type GatewayAdapter, type GatewayArrival, type GatewayDeps, GatewayError, type GrantRequest, type GrantResult } from './types.ts';
import { isAllowedGatewayHost, normaliseMac, optional, redirectToArrival, required, safeHttpUrl, sourceAllowlist } from './util.ts';

/**
 * WiFiDog auth-server protocol (wifidog-gateway, apfree-wifidog): the gateway redirects to
 * `<path>login/?gw_address&gw_port&gw_id&ip&mac&url`; after login the browser goes to
 * `http://gw_address:gw_port/wifidog/auth?token=…`; the gateway then asks `<path>auth/?stage=login|counters|logout
 * &ip&mac&token&incoming&outgoing&gw_id` server to server and reads `Auth: 1` (allow) or `Auth: 0` (deny); its
 * heartbeat `<path>ping/?gw_id=…` expects `Pong`. The /auth callback names the MAC the gateway itself sees for
 * the token, which is what makes the login ↔ MAC link trustworthy.
 */

interface TokenEntry {
  gatewayId: string;
  /** MAC the token is bound to: the redirect's claim, or the gateway's first report if there was none. */
  mac?: string;
  loginRef?: string;
  /** Before first use: deadline for stage=login; after it: end of the session. */
  expiresMs: number;
  sessionS: number;
  used: boolean;
}

const authDeny = 'Auth: 0';
const authAllow = 'Auth: 1';

export class WifidogAdapter implements GatewayAdapter {
  readonly kind = 'wifidog' as const;
  private readonly tokens = new Map<string, TokenEntry>();
  private readonly now: () => number;
  private lastPruneMs = 0;

  constructor(
    private readonly settings: WifidogSettings,
    private readonly deps: GatewayDeps,
  ) {
    this.now = deps.now ?? Date.now;
  }

  async parseArrival(query: Readonly<Record<string, string | undefined>>): Promise<GatewayArrival> {
    const gatewayId = required(query, 'gw_id', 64);
    if (!this.settings.gatewayIds.includes(gatewayId)) throw new GatewayError('WiFiDog gw_id is not configured for this mall', 'invalid');
    const host = required(query, 'gw_address', 253);
    const port = Number(required(query, 'gw_port', 5));
    if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new GatewayError('WiFiDog gw_port is not a port', 'invalid');
    if (!isAllowedGatewayHost(host, port, this.settings.gatewayAddresses)) {
      throw new GatewayError('WiFiDog gw_address is not an allowed gateway', 'invalid');
    }
    const clientMac = normaliseMac(optional(query, 'mac'));
    const clientIp = optional(query, 'ip', 64);
    const originalUrl = safeHttpUrl(optional(query, 'url', 2048));
    return {
      gateway: 'wifidog',
      mall: this.deps.mall,
      ...(clientMac !== undefined ? { clientMac } : {}),
      // The redirect's mac is a claim until the gateway's /auth callback repeats it for the token.
      macTrusted: false,
      apId: gatewayId,
      ...(clientIp !== undefined && /^[0-9a-fA-F.:]+$/.test(clientIp) ? { clientIp } : {}),
      ...(originalUrl !== undefined ? { originalUrl } : {}),
      grantState: { gatewayId, gatewayAddress: `${host}:${port}` },
    };
  }

  async grant(arrival: GatewayArrival, request: GrantRequest): Promise<GrantResult> {
    const { gatewayId, gatewayAddress } = arrival.grantState;
    if (arrival.gateway !== 'wifidog' || gatewayId === undefined || gatewayAddress === undefined) {
      throw new GatewayError('arrival was not made by the WiFiDog adapter', 'invalid');
    }
    this.prune();
    const token = randomBytes(24).toString('base64url');
    this.tokens.set(token, {
      gatewayId,
      ...(arrival.clientMac !== undefined ? { mac: arrival.clientMac } : {}),
      ...(request.loginRef !== undefined ? { loginRef: request.loginRef } : {}),
      expiresMs: this.now() + this.settings.tokenTtlMs,
      sessionS: request.sessionS,
      used: false,
    });
    while (this.tokens.size > this.settings.maxTokens) {
      const oldest = this.tokens.keys().next();
      if (oldest.done === true) break;
      this.tokens.delete(oldest.value);
    }
    return { kind: 'redirect', url: `http://${gatewayAddress}/wifidog/auth?token=${token}` };
  }

  /** The gateway-facing endpoints, relative to the mall's gateway prefix (WiFiDog `AuthServer.Path`). */
  registerRoutes(app: FastifyInstance): void {
    const fromGateway = sourceAllowlist(this.settings.gatewaySources);
    const text = (reply: FastifyReply, body: string): FastifyReply => reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(body);
    const query = (raw: unknown): Record<string, string | undefined> => {
      const out: Record<string, string | undefined> = {};
      if (raw !== null && typeof raw === 'object') {
        for (const [name, value] of Object.entries(raw)) if (typeof value === 'string' && value.length <= 512) out[name] = value;
      }
      return out;
    };

    redirectToArrival(app, ['/login', '/login/'], this.deps.arrivalPath);
    for (const path of ['/auth', '/auth/']) {
      app.get(path, async (request, reply) => {
        const trusted = fromGateway?.(request.ip);
        if (trusted === false) return reply.code(403).send();
        return text(reply, this.authCallback(query(request.query), trusted === true));
      });
    }
    for (const path of ['/ping', '/ping/']) {
      app.get(path, async (request, reply) => {
        if (fromGateway?.(request.ip) === false) return reply.code(403).send();
        const q = query(request.query);
        // apfree-wifidog names the gateway device_id.
        const id = q.gw_id ?? q.device_id;
        if (id === undefined || !this.settings.gatewayIds.includes(id)) return reply.code(404).send();
        return text(reply, 'Pong');
      });
    }
    for (const path of ['/gw_message.php', '/gw_message', '/gw_message/']) {
      app.get(path, async (request, reply) => {
        const message = query(request.query).message;
        const known = message === 'denied' || message === 'activate' || message === 'failed_validation' ? message : 'unknown';
        this.deps.logger.info({ event: 'wifidog-gw-message', message: known }, 'WiFiDog gateway message');
        return reply
          .type('text/html; charset=utf-8')
          .header('cache-control', 'no-store')
          .send('<!doctype html><html lang="en"><meta charset="utf-8"><title>Wi-Fi</title><p>Wi-Fi access was not granted. Please reconnect and try again.</p></html>');
      });
    }
  }

  /** One /auth callback; answers `Auth: 1` only for a live token of this gateway presented for its MAC. */
  authCallback(q: Readonly<Record<string, string | undefined>>, fromTrustedSource: boolean): string {
    this.prune();
    const token = q.token;
    const mac = normaliseMac(q.mac);
    const gatewayId = q.gw_id ?? q.device_id;
    const entry = token === undefined ? undefined : this.tokens.get(token);
    if (token === undefined || entry === undefined || mac === undefined || entry.expiresMs <= this.now()) return authDeny;
    if (gatewayId !== undefined && gatewayId !== entry.gatewayId) return authDeny;
    if (entry.mac !== undefined && entry.mac !== mac) {
      this.deps.logger.warn({ event: 'wifidog-mac-mismatch', stage: q.stage }, 'WiFiDog token presented for another MAC');
      return authDeny;
    }
    switch (q.stage) {
      case 'login': {
        if (entry.used) return authDeny;
        entry.used = true;
        entry.mac = mac;
        entry.expiresMs = this.now() + entry.sessionS * 1000;
        if (fromTrustedSource && entry.loginRef !== undefined) {
          this.deps.onConfirmed?.({ gateway: 'wifidog', mall: this.deps.mall, loginRef: entry.loginRef, clientMac: mac });
        }
        return authAllow;
      }
      case 'counters':
        return entry.used ? authAllow : authDeny;
      case 'logout':
        this.tokens.delete(token);
        return authDeny;
      case undefined:
      default:
        return authDeny;
    }
  }

  /** Drops expired tokens, at most once a second: counters callbacks arrive for every client every minute. */
  private prune(): void {
    const nowMs = this.now();
    if (nowMs - this.lastPruneMs < 1000) return;
    this.lastPruneMs = nowMs;
    for (const [token, entry] of this.tokens) if (entry.expiresMs <= nowMs) this.tokens.delete(token);
  }
}
