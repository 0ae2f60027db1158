import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Ops API roles, least to most privileged; each role may do everything the ones before it may. */
export const opsRoles = ['viewer', 'marketer', 'admin'] as const;
export type OpsRole = (typeof opsRoles)[number];

/** A role token from the config file (`ops.tokens`): only the SHA-256 of the token is stored. */
export interface OpsTokenEntry {
  name: string;
  role: OpsRole;
  /** Hex SHA-256 of the token. */
  tokenSha256: string;
}

export interface OpsPrincipal {
  name: string;
  role: OpsRole;
}

/**
 * The least role each API route needs, keyed `METHOD /url` as registered (fastify's routeOptions.url).
 * A route not listed needs admin, so a new endpoint is closed until someone opens it here.
 */
export const routeRoles: Readonly<Record<string, OpsRole>> = {
  'GET /api/footfall': 'viewer',
  'GET /api/live': 'viewer',
  'GET /api/alerts': 'viewer',
  'GET /api/campaigns': 'viewer',
  'GET /api/campaigns/:id': 'viewer',
  'GET /api/campaigns/:id/report': 'viewer',
  'POST /api/campaigns': 'marketer',
  'PUT /api/campaigns/:id': 'marketer',
  'DELETE /api/campaigns/:id': 'marketer',
};

export function roleAllows(held: OpsRole, needed: OpsRole): boolean {
  return opsRoles.indexOf(held) >= opsRoles.indexOf(needed);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Every token the ops server accepts: PLAZA_OPS_TOKEN (admin) and the role tokens of the config file. */
export class TokenBook {
  private readonly entries: { digest: Buffer; principal: OpsPrincipal }[];

  constructor(adminToken: string | undefined, tokens: readonly OpsTokenEntry[] = []) {
    this.entries = tokens.map((t) => ({ digest: Buffer.from(t.tokenSha256.toLowerCase(), 'hex'), principal: { name: t.name, role: t.role } }));
    if (adminToken !== undefined) this.entries.unshift({ digest: createHash('sha256').update(adminToken).digest(), principal: { name: 'admin', role: 'admin' } });
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  /** Who presented this token, or undefined. Compares digests in constant time against every entry. */
  identify(presented: string): OpsPrincipal | undefined {
    if (presented.length === 0 || presented.length > 512) return undefined;
    const digest = createHash('sha256').update(presented).digest();
    let found: OpsPrincipal | undefined;
    for (const entry of this.entries) {
      // No early exit: the time taken does not depend on which entry matched.
      if (entry.digest.length === digest.length && timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.principal;
    }
    return found;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    opsPrincipal?: OpsPrincipal;
  }
}

/**
 * Bearer-token check for the API: 503 while no token is configured, 401 for a missing or unknown token, 403
 * (RFC 6750 insufficient_scope) when the token's role is below the route's (routeRoles; admin when unlisted).
 */
export function bearerGuard(book: TokenBook) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (book.empty) {
      await reply.code(503).send({ error: 'the ops API is disabled: set PLAZA_OPS_TOKEN' });
      return;
    }
    const header = request.headers.authorization ?? '';
    const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
    const principal = book.identify(presented);
    if (principal === undefined) {
      await reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'missing or wrong bearer token' });
      return;
    }
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    const needed = routeRoles[`${method} ${request.routeOptions.url ?? ''}`] ?? 'admin';
    if (!roleAllows(principal.role, needed)) {
      await reply.code(403).header('www-authenticate', 'Bearer error="insufficient_scope"').send({ error: `this needs the ${needed} role; the token has ${principal.role}` });
      return;
    }
    request.opsPrincipal = principal;
  };
}
