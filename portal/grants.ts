import { createHash } from 'node:crypto';

/**
 * Recent grants by client IP, in memory only, so the RFC 8908 API can tell a device whether it is still
 * captive and for how long. Keys are hashed; entries vanish when the session ends.
 */
export class GrantTracker {
  private readonly byClient = new Map<string, number>();

  constructor(
    private readonly now: () => number,
    private readonly maxEntries = 100_000,
  ) {}

  record(mall: string, clientIp: string, sessionS: number): void {
    const key = this.key(mall, clientIp);
    this.byClient.delete(key);
    this.byClient.set(key, this.now() + sessionS * 1000);
    while (this.byClient.size > this.maxEntries) {
      const oldest = this.byClient.keys().next();
      if (oldest.done === true) break;
      this.byClient.delete(oldest.value);
    }
  }

  /** Seconds left for this client, or undefined when unknown or expired. */
  secondsRemaining(mall: string, clientIp: string): number | undefined {
    const key = this.key(mall, clientIp);
    const until = this.byClient.get(key);
    if (until === undefined) return undefined;
    const left = Math.floor((until - this.now()) / 1000);
    if (left <= 0) {
      this.byClient.delete(key);
      return undefined;
    }
    return left;
  }

  private key(mall: string, clientIp: string): string {
    return createHash('sha256').update(`${mall}\0${clientIp}`).digest('base64url');
  }
}
