/** Tunables for slowing down and locking out repeated authentication failures. */
export interface LockoutOptions {
  /** Failures within windowMs that trigger a lockout. */
  maxFailures: number;
  /** Window in which failures are counted, in ms. */
  windowMs: number;
  /** How long a key stays locked, in ms. */
  lockoutMs: number;
  /** First delay added to a failed attempt's answer, in ms; doubles per failure up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Keys tracked at most; oldest are forgotten first so a flood of client ids cannot exhaust memory. */
  maxKeys: number;
}

export const defaultLockoutOptions: LockoutOptions = {
  maxFailures: 5,
  windowMs: 10 * 60 * 1000, // 10 min
  lockoutMs: 15 * 60 * 1000, // 15 min
  baseDelayMs: 250,
  maxDelayMs: 4000,
  maxKeys: 100_000,
};

interface Entry {
  failures: number;
  firstFailureMs: number;
  lockedUntilMs: number;
}

/** Failure tracker keyed by client id or remote address. */
export class Lockout {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly options: LockoutOptions = defaultLockoutOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds the key remains locked, 0 when not locked. */
  lockedForMs(key: string): number {
    const entry = this.entries.get(key);
    if (entry === undefined) return 0;
    return Math.max(0, entry.lockedUntilMs - this.now());
  }

  /** Records a failure; returns the delay to apply before answering, in ms. */
  recordFailure(key: string): number {
    const now = this.now();
    let entry = this.entries.get(key);
    const lockExpired = entry !== undefined && entry.lockedUntilMs !== 0 && entry.lockedUntilMs <= now;
    const windowOver = entry !== undefined && entry.lockedUntilMs === 0 && now - entry.firstFailureMs > this.options.windowMs;
    // A running lockout is never shortened by a new failure; once it has expired the key starts afresh.
    if (entry === undefined || lockExpired || windowOver) {
      entry = { failures: 0, firstFailureMs: now, lockedUntilMs: 0 };
    }
    this.entries.delete(key); // re-insert to keep Map order = recency
    entry.failures += 1;
    if (entry.failures >= this.options.maxFailures && entry.lockedUntilMs === 0) entry.lockedUntilMs = now + this.options.lockoutMs;
    this.entries.set(key, entry);
    this.prune();
    return Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (entry.failures - 1));
  }

  recordSuccess(key: string): void {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.lockedUntilMs <= this.now()) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    while (this.entries.size > this.options.maxKeys) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) return;
      this.entries.delete(oldest.value);
    }
  }
}
