import type Database from 'better-sqlite3';
import type { Registry } from 'prom-client';
import type { Component } from '../core/component.ts';
import type { Config } from '../core/config.ts';
import type { Logger } from '../core/logger.ts';
import { Consumer } from './consumer.ts';
import { DeadLetters } from './dead-letters.ts';
import { DoorProcessor } from './door/processor.ts';
import { defaultDrainerOptions, Drainer } from './drainer.ts';
import { createIngestMetrics, type IngestMetrics, registerProcessorStats } from './metrics.ts';
import { Outbox } from './outbox.ts';
import { PosProcessor } from './pos.ts';
import { OptOuts } from './optouts.ts';
import { MemberLinks } from './portal/member-links.ts';
import { MemberVisits } from './portal/member-visits.ts';
import { PortalProcessor } from './portal/processor.ts';
import { type DeviceDirectory, Pipeline } from './pipeline.ts';
import type { Processor } from './processor.ts';
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
  probe: (settings: Settings, members: { links: MemberLinks; visits: MemberVisits }, optOuts: OptOuts) => Processor<'probe'>;
  mqtt: { url: string; username: string; password: string };
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
  private probe: Processor<'probe'> | undefined;
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
      probe: (this.probe as { stats?: Record<string, number> } | undefined)?.stats,
      portal: this.portal?.stats,
    }));
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
        batch: { begin: () => this.pipeline?.beginBatch(), commit: () => this.pipeline?.commitBatch() },
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

  get portalStats(): PortalProcessor['stats'] | undefined {
    return this.portal?.stats;
  }

  private onMessage(topic: string, payload: Buffer, receivedAtMs: number): void {
    const pipeline = this.pipeline;
    if (pipeline === undefined) throw new Error('ingest is not running');
    try {
      pipeline.handle(topic, payload, receivedAtMs);
    } catch (error) {
      this.ingestMetrics.durableFailures.inc();
      throw error;
    }
    this.drainer?.notify();
  }

  private tick(): void {
    try {
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
