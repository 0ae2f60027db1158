/** Tunables for rate-limiting repetitive log lines (refusals). Every event is still counted in metrics. */
export interface LogLimiterOptions {
  /** Length of a counting window, in ms. */
  windowMs: number;
  /** Lines written per key (reason + client) per window. */
  perKey: number;
  /** Lines written across all keys per window, so a client spraying new ids cannot flood the log. */
  total: number;
  /** Keys tracked at most; the oldest are forgotten first. */
  maxKeys: number;
}

export const defaultLogLimiterOptions: LogLimiterOptions = {
  windowMs: 60_000, // 1 min
  perKey: 3,
  total: 200,
  maxKeys: 10_000,
};

interface KeyState {
  windowStartMs: number;
  written: number;
  suppressed: number;
}

/** Decides which log lines to write; suppressed lines are reported as a count on the key's next written line. */
export class LogLimiter {
  private readonly keys = new Map<string, KeyState>();
  private globalWindowStartMs = Number.NEGATIVE_INFINITY;
  private globalWritten = 0;

  constructor(
    private readonly options: LogLimiterOptions = defaultLogLimiterOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns null when the line must be dropped, else how many lines of this key were dropped since the last one written. */
  admit(key: string): { suppressed: number } | null {
    const now = this.now();
    if (now - this.globalWindowStartMs >= this.options.windowMs) {
      this.globalWindowStartMs = now;
      this.globalWritten = 0;
    }
    let state = this.keys.get(key);
    if (state === undefined) {
      state = { windowStartMs: now, written: 0, suppressed: 0 };
    } else {
      this.keys.delete(key); // re-insert below: Map order = recency
      if (now - state.windowStartMs >= this.options.windowMs) {
        state.windowStartMs = now;
        state.written = 0;
      }
    }
    this.keys.set(key, state);
    while (this.keys.size > this.options.maxKeys) {
      const oldest = this.keys.keys().next();
      if (oldest.done === true) break;
      this.keys.delete(oldest.value);
    }
    if (state.written >= this.options.perKey || this.globalWritten >= this.options.total) {
      state.suppressed += 1;
      return null;
    }
    state.written += 1;
    this.globalWritten += 1;
    const suppressed = state.suppressed;
    state.suppressed = 0;
    return { suppressed };
  }

  get size(): number {
    return this.keys.size;
  }
}
