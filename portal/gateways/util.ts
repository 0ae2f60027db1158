import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { BlockList, isIP, isIPv4 } from 'node:net';
import { GatewayError } from './types.ts';

const macPattern = /^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;

/** A MAC in any of the usual spellings (aa:bb…, AA-BB…, aabb…) as lowercase colon form, or undefined. */
export function normaliseMac(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!macPattern.test(trimmed)) return undefined;
  const hex = trimmed.replace(/[:-]/g, '').toLowerCase();
  return hex.match(/../g)?.join(':');
}

/** An http(s) URL of reasonable length without credentials, or undefined. */
export function safeHttpUrl(value: string | undefined, maxLength = 2048): string | undefined {
  if (value === undefined || value.length === 0 || value.length > maxLength) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  return url.href;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A query value that must be present and short; throws GatewayError('invalid') naming the parameter. */
export function required(query: Readonly<Record<string, string | undefined>>, name: string, maxLength = 512): string {
  const value = query[name];
  if (value === undefined || value.length === 0) throw new GatewayError(`redirect lacks ${name}`, 'invalid');
  if (value.length > maxLength) throw new GatewayError(`redirect parameter ${name} is too long`, 'invalid');
  return value;
}

/** A query value if present and short, else undefined. */
export function optional(query: Readonly<Record<string, string | undefined>>, name: string, maxLength = 512): string | undefined {
  const value = query[name];
  if (value === undefined || value.length === 0 || value.length > maxLength) return undefined;
  return value;
}

// Where a gateway's LAN address normally lives: RFC 1918, CGNAT (RFC 6598) and link-local.
const lanRanges = new BlockList();
lanRanges.addSubnet('10.0.0.0', 8, 'ipv4');
lanRanges.addSubnet('172.16.0.0', 12, 'ipv4');
lanRanges.addSubnet('192.168.0.0', 16, 'ipv4');
lanRanges.addSubnet('100.64.0.0', 10, 'ipv4');
lanRanges.addSubnet('169.254.0.0', 16, 'ipv4');

/**
 * Whether a host (+ port) named in a redirect may be a grant target. The redirect is in the shopper's hands, so
 * an arbitrary host would make the portal an open redirect: only LAN IPv4 addresses and configured ones pass.
 */
export function isAllowedGatewayHost(host: string, port: number | undefined, allowed: readonly string[]): boolean {
  if (port !== undefined && allowed.includes(`${host}:${port}`)) return true;
  if (allowed.includes(host)) return true;
  return isIPv4(host) && lanRanges.check(host, 'ipv4');
}

/** Splits `ip:port` (IPv4 or name); undefined when malformed. */
export function splitHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^([0-9A-Za-z.-]{1,253}):(\d{1,5})$/.exec(value);
  if (match === null) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: match[1] ?? '', port };
}

/** A source-address allowlist (IPs and CIDR blocks); `undefined` settings mean "not restricted". */
export function sourceAllowlist(entries: readonly string[] | undefined): ((ip: string) => boolean) | undefined {
  if (entries === undefined) return undefined;
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return (ip: string) => {
    // IPv4 peers on a dual-stack socket show up as ::ffff:a.b.c.d.
    const plain = ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
    const family = isIP(plain);
    return family !== 0 && list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/** GET routes that hand a gateway's arrival redirect on to the portal's arrival page, query string intact. */
export function redirectToArrival(app: FastifyInstance, paths: readonly string[], arrivalPath: string | undefined): void {
  // Only a local absolute path: the target is configuration, never something from a request.
  if (arrivalPath === undefined || !/^\/[A-Za-z0-9/_.-]*$/.test(arrivalPath)) return;
  for (const path of paths) {
    app.get(path, async (request, reply) => {
      const at = request.url.indexOf('?');
      return reply.redirect(at >= 0 ? `${arrivalPath}${request.url.slice(at)}` : arrivalPath, 302);
    });
  }
}
