import type { GrantStatus } from './types.ts';

/**
 * The waiting-grant lists openNDS level 3's `authmon` daemon polls (openNDS fas-aes-https.php / authmon.sh):
 * it POSTs urlencoded `auth_get` (clear | view | list | deauthed | custom), `gatewayhash` = sha256 of the
 * url-encoded gatewayname, and a base64 `payload`. `view` with payload "none" asks for the list, answered "*"
 * followed by space-separated rawurlencoded lines `rhid minutes uprate downrate upquota downquota custom`;
 * `view` with a list of acknowledged rhids drops them and is answered "ack". Memory only, bounded, with TTL.
 */

export interface AuthmonLimits {
  pendingTtlMs: number;
  maxPendingPerGateway: number;
  maxGateways: number;
  uploadRateKbps: number;
  downloadRateKbps: number;
  uploadQuotaKB: number;
  downloadQuotaKB: number;
}

interface Waiting {
  sessionMin: number;
  createdMs: number;
}

export interface AuthmonAnswer {
  status: number;
  text: string;
  /** What happened, for a log line without personal data. */
  event: 'listed' | 'acked' | 'cleared' | 'deauthed' | 'custom' | 'refused';
  count: number;
}

/** authmon authorises at most 4 clients per poll and reads at most 1024 characters after "* ". */
const maxLinesPerAnswer = 4;
const maxAnswerChars = 1000;

export class AuthmonQueues {
  private readonly waiting = new Map<string, Map<string, Waiting>>();
  private readonly granted = new Map<string, Map<string, number>>();

  constructor(
    private readonly limits: AuthmonLimits,
    private readonly customB64: string,
    private readonly now: () => number,
  ) {}

  /** Queues a grant for the gateway's next poll. Oldest entries make room when a bound is reached. */
  enqueue(gatewayHash: string, rhid: string, sessionS: number): void {
    this.prune();
    let list = this.waiting.get(gatewayHash);
    if (list === undefined) {
      while (this.waiting.size >= this.limits.maxGateways) this.dropOldest(this.waiting);
      list = new Map();
      this.waiting.set(gatewayHash, list);
    }
    list.delete(rhid);
    list.set(rhid, { sessionMin: Math.max(1, Math.ceil(sessionS / 60)), createdMs: this.now() });
    while (list.size > this.limits.maxPendingPerGateway) this.dropOldest(list);
  }

  status(gatewayHash: string, rhid: string): GrantStatus {
    this.prune();
    if (this.granted.get(gatewayHash)?.has(rhid) === true) return 'granted';
    if (this.waiting.get(gatewayHash)?.has(rhid) === true) return 'pending';
    return 'failed';
  }

  /** Answers one authmon POST (already checked for its source address). */
  handle(body: Readonly<Record<string, string | undefined>>): AuthmonAnswer {
    this.prune();
    const action = body.auth_get;
    const gatewayHash = body.gatewayhash?.toLowerCase();
    if (gatewayHash === undefined || !/^[0-9a-f]{64}$/.test(gatewayHash)) return { status: 400, text: '', event: 'refused', count: 0 };
    switch (action) {
      case 'clear': {
        // Sent when openNDS starts: anything still queued for it is stale.
        const count = this.waiting.get(gatewayHash)?.size ?? 0;
        this.waiting.delete(gatewayHash);
        return { status: 200, text: '', event: 'cleared', count };
      }
      case 'deauthed':
      case 'custom':
        return { status: 200, text: 'ack', event: action, count: 1 };
      case 'list':
        return this.answerList(gatewayHash, true);
      case 'view': {
        const acks = decodePayload(body.payload);
        if (acks === undefined) return this.answerList(gatewayHash, false);
        return { status: 200, text: 'ack', event: 'acked', count: this.acknowledge(gatewayHash, acks) };
      }
      case undefined:
      default:
        return { status: 400, text: '', event: 'refused', count: 0 };
    }
  }

  /** `list` (older authmon) hands the entries over for good; `view` leaves them until acknowledged. */
  private answerList(gatewayHash: string, handOver: boolean): AuthmonAnswer {
    const list = this.waiting.get(gatewayHash);
    const lines: string[] = [];
    let chars = 1;
    for (const [rhid, entry] of list ?? []) {
      if (lines.length >= maxLinesPerAnswer) break;
      const line = encodeURIComponent(
        [
          rhid,
          entry.sessionMin,
          this.limits.uploadRateKbps,
          this.limits.downloadRateKbps,
          this.limits.uploadQuotaKB,
          this.limits.downloadQuotaKB,
          this.customB64,
        ].join(' '),
      );
      if (chars + 1 + line.length > maxAnswerChars) break;
      lines.push(line);
      chars += 1 + line.length;
      if (handOver) this.markGranted(gatewayHash, rhid);
    }
    return { status: 200, text: ['*', ...lines].join(' '), event: 'listed', count: lines.length };
  }

  private acknowledge(gatewayHash: string, rhids: readonly string[]): number {
    let count = 0;
    for (const rhid of rhids) {
      if (this.waiting.get(gatewayHash)?.has(rhid) === true) {
        this.markGranted(gatewayHash, rhid);
        count += 1;
      }
    }
    return count;
  }

  private markGranted(gatewayHash: string, rhid: string): void {
    const list = this.waiting.get(gatewayHash);
    list?.delete(rhid);
    if (list?.size === 0) this.waiting.delete(gatewayHash);
    let done = this.granted.get(gatewayHash);
    if (done === undefined) {
      while (this.granted.size >= this.limits.maxGateways) this.dropOldest(this.granted);
      done = new Map();
      this.granted.set(gatewayHash, done);
    }
    done.set(rhid, this.now());
    while (done.size > this.limits.maxPendingPerGateway) this.dropOldest(done);
  }

  private prune(): void {
    const cutoff = this.now() - this.limits.pendingTtlMs;
    for (const [hash, list] of this.waiting) {
      for (const [rhid, entry] of list) if (entry.createdMs < cutoff) list.delete(rhid);
      if (list.size === 0) this.waiting.delete(hash);
    }
    for (const [hash, list] of this.granted) {
      for (const [rhid, atMs] of list) if (atMs < cutoff) list.delete(rhid);
      if (list.size === 0) this.granted.delete(hash);
    }
  }

  private dropOldest(map: Map<string, unknown>): void {
    const oldest = map.keys().next();
    if (oldest.done !== true) map.delete(oldest.value);
  }
}

/**
 * The `view` payload: base64 of "none" (send the list) or of the acknowledged rhids, "*"-prefixed and separated
 * by spaces or newlines depending on the openNDS version. Returns undefined for "send the list".
 */
function decodePayload(payload: string | undefined): string[] | undefined {
  if (payload === undefined || payload === '') return undefined;
  const text = Buffer.from(payload.replace(/ /g, '+'), 'base64').toString('latin1').trim();
  if (text === '' || text === 'none') return undefined;
  return text
    .split(/\s+/)
    .map((part) => part.replace(/^\*+/, ''))
    .filter((part) => /^[0-9a-f]{64}$/.test(part));
}
