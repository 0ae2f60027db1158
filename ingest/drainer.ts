import type { Logger } from '../core/logger.ts';
import type { IngestMetrics } from './metrics.ts';
import { coalesce, type Outbox } from './outbox.ts';
import { StoreError, type TimeSeriesStore } from './store/types.ts';

export interface DrainerOptions {
  /** Points per store write. */
  batchSize: number;
  /** Longest a point waits for a batch to fill, in ms. */
  flushIntervalMs: number;
  /** First retry delay after a retryable failure, in ms; doubles up to maxBackoffMs, with full jitter. */
  baseBackoffMs: number;
  maxBackoffMs: number;
}

export const defaultDrainerOptions: DrainerOptions = {
  batchSize: 5000,
  flushIntervalMs: 1000,
  baseBackoffMs: 500,
  maxBackoffMs: 30_000,
};

export type StoreState = { state: 'ok' } | { state: 'spooling'; since: number; lastError: string };

/**
 * Moves points from the outbox to the store in order. Rows leave the outbox only after the store accepted
 * them; retryable failures back off with jitter and keep the rows (the outbox is the spool meanwhile).
 */
export class Drainer {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private failures = 0;
  private storeState: StoreState = { state: 'ok' };
  /** The batch write in progress; the next one starts after it. */
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly outbox: Outbox,
    private readonly store: TimeSeriesStore,
    private readonly options: DrainerOptions,
    private readonly metrics: IngestMetrics,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {}

  get state(): StoreState {
    return this.storeState;
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the current write; with drain, first writes what is pending (bounded by timeoutMs). */
  async stop(options: { drain: boolean; timeoutMs: number } = { drain: true, timeoutMs: 5000 }): Promise<void> {
    if (options.drain) {
      const deadline = Date.now() + options.timeoutMs;
      while (this.outbox.depthPoints > 0 && this.storeState.state === 'ok' && Date.now() < deadline) {
        this.nudge();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    this.running = false;
    this.nudge();
    await this.loop;
  }

  /** Tells the drainer new points arrived; it writes at once when a full batch is waiting. */
  notify(): void {
    if (this.outbox.depthPoints >= this.options.batchSize) this.nudge();
  }

  /** Writes everything pending now (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.outbox.depthPoints > 0) {
      if (!(await this.writeOnce())) throw new Error(`store unavailable: ${this.storeState.state === 'spooling' ? this.storeState.lastError : ''}`);
    }
  }

  private nudge(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let delayMs = this.options.flushIntervalMs;
      try {
        if (this.outbox.depthPoints > 0) {
          const ok = await this.writeOnce();
          if (!ok) delayMs = this.backoffMs();
          else if (this.outbox.depthPoints >= this.options.batchSize) delayMs = 0;
        }
      } catch (error) {
        this.logger.error({ err: error }, 'drainer failed; retrying');
        delayMs = this.backoffMs();
      }
      this.metrics.spoolPoints.set(this.outbox.depthPoints);
      if (delayMs > 0 && this.running) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  /**
   * One batch; true when it left the outbox (written or set aside), false on a retryable failure. Serialised:
   * two batches in flight at once could land out of order, and an older full value would then overwrite a newer.
   */
  private writeOnce(): Promise<boolean> {
    const result = this.writing.then(() => this.writeNext());
    this.writing = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async writeNext(): Promise<boolean> {
    const batch = this.outbox.read(this.options.batchSize);
    if (batch === null) {
      this.outbox.recount();
      return true;
    }
    const points = coalesce(batch.points);
    const endTimer = this.metrics.batchSeconds.startTimer();
    try {
      await this.store.write(points);
      endTimer();
      this.outbox.acknowledge(batch);
      this.metrics.pointsWritten.inc(points.length);
      const nowMs = Date.now();
      for (const createdMs of batch.createdMs) this.metrics.storedLatency.observe((nowMs - createdMs) / 1000);
      if (this.storeState.state !== 'ok') this.logger.info({ pending: this.outbox.depthPoints }, 'store reachable again; replaying spool');
      this.storeState = { state: 'ok' };
      this.failures = 0;
      return true;
    } catch (error) {
      const storeError = error instanceof StoreError ? error : new StoreError((error as Error).message, true);
      this.metrics.storeErrors.inc({ retryable: String(storeError.retryable) });
      if (!storeError.retryable) {
        this.outbox.reject(batch, storeError.message);
        this.metrics.pointsRejected.inc(storeError.droppedPoints ?? points.length);
        this.logger.error({ err: storeError.message, points: points.length, dropped: storeError.droppedPoints }, 'store refused a batch; moved to outbox_rejected');
        return true;
      }
      if (this.storeState.state === 'ok') {
        this.storeState = { state: 'spooling', since: Date.now(), lastError: storeError.message };
        this.logger.warn({ err: storeError.message }, 'store unreachable; spooling to disk');
      } else {
        this.storeState = { ...this.storeState, lastError: storeError.message };
      }
      this.failures += 1;
      return false;
    }
  }

  private backoffMs(): number {
    const ceiling = Math.min(this.options.maxBackoffMs, this.options.baseBackoffMs * 2 ** Math.min(this.failures, 16));
    return Math.max(10, Math.floor(this.random() * ceiling));
  }
}
