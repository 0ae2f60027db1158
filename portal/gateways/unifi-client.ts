import { setTimeout as sleep } from 'node:timers/promises';
import { type HttpOptions, type HttpResponse, httpRequest, parseJson } from './http-client.ts';
import { GatewayError } from './types.ts';

/** Limits for one guest authorisation, in the controller's units. */
export interface GuestLimits {
  minutes: number;
  upKbps?: number;
  downKbps?: number;
  dataMB?: number;
}

/**
 * Legacy Network API with a session (UniFi "stamgr" API): `POST /api/login` (classic controller, cookie
 * `unifises`, CSRF in cookie `csrf_token`) or `POST /api/auth/login` (UniFi OS, cookie `TOKEN`, CSRF in header
 * `x-csrf-token`, Network under `/proxy/network`). Errors often come back as HTTP 200 with
 * `{"meta":{"rc":"error","msg":"api.err.…"}}`; an expired session as 401 or as 200 with `api.err.LoginRequired`.
 */
export class LegacyController {
  private cookie: string | undefined;
  private csrf: string | undefined;
  private loggingIn: Promise<void> | undefined;

  constructor(
    private readonly base: URL,
    private readonly site: string,
    private readonly unifiOs: boolean,
    private readonly credentials: { username: string; password: string },
    private readonly http: HttpOptions,
  ) {}

  async authorizeGuest(mac: string, limits: GuestLimits, apMac?: string): Promise<void> {
    const body = {
      cmd: 'authorize-guest',
      mac: mac.toLowerCase(),
      minutes: limits.minutes,
      ...(limits.upKbps !== undefined ? { up: limits.upKbps } : {}),
      ...(limits.downKbps !== undefined ? { down: limits.downKbps } : {}),
      ...(limits.dataMB !== undefined ? { bytes: limits.dataMB } : {}),
      ...(apMac !== undefined ? { ap_mac: apMac.toLowerCase() } : {}),
    };
    await this.call(`/api/s/${encodeURIComponent(this.site)}/cmd/stamgr`, body);
  }

  /** POSTs a command; logs in first if needed and once more when the controller says the session is gone. */
  private async call(path: string, body: unknown): Promise<unknown> {
    const url = new URL((this.unifiOs ? '/proxy/network' : '') + path, this.base);
    for (let attempt = 0; ; attempt += 1) {
      if (this.cookie === undefined) await this.login();
      const response = await httpRequest(url, 'POST', this.sessionHeaders(), JSON.stringify(body), this.http);
      this.takeCsrf(response);
      const json = parseJsonOrUndefined(response.text) as Meta | undefined;
      const loginRequired = response.status === 401 || json?.meta?.msg === 'api.err.LoginRequired';
      if (loginRequired && attempt === 0) {
        this.cookie = undefined;
        continue;
      }
      if (loginRequired) throw new GatewayError('controller refused the session right after login', 'upstream');
      if (response.status !== 200 || json?.meta?.rc !== 'ok') {
        throw new GatewayError(`controller refused the command (HTTP ${response.status}): ${errorCode(json?.meta?.msg)}`, 'upstream');
      }
      return json;
    }
  }

  private login(): Promise<void> {
    // Concurrent grants share one login instead of racing sessions.
    this.loggingIn ??= this.doLogin().finally(() => {
      this.loggingIn = undefined;
    });
    return this.loggingIn;
  }

  private async doLogin(): Promise<void> {
    const url = new URL(this.unifiOs ? '/api/auth/login' : '/api/login', this.base);
    const body = JSON.stringify({ username: this.credentials.username, password: this.credentials.password, remember: false });
    const response = await httpRequest(url, 'POST', {}, body, this.http);
    const json = parseJsonOrUndefined(response.text) as Meta | undefined;
    if (response.status !== 200 || (json?.meta !== undefined && json.meta.rc !== 'ok')) {
      throw new GatewayError(`controller login failed with HTTP ${response.status}${json?.meta?.msg !== undefined ? ` (${errorCode(json.meta.msg)})` : ''}`, 'upstream');
    }
    const cookies = setCookies(response);
    if (cookies.size === 0) throw new GatewayError('controller login set no session cookie', 'upstream');
    this.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    this.csrf = headerValue(response, 'x-csrf-token') ?? cookies.get('csrf_token');
  }

  private sessionHeaders(): Record<string, string> {
    return { ...(this.cookie !== undefined ? { cookie: this.cookie } : {}), ...(this.csrf !== undefined ? { 'x-csrf-token': this.csrf } : {}) };
  }

  /** UniFi OS rotates the CSRF token and announces the new one in `x-updated-csrf-token`. */
  private takeCsrf(response: HttpResponse): void {
    const updated = headerValue(response, 'x-updated-csrf-token');
    if (updated !== undefined) this.csrf = updated;
  }
}

interface Meta {
  meta?: { rc?: string; msg?: string };
}

interface Page<T> {
  data?: T[];
}

interface IntegrationClient {
  id?: string;
  macAddress?: string;
  ipAddress?: string;
}

/**
 * Network Integration API (Network 9.1+, header `X-API-KEY`): find the site, find the client by MAC (a client
 * that just joined may not be listed yet, so the look-up is retried), then
 * `POST /v1/sites/{siteId}/clients/{clientId}/actions {action: "AUTHORIZE_GUEST_ACCESS", …}`.
 */
export class IntegrationController {
  private siteId: string | undefined;

  constructor(
    private readonly base: URL,
    private readonly site: string,
    private readonly apiKey: string,
    private readonly http: HttpOptions,
    private readonly lookup: { attempts: number; retryDelayMs: number },
  ) {}

  /** Authorises the client; returns the IP address the controller reports for it, if any. */
  async authorizeGuest(mac: string, limits: GuestLimits): Promise<{ clientIp?: string }> {
    const siteId = await this.findSite();
    const client = await this.findClient(siteId, mac.toLowerCase());
    const body = {
      action: 'AUTHORIZE_GUEST_ACCESS',
      timeLimitMinutes: limits.minutes,
      ...(limits.dataMB !== undefined ? { dataUsageLimitMBytes: limits.dataMB } : {}),
      ...(limits.downKbps !== undefined ? { rxRateLimitKbps: limits.downKbps } : {}),
      ...(limits.upKbps !== undefined ? { txRateLimitKbps: limits.upKbps } : {}),
    };
    const answer = (await this.call('POST', `/sites/${encodeURIComponent(siteId)}/clients/${encodeURIComponent(client.id ?? '')}/actions`, body)) as {
      grantedAuthorization?: { authorizedAt?: string; expiresAt?: string };
    };
    if (answer.grantedAuthorization === undefined) throw new GatewayError('controller did not confirm the guest authorisation', 'upstream');
    return client.ipAddress !== undefined ? { clientIp: client.ipAddress } : {};
  }

  private async findSite(): Promise<string> {
    if (this.siteId !== undefined) return this.siteId;
    const page = (await this.call('GET', '/sites?limit=200')) as Page<{ id?: string; internalReference?: string; name?: string }>;
    const match = (page.data ?? []).find((s) => s.internalReference === this.site || s.id === this.site || s.name === this.site);
    if (match?.id === undefined) throw new GatewayError(`controller has no site "${this.site}"`, 'upstream');
    this.siteId = match.id;
    return match.id;
  }

  private async findClient(siteId: string, mac: string): Promise<IntegrationClient> {
    const filter = encodeURIComponent(`macAddress.eq('${mac}')`);
    for (let attempt = 1; ; attempt += 1) {
      const page = (await this.call('GET', `/sites/${encodeURIComponent(siteId)}/clients?filter=${filter}`)) as Page<IntegrationClient>;
      const client = (page.data ?? []).find((c) => c.macAddress?.toLowerCase() === mac && typeof c.id === 'string');
      if (client !== undefined) return client;
      if (attempt >= this.lookup.attempts) throw new GatewayError('controller does not list the client (not connected to this site)', 'upstream');
      await sleep(this.lookup.retryDelayMs);
    }
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const url = new URL(`/proxy/network/integration/v1${path}`, this.base);
    const response = await httpRequest(url, method, { 'x-api-key': this.apiKey }, body === undefined ? undefined : JSON.stringify(body), this.http);
    if (response.status === 401 || response.status === 403) {
      throw new GatewayError(`controller refused the API key (HTTP ${response.status})`, 'upstream');
    }
    const json = parseJson(response, url.pathname.split('/').slice(-2).join('/'));
    if (response.status < 200 || response.status > 299) {
      const code = (json as { code?: unknown }).code;
      throw new GatewayError(`controller answered HTTP ${response.status}${typeof code === 'string' ? ` (${errorCode(code)})` : ''}`, 'upstream');
    }
    return json;
  }
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Controller error codes (`api.err.Invalid`), cut to a safe shape: never echo free text that may hold a MAC. */
function errorCode(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,80}$/.test(value) ? value : 'unknown error';
}

function headerValue(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function setCookies(response: HttpResponse): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const line of response.headers['set-cookie'] ?? []) {
    const pair = line.split(';', 1)[0] ?? '';
    const at = pair.indexOf('=');
    if (at > 0) cookies.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  return cookies;
}
