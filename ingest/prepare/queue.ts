import type { PrepareResult } from '../probe/prepare.ts';
import type { PrepareThread } from './thread.ts';

/** Handles one message now (the pipeline); `prepared` when the prepare thread already did the parsing. */
export type HandleNow = (topic: string, payload: Buffer, receivedAtMs: number, prepared?: PrepareResult) => void;

interface Deferred {
  topic: string;
  payload: Buffer;
  receivedAtMs: number;
  id: number;
}

/** Messages deferred at most before the queue waits for the oldest (bounds memory if the thread falls behind). */
const deferredMax = 512;

/**
 * Probe messages of the open turn, in arrival order, each being prepared on the prepare thread. The event loop
 * applies a message once its reply is in — in arrival order, so the pipeline sees messages exactly as they came —
 * while the thread prepares the next ones. drain() applies the rest before the turn commits, so every message
 * is durable before its PUBACK leaves. A failed reply (thread gone) is prepared on the event loop instead.
 *
 * If applying a message throws (the state database failed), the queue forgets the rest and is marked `failed`:
 * the turn is then rolled back and the connection dropped without its PUBACKs, so the broker redelivers all of
 * them.
 */
export class PrepareQueue {
  /** Applied entries are cleared (their payloads may go) until the queue empties and restarts. */
  private items: (Deferred | undefined)[] = [];
  private head = 0;
  /**
   * A deferred message could not be applied since the last reset(): its PUBACK (and those of the messages
   * forgotten with it) is already corked, so the turn must not commit. Whoever applied it — the next message's
   * handler, a tick, the commit — the turn's commit checks this.
   */
  failed = false;

  constructor(
    private readonly thread: PrepareThread,
    private readonly handleNow: HandleNow,
    private readonly onFallback: (reason: string) => void,
  ) {}

  /** A new turn: nothing of it has failed yet. */
  reset(): void {
    this.failed = false;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** Queues a probe message for the thread; false when no thread runs (the caller handles it now). */
  defer(topic: string, mall: string, payload: Buffer, receivedAtMs: number, withLinks: boolean): boolean {
    this.applyReady();
    if (this.size >= deferredMax) this.applyOldest();
    const id = this.thread.submit(mall, payload, receivedAtMs, withLinks);
    if (id === undefined) return false;
    this.items.push({ topic, payload, receivedAtMs, id });
    return true;
  }

  /** Applies queued messages whose replies are in, oldest first, without waiting. */
  applyReady(): void {
    for (;;) {
      const next = this.items[this.head];
      if (next === undefined) return;
      const reply = this.thread.poll(next.id);
      if (reply === undefined) return;
      this.apply(reply);
    }
  }

  /** Applies every queued message, waiting for replies still being prepared. */
  drain(): void {
    while (this.size > 0) this.applyOldest();
  }

  private applyOldest(): void {
    const next = this.items[this.head];
    if (next !== undefined) this.apply(this.thread.wait(next.id));
  }

  private apply(reply: ReturnType<PrepareThread['wait']>): void {
    const item = this.items[this.head];
    if (item === undefined) return;
    this.items[this.head] = undefined;
    this.head += 1;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    try {
      if (reply.kind === 'failed') {
        this.onFallback(reply.message);
        this.handleNow(item.topic, item.payload, item.receivedAtMs);
      } else {
        this.handleNow(item.topic, item.payload, item.receivedAtMs, reply.kind === 'prepared' ? { ok: true, value: reply.prepared } : { ok: false, reason: reply.reason });
      }
    } catch (error) {
      this.failed = true;
      this.forget();
      throw error;
    }
  }

  /** Drops every queued message (their PUBACKs will not be sent: the broker redelivers them). */
  forget(): void {
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item !== undefined) this.thread.cancel(item.id);
    }
    this.items = [];
    this.head = 0;
  }
}
