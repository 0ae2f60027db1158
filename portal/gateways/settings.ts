import { z } from 'zod';

/** An IPv4/IPv6 address or CIDR block, e.g. `203.0.113.7` or `10.20.0.0/16`. */
const sourceSchema = z.string().refine((value) => /^[0-9a-fA-F.:]+(\/\d{1,3})?$/.test(value), 'must be an IP address or CIDR block');

/** `ip` or `ip:port` of a gateway that may be used as a grant target besides private/link-local addresses. */
const gatewayAddressSchema = z.string().regex(/^[0-9a-zA-Z.-]{1,253}(:\d{1,5})?$/, 'must be host or host:port');

const openndsSchema = z.strictObject({
  kind: z.literal('opennds'),
  /** openNDS `fas_secure_enabled`: 1 base64 (MAC untrusted), 2 AES over http (untrusted), 3 AES over https + authmon. */
  fasLevel: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(3),
  /** openNDS `faskey`, pre-shared with the gateway. Secret. */
  faskey: z.string().regex(/^[A-Za-z0-9]{8,64}$/, 'must be 8–64 letters and digits, as openNDS accepts'),
  /** openNDS `authdir`, used when the redirect does not name one. */
  authDir: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('opennds_auth'),
  /** If set, only these gateway names (openNDS `gatewayname`, decoded) are accepted. */
  gatewayNames: z.array(z.string().min(1).max(200)).optional(),
  /** Grant targets allowed besides private, CGNAT and link-local IPv4 addresses. */
  gatewayAddresses: z.array(gatewayAddressSchema).default([]),
  /** Level 3: how long an unacknowledged grant waits for authmon, in ms (openNDS gives up on its page after ~30 s). */
  pendingTtlMs: z.number().int().min(5_000).max(600_000).default(120_000),
  /** Level 3: at most this many waiting grants per gateway; the oldest is dropped beyond it. */
  maxPendingPerGateway: z.number().int().min(1).max(10_000).default(256),
  /** Level 3: at most this many gateways with waiting grants. */
  maxGateways: z.number().int().min(1).max(10_000).default(256),
  /** Level 3: how often the connecting page re-checks, in ms (authmon polls every 5 s by default). */
  pollAfterMs: z.number().int().min(500).max(30_000).default(2_000),
  /** Level 3: if set, authmon requests from other source addresses are refused. */
  authmonSources: z.array(sourceSchema).optional(),
  /** Limits sent to authmon; 0 means no limit. */
  uploadRateKbps: z.number().int().min(0).default(0),
  downloadRateKbps: z.number().int().min(0).default(0),
  uploadQuotaKB: z.number().int().min(0).default(0),
  downloadQuotaKB: z.number().int().min(0).default(0),
});

const merakiSchema = z.strictObject({
  kind: z.literal('meraki'),
  /** Hosts `base_grant_url` may point at: exact names or `*.suffix` wildcards. Anything else is refused. */
  grantHosts: z.array(z.string().regex(/^(\*\.)?[a-z0-9.-]+$/i)).min(1).default(['*.network-auth.com']),
  /** Accept plain-http grant URLs (Meraki uses https). */
  allowHttpGrant: z.boolean().default(false),
});

const unifiSchema = z
  .strictObject({
    kind: z.literal('unifi'),
    /** Controller base URL, e.g. `https://192.168.1.1` (UniFi OS) or `https://unifi.example:8443`. */
    controllerUrl: z.url({ protocol: /^https?$/ }),
    /** Site name (`default`), as in the redirect's `/guest/s/<site>/`. */
    site: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('default'),
    /** `integration` (API key, Network 9.1+) or `legacy` (username/password session with CSRF token). */
    api: z.enum(['integration', 'legacy']).default('integration'),
    /** Legacy only: true for UniFi OS consoles (login at /api/auth/login, Network under /proxy/network). */
    unifiOs: z.boolean().default(true),
    username: z.string().min(1).optional(),
    /** Secret. */
    password: z.string().min(1).optional(),
    /** Integration API key (X-API-KEY). Secret. */
    apiKey: z.string().min(1).optional(),
    /** Verify the controller's TLS certificate. Turn off only for a controller with a self-signed one on a trusted LAN. */
    tlsVerify: z.boolean().default(true),
    /** PEM file of the CA that signed the controller's certificate (instead of turning verification off). */
    caFile: z.string().min(1).optional(),
    /** Per-request timeout, in ms. */
    timeoutMs: z.number().int().min(100).max(60_000).default(5_000),
    /** Integration API: look-ups of a client that just joined and is not listed yet. */
    lookupAttempts: z.number().int().min(1).max(10).default(4),
    lookupRetryDelayMs: z.number().int().min(1).max(10_000).default(750),
    /**
     * Integration API: confirm the redirect's MAC when the controller reports the same IP for that client as the
     * portal saw on the request. Only meaningful when the portal sees client IPs directly (no NAT in between).
     */
    confirmByClientIp: z.boolean().default(false),
    /** Optional limits for the authorisation. */
    uploadRateKbps: z.number().int().min(1).optional(),
    downloadRateKbps: z.number().int().min(1).optional(),
    dataLimitMB: z.number().int().min(1).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.api === 'integration' && value.apiKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['apiKey'], message: 'is required for the Integration API' });
    }
    if (value.api === 'legacy' && (value.username === undefined || value.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['username'], message: 'username and password are required for the legacy API' });
    }
  });

const wifidogSchema = z.strictObject({
  kind: z.literal('wifidog'),
  /** Gateway ids (`gw_id` / `GatewayID`) this mall accepts. */
  gatewayIds: z.array(z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/)).min(1),
  /** Grant targets allowed besides private, CGNAT and link-local IPv4 addresses. */
  gatewayAddresses: z.array(gatewayAddressSchema).default([]),
  /**
   * Source addresses the gateways call /auth and /ping from. Without it the adapter still answers, but never
   * treats an /auth callback as confirmation of a client MAC (anyone could call it).
   */
  gatewaySources: z.array(sourceSchema).optional(),
  /** How long a token waits for the gateway's first /auth?stage=login, in ms. */
  tokenTtlMs: z.number().int().min(10_000).max(3_600_000).default(300_000),
  /** At most this many live tokens; the oldest is dropped beyond it. */
  maxTokens: z.number().int().min(10).max(1_000_000).default(20_000),
});

const plainSchema = z.strictObject({
  kind: z.literal('plain'),
  /**
   * Development/demo only: treat a `mac` query parameter as a trusted MAC so the member link can be exercised
   * without a gateway. Never enable on a real network — anyone can type any MAC into a URL.
   */
  trustClaimedMac: z.boolean().default(false),
});

/** One mall's gateway: which protocol and its settings and secrets. Embedded in core/config.ts per mall. */
export const gatewaySettingsSchema = z.discriminatedUnion('kind', [openndsSchema, merakiSchema, unifiSchema, wifidogSchema, plainSchema]);

export type GatewaySettings = z.infer<typeof gatewaySettingsSchema>;
export type OpenndsSettings = z.infer<typeof openndsSchema>;
export type MerakiSettings = z.infer<typeof merakiSchema>;
export type UnifiSettings = z.infer<typeof unifiSchema>;
export type WifidogSettings = z.infer<typeof wifidogSchema>;
export type PlainSettings = z.infer<typeof plainSchema>;

/** Config paths of secrets inside a gateway's settings, for redaction. */
export const gatewaySecretKeys = ['faskey', 'password', 'apiKey'] as const;
