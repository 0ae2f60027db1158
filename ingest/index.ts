import os from 'node:os';
import type Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import type { Component } from '../core/component.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { parseDeviceTopic } from '../protocol/topics.ts';
import { Consumer } from './consumer.ts';
import { DeadLetters } from './dead-letters.ts';
import { DoorProcessor } from './door/processor.ts';
import { defaultDrainerOptions, Drainer } from './drainer.ts';
import { createIngestMetrics, type IngestMetrics, registerPrepareThreadGauge, registerProcessorStats } from './metrics.ts';
import { Outbox } from './outbox.ts';
import { PosProcessor } from './pos.ts';
import { OptOuts } from './optouts.ts';
import { MemberLinks } from './portal/member-links.ts';
import { MemberVisits } from './portal/member-visits.ts';
import { PortalProcessor } from './portal/processor.ts';
import { type DeviceDirectory, Pipeline } from './pipeline.ts';
import { PrepareQueue } from './prepare/queue.ts';
import { defaultPrepareThreadOptions, PrepareThread, type PrepareThreadOptions } from './prepare/thread.ts';
import type { PrepareResult } from './probe/prepare.ts';
import type { ProbeProcessor } from './probe/processor.ts';
import { Settings } from './settings.ts';
import { openStateDb } from './state-db.ts';
import { StatusProcessor } from './status-processor.ts';
import type { Point, TimeSeriesStore } from './store/types.ts';

export interface IngestDeps {
  config: Config;
  logger: Logger;
  metrics: Registry;
  store: TimeSeriesStore;
  directory: DeviceDirectory;
  /** Builds the probe processor (it needs the pseudonymisation master secret, member links and opt-outs). */
  probe: (settings: Settings, members: { links: MemberLinks; visits: MemberVisits }, optOuts: OptOuts) => ProbeProcessor;
  mqtt: { url: string; username: string; password: string };
  /** Overrides for the probe prepare thread (tests). */
  prepareThread?: Partial<PrepareThreadOptions>;
}

export interface HealthReport {
  ok: boolean;
  broker: 'connected' | 'disconnected';
  store: 'ok' | 'spooling' | 'opening';
  spoolPoints: number;
  reasons: string[];
}

/** How often processors tick (closing visits), in ms. */
const tickIntervalMs = 1000;
/** How often old working state is pruned, in ms (1 h). */
const pruneIntervalMs = 60 * 60 * 1000;
/** How often opt-outs added by `plaza optout` in another process are picked up, in ms. */
const optOutReloadMs = 10_000;
/** Retry delay while the store cannot be opened at start, in ms. */
const openRetryMs = 2000;

/** MQTT readings → validated, durable, idempotent time series. */
export class Ingest implements Component {
  readonly name = 'ingest';
  private db: Database.Database | undefined;
  private consumer: Consumer | undefined;
  private drainer: Drainer | undefined;
  private pipeline: Pipeline | undefined;
  private door: DoorProcessor | undefined;
  private portal: PortalProcessor | undefined;
  private pos: PosProcessor | undefined;
  private memberVisits: MemberVisits | undefined;
  private probe: ProbeProcessor | undefined;
  private prepareThread: PrepareThread | undefined;
  private prepareQueue: PrepareQueue | undefined;
  /** A consumer turn is open: its PUBACKs wait for its commit, so probe messages may be deferred within it. */
  private inTurn = false;
  private optOuts: OptOuts | undefined;
  private outbox: Outbox | undefined;
  private timers: NodeJS.Timeout[] = [];
  private storeOpen = false;
  private stopped = false;
  private readonly ingestMetrics: IngestMetrics;
  private readonly committedListeners: ((points: readonly Point[]) => void)[] = [];

  constructor(private readonly deps: IngestDeps) {
    this.ingestMetrics = createIngestMetrics(deps.metrics);
    registerProcessorStats(deps.metrics, () => ({
      door: this.door?.stats,
      probe: this.probe?.stats as Record<string, number> | undefined,
      portal: this.portal?.stats,
    }));
    registerPrepareThreadGauge(deps.metrics, () => this.prepareThread?.usable === true);
  }

  async start(): Promise<void> {
    const { config, logger } = this.deps;
    this.stopped = false;
    const db = openStateDb(config.dataDir);
    this.db = db;
    const settings = new Settings(config.malls);
    this.door = new DoorProcessor(settings);
    const outbox = new Outbox(db);
    this.outbox = outbox;
    const deadLetters = new DeadLetters(db, this.ingestMetrics.invalid, logger.child({ part: 'dead-letters' }));
    const links = new MemberLinks();
    this.memberVisits = new MemberVisits();
    this.optOuts = OptOuts.open(config.dataDir);
    this.portal = new PortalProcessor(links, this.memberVisits);
    this.pos = new PosProcessor();
    this.probe = this.deps.probe(settings, { links, visits: this.memberVisits }, this.optOuts);
    this.pipeline = new Pipeline(
      db,
      {
        door: this.door,
        probe: this.probe,
        status: new StatusProcessor(),
        portal: this.portal,
        pos: this.pos,
      },
      outbox,
      deadLetters,
      this.deps.directory,
      this.ingestMetrics,
    );
    for (const listener of this.committedListeners) this.pipeline.onCommitted(listener);
    const drainer = new Drainer(
      outbox,
      this.deps.store,
      { ...defaultDrainerOptions, batchSize: config.ingest.batchSize, flushIntervalMs: config.ingest.flushIntervalMs },
      this.ingestMetrics,
      logger.child({ part: 'drainer' }),
    );
    this.drainer = drainer;
    if (useThread(config.ingest.prepareThread)) {
      const thread = new PrepareThread(this.probe.prepareSpec, logger.child({ part: 'prepare-thread' }), {
        ...defaultPrepareThreadOptions,
        onWaited: (ms) => this.ingestMetrics.prepareWaitSeconds.inc(ms / 1000),
        ...this.deps.prepareThread,
      });
      this.prepareThread = thread;
      this.prepareQueue = new PrepareQueue(
        thread,
        (topic, payload, receivedAtMs, prepared) => this.handleNow(topic, payload, receivedAtMs, prepared),
        (reason) => {
          this.ingestMetrics.prepareFallbacks.inc();
          logger.warn({ reason }, 'probe batch prepared on the event loop: the prepare thread failed');
        },
      );
      thread.start();
    }
    const pending = outbox.recount();
    if (pending.points > 0) logger.info(pending, 'outbox holds points from before; replaying');
    this.openStore(drainer);

    this.consumer = new Consumer(
      {
        url: this.deps.mqtt.url,
        username: this.deps.mqtt.username,
        password: this.deps.mqtt.password,
        clientId: `${this.deps.mqtt.username}-${config.ingest.instance}`,
        malls: config.ingest.malls,
        reconnectPeriodMs: 1000,
        batch: { begin: () => this.beginTurn(), commit: () => this.commitTurn() },
      },
      (topic, payload, receivedAtMs) => this.onMessage(topic, payload, receivedAtMs),
      logger.child({ part: 'consumer' }),
    );
    this.timers.push(setInterval(() => this.tick(), tickIntervalMs));
    this.timers.push(setInterval(() => this.prune(), pruneIntervalMs));
    this.timers.push(setInterval(() => this.reloadOptOuts(), optOutReloadMs));
    for (const timer of this.timers) timer.unref();
    await this.consumer.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.consumer?.stop();
    await this.prepareThread?.stop();
    this.prepareThread = undefined;
    this.prepareQueue = undefined;
    if (this.storeOpen) await this.drainer?.stop({ drain: true, timeoutMs: 5000 });
    await this.deps.store.close();
    this.db?.close();
    this.db = undefined;
    this.optOuts?.close();
    this.optOuts = undefined;
  }

  health(): HealthReport {
    const reasons: string[] = [];
    const broker = this.consumer?.isConnected === true ? 'connected' : 'disconnected';
    if (broker === 'disconnected') reasons.push('MQTT broker unreachable');
    const storeState = !this.storeOpen ? 'opening' : (this.drainer?.state.state ?? 'opening');
    if (storeState === 'spooling' && this.drainer?.state.state === 'spooling') reasons.push(`store unreachable, spooling: ${this.drainer.state.lastError}`);
    return { ok: broker === 'connected', broker, store: storeState, spoolPoints: this.outbox?.depthPoints ?? 0, reasons };
  }

  /**
   * Points as soon as they are committed (before they reach the store): for the live view and alerts, so
   * they update within a second of a reading arriving. Register before start().
   */
  onCommitted(listener: (points: readonly Point[]) => void): void {
    this.committedListeners.push(listener);
  }

  /** Writes everything pending to the store now (tests, benchmarks). */
  async flush(): Promise<void> {
    await this.drainer?.flush();
  }

  get doorStats(): DoorProcessor['stats'] | undefined {
    return this.door?.stats;
  }

  /** Resolves once the prepare thread is up (or failed to start); immediately without one (tests, benchmarks). */
  async prepareThreadReady(): Promise<void> {
    await this.prepareThread?.ready();
  }

  get portalStats(): PortalProcessor['stats'] | undefined {
    return this.portal?.stats;
  }

  private beginTurn(): void {
    this.pipeline?.beginBatch();
    this.prepareQueue?.reset();
    this.inTurn = true;
  }

  /**
   * Applies the turn's deferred probe messages, then commits the turn; its PUBACKs go out after this returns.
   * If any deferred message could not be applied (here, in a later message's handler, or in a tick that ran
   * inside the turn) the turn is rolled back and this throws: the consumer then drops the connection with the
   * PUBACKs unsent.
   */
  private commitTurn(): void {
    this.inTurn = false;
    const queue = this.prepareQueue;
    try {
      queue?.drain();
      if (queue?.failed === true) throw new Error('a deferred probe message could not be applied; the turn is rolled back for redelivery');
    } catch (error) {
      this.pipeline?.abortBatch();
      throw error;
    }
    this.pipeline?.commitBatch();
  }

  /**
   * Inside a turn, a probe message goes to the prepare thread and is applied later in the same turn (its PUBACK
   * stays corked until the turn commits); everything else is applied now, after the messages queued before it.
   */
  private onMessage(topic: string, payload: Buffer, receivedAtMs: number): void {
    const queue = this.prepareQueue;
    if (queue !== undefined) {
      if (this.inTurn && this.probe !== undefined) {
        const mall = probeTopicMall(topic);
        if (mall !== undefined && queue.defer(topic, mall, payload, receivedAtMs, this.probe.needsLinks())) return;
      }
      queue.drain();
    }
    this.handleNow(topic, payload, receivedAtMs);
  }

  private handleNow(topic: string, payload: Buffer, receivedAtMs: number, prepared?: PrepareResult): void {
    const pipeline = this.pipeline;
    if (pipeline === undefined) throw new Error('ingest is not running');
    try {
      pipeline.handle(topic, payload, receivedAtMs, prepared);
    } catch (error) {
      this.ingestMetrics.durableFailures.inc();
      throw error;
    }
    this.drainer?.notify();
  }

  private tick(): void {
    try {
      // A tick can run inside an open turn (timers come before the turn's setImmediate): apply the deferred
      // messages first so it never overtakes one. If one fails, the queue is marked and the turn will not commit.
      this.prepareQueue?.drain();
      this.pipeline?.tick(Date.now());
      this.drainer?.notify();
    } catch (error) {
      this.deps.logger.error({ err: error }, 'tick failed');
    }
  }

  private reloadOptOuts(): void {
    try {
      this.optOuts?.reload();
    } catch (error) {
      this.deps.logger.error({ err: error }, 'reloading opt-outs failed');
    }
  }

  private prune(): void {
    try {
      const nowMs = Date.now();
      const removed = (this.door?.prune(nowMs) ?? 0) + (this.portal?.prune(nowMs) ?? 0) + (this.memberVisits?.prune(nowMs) ?? 0) + (this.pos?.prune(nowMs) ?? 0);
      if (removed > 0) this.deps.logger.info({ removed }, 'pruned door working state');
    } catch (error) {
      this.deps.logger.error({ err: error }, 'prune failed');
    }
  }

  /** Opens the store, retrying in the background; readings spool in the outbox meanwhile. */
  private openStore(drainer: Drainer): void {
    const attempt = (): void => {
      if (this.stopped) return;
      this.deps.store.open().then(
        () => {
          if (this.stopped) return;
          this.storeOpen = true;
          drainer.start();
        },
        (error: unknown) => {
          this.deps.logger.warn({ err: (error as Error).message }, 'store not ready; spooling and retrying');
          const timer = setTimeout(attempt, openRetryMs);
          timer.unref();
        },
      );
    };
    attempt();
  }
}

/** Whether to run the prepare thread: `auto` = when there is a second core for it. */
function useThread(setting: Config['ingest']['prepareThread']): boolean {
  return setting === 'on' || (setting === 'auto' && os.availableParallelism() > 1);
}

/** The mall of a probe reading's topic (plaza/v1/<mall>/<store>/probe/<device>); undefined for any other topic. */
function probeTopicMall(topic: string): string | undefined {
  const parsed = parseDeviceTopic(topic);
  return parsed?.channel === 'probe' ? parsed.mall : undefined;
}
