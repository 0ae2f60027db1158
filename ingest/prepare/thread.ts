import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { Logger } from '../../core/logger.ts';
import type { ProbePrepareSpec } from '../probe/prepare.ts';
import type { PrepareReply, PrepareRequest, PrepareWorkerData } from './protocol.ts';

export interface PrepareThreadOptions {
  /** Longest the event loop waits for one reply before it gives the thread up, in ms. */
  replyTimeoutMs: number;
  /** Longest start() waits for the thread to load, in ms. */
  startTimeoutMs: number;
  /** Wait before a failed thread is started again, in ms. */
  restartDelayMs: number;
  /** Told how long each wait() blocked, in ms (metrics). */
  onWaited?: (ms: number) => void;
  /** The thread's entry module; tests start one that misbehaves. Default: worker.ts (via worker-from-source.mjs from the sources). */
  workerUrl?: URL;
}

export const defaultPrepareThreadOptions: PrepareThreadOptions = { replyTimeoutMs: 2000, startTimeoutMs: 30_000, restartDelayMs: 10_000 };

interface Running {
  worker: Worker;
  port: MessagePort;
  replies: Int32Array;
}

/**
 * A worker thread that validates and pseudonymises probe batches (ingest/prepare/worker.ts) while the event
 * loop applies earlier ones. Replies are read synchronously (receiveMessageOnPort, Atomics.wait), never through
 * events, so the event loop decides when a reply is applied: always inside the transaction that precedes the
 * message's PUBACK. If the thread dies or stalls, every outstanding request reads as 'failed' and the caller
 * prepares it itself; the thread is started again after a delay.
 */
export class PrepareThread {
  private running: Running | undefined;
  private nextId = 1;
  /** Requests sent to the running thread and not yet taken. */
  private readonly outstanding = new Set<number>();
  private readonly replies = new Map<number, PrepareReply>();
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private launching: Promise<void> | undefined;

  constructor(
    private readonly spec: ProbePrepareSpec,
    private readonly logger: Logger,
    private readonly options: PrepareThreadOptions = defaultPrepareThreadOptions,
  ) {}

  /** True while a thread runs; otherwise callers prepare on the event loop. */
  get usable(): boolean {
    return this.running !== undefined;
  }

  /**
   * Starts loading the thread and returns: until it is up (~0.5 s) the event loop prepares batches itself. If it
   * cannot load, that is logged and retried.
   */
  start(): void {
    this.stopped = false;
    this.relaunch();
  }

  /** Resolves once the thread is up (or failed to start): tests and benchmarks. */
  async ready(): Promise<void> {
    await this.launching;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.launching;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const running = this.running;
    this.abandon();
    if (running !== undefined) await running.worker.terminate();
  }

  /** Sends a payload to be prepared; undefined when no thread runs. */
  submit(mall: string, payload: Buffer, receivedAtMs: number, withLinks: boolean): number | undefined {
    const running = this.running;
    if (running === undefined) return undefined;
    const id = this.nextId++;
    // A copy of exactly the payload: the MQTT parser's buffer may be a slice of a larger socket chunk.
    const bytes = new Uint8Array(payload.length);
    bytes.set(payload);
    const request: PrepareRequest = { id, mall, payload: bytes, receivedAtMs, withLinks };
    running.port.postMessage(request, [bytes.buffer]);
    this.outstanding.add(id);
    return id;
  }

  /** The reply to `id` if it has arrived (never blocks); undefined while it is still being prepared. */
  poll(id: number): PrepareReply | undefined {
    this.pull();
    return this.claim(id);
  }

  /** The reply to `id`, waiting for it up to the reply timeout; then the thread is given up ('failed'). */
  wait(id: number): PrepareReply {
    const startedMs = performance.now();
    try {
      return this.waitFor(id, startedMs + this.options.replyTimeoutMs);
    } finally {
      this.options.onWaited?.(performance.now() - startedMs);
    }
  }

  private waitFor(id: number, deadlineMs: number): PrepareReply {
    for (;;) {
      const running = this.running;
      this.pull();
      const reply = this.claim(id);
      if (reply !== undefined) return reply;
      if (running === undefined) return this.failed(id, 'prepare thread not running');
      const seen = Atomics.load(running.replies, 0);
      this.pull();
      const late = this.claim(id);
      if (late !== undefined) return late;
      const leftMs = deadlineMs - performance.now();
      if (leftMs <= 0 || Atomics.wait(running.replies, 0, seen, leftMs) === 'timed-out') {
        this.fail(`no reply within ${this.options.replyTimeoutMs} ms`);
      }
    }
  }

  /** The caller no longer wants this reply (its message will be redelivered). */
  cancel(id: number): void {
    this.outstanding.delete(id);
    this.replies.delete(id);
  }

  private claim(id: number): PrepareReply | undefined {
    const reply = this.replies.get(id);
    if (reply !== undefined) {
      this.replies.delete(id);
      this.outstanding.delete(id);
      return reply;
    }
    if (!this.outstanding.has(id)) return this.failed(id, 'prepare thread was replaced');
    return undefined;
  }

  private failed(id: number, message: string): PrepareReply {
    this.outstanding.delete(id);
    return { id, kind: 'failed', message };
  }

  private pull(): void {
    const running = this.running;
    if (running === undefined) return;
    for (;;) {
      const received = receiveMessageOnPort(running.port);
      if (received === undefined) return;
      const reply = received.message as PrepareReply;
      if (this.outstanding.has(reply.id)) this.replies.set(reply.id, reply);
    }
  }

  private relaunch(): void {
    this.launching = this.launch().catch((error: unknown) => this.logger.error({ err: error }, 'could not start the prepare thread'));
  }

  private async launch(): Promise<void> {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    const workerData: PrepareWorkerData = { spec: this.spec, port: port2, signal };
    let worker: Worker;
    try {
      worker = new Worker(this.options.workerUrl ?? defaultWorkerUrl(), { workerData, transferList: [port2] });
    } catch (error) {
      this.logger.error({ err: error }, 'could not start the prepare thread; preparing probe batches on the event loop');
      return;
    }
    const ready = await new Promise<boolean>((resolve) => {
      const settle = (up: boolean): void => {
        clearTimeout(timer);
        worker.off('message', onReady);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve(up);
      };
      const onReady = (): void => settle(true);
      const onError = (error: Error): void => {
        this.logger.error({ err: error }, 'prepare thread failed to load');
        settle(false);
      };
      const onExit = (code: number): void => {
        this.logger.error({ code }, 'prepare thread exited while loading');
        settle(false);
      };
      const timer = setTimeout(() => {
        this.logger.error({ startTimeoutMs: this.options.startTimeoutMs }, 'prepare thread did not load in time');
        settle(false);
      }, this.options.startTimeoutMs);
      worker.once('message', onReady);
      worker.once('error', onError);
      worker.once('exit', onExit);
    });
    if (!ready || this.stopped) {
      port1.close();
      await worker.terminate();
      if (!ready) this.scheduleRestart();
      return;
    }
    // The thread holds nothing worth waiting for: it must not keep the process alive.
    worker.unref();
    const running: Running = { worker, port: port1, replies: new Int32Array(signal) };
    this.running = running;
    worker.on('error', (error) => {
      if (this.running !== running) return;
      this.logger.error({ err: error }, 'prepare thread crashed; preparing probe batches on the event loop until it is back');
      this.abandon();
      this.scheduleRestart();
    });
    worker.on('exit', (code) => {
      if (this.running !== running) return;
      this.logger.error({ code }, 'prepare thread exited; preparing probe batches on the event loop until it is back');
      this.abandon();
      this.scheduleRestart();
    });
    this.logger.debug('prepare thread running');
  }

  /** Gives the thread up: outstanding requests read as 'failed' and are prepared by the caller. */
  private fail(reason: string): void {
    const running = this.running;
    this.logger.error({ reason, outstanding: this.outstanding.size }, 'prepare thread stalled; preparing probe batches on the event loop until it is back');
    this.abandon();
    if (running !== undefined) running.worker.terminate().catch(() => undefined);
    this.scheduleRestart();
  }

  private abandon(): void {
    this.running?.port.close();
    this.running = undefined;
    this.outstanding.clear();
    this.replies.clear();
  }

  private scheduleRestart(): void {
    if (this.stopped || this.restartTimer !== undefined) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopped && this.running === undefined) this.relaunch();
    }, this.options.restartDelayMs);
    this.restartTimer.unref();
  }
}

/** worker.ts: through worker-from-source.mjs (which registers tsx) from the sources, directly from a build. */
function defaultWorkerUrl(): URL {
  return new URL(import.meta.url.endsWith('.ts') ? './worker-from-source.mjs' : './worker.js', import.meta.url);
}
