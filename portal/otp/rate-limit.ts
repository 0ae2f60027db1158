/**
 * Sliding-window counters in memory. Keys never hold a raw MAC (callers pass an HMAC of it). Bounded: the
 * least recently touched keys are dropped first when maxKeys is reached.
 */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly windowMs: number,
    private readonly now: () => number,
    private readonly maxKeys = 100_000,
  ) {}

  /** True if every key is under its limit; then one hit is recorded on each. All or nothing. */
  take(limits: readonly { key: string; limit: number }[]): boolean {
    const now = this.now();
    const windows = limits.map(({ key }) => this.window(key, now));
    if (limits.some(({ limit }, i) => (windows[i]?.length ?? 0) >= limit)) return false;
    limits.forEach(({ key }, i) => {
      const window = windows[i] ?? [];
      window.push(now);
      this.touch(key, window);
    });
    return true;
  }

  /** True if the key is at its limit (without recording a hit). */
  exhausted(key: string, limit: number): boolean {
    return this.window(key, this.now()).length >= limit;
  }

  record(key: string): void {
    const window = this.window(key, this.now());
    window.push(this.now());
    this.touch(key, window);
  }

  private window(key: string, now: number): number[] {
    const window = this.hits.get(key) ?? [];
    while (window.length > 0 && (window[0] ?? 0) <= now - this.windowMs) window.shift();
    return window;
  }

  private touch(key: string, window: number[]): void {
    this.hits.delete(key);
    this.hits.set(key, window);
    while (this.hits.size > this.maxKeys) {
      const oldest = this.hits.keys().next();
      if (oldest.done === true) break;
      this.hits.delete(oldest.value);
    }
  }
}
