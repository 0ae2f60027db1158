import type { DeviceRegistry } from '../../broker/registry.ts';
import type { Component } from '../../core/component.ts';
import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import type { Point, TimeSeriesStore } from '../../ingest/store/types.ts';
import { baselineDays, lastEntryHours, UsualTraffic } from '../alerts/baseline.ts';
import { AlertEngine } from '../alerts/engine.ts';
import { AlertLog } from '../alerts/log.ts';
import { OpeningSchedule } from '../alerts/opening-hours.ts';
import { AlertPublisher } from '../alerts/publisher.ts';
import { conditionsOf, type StoreFacts } from '../alerts/rules.ts';
import { mallAlertsSchema, openingHoursSchema } from '../alerts/settings.ts';
import { loadMall } from './load.ts';
import type { AlertView, LiveSnapshot } from './snapshot.ts';
import { LiveState } from './state.ts';

/** Timings of the live view, in ms. */
export const defaultLiveTiming = {
  /** Updates go out at most this often per mall (a few per second). */
  pushIntervalMs: 500,
  /** A mall's snapshot goes out at least this often, so clients can tell a live link from a dead one. */
  keepaliveMs: 10_000,
  /** Time-based alert conditions (silence) are checked this often. */
  evaluateIntervalMs: 5_000,
  registryRefreshMs: 30_000,
  /** Usual traffic per hour is rebuilt this often (1 h). */
  baselineRefreshMs: 3_600_000,
  /** Retry delay while today's figures cannot be loaded from the store. */
  loadRetryMs: 1_000,
};
export type LiveTiming = typeof defaultLiveTiming;

/** Points committed while today's figures load are held, up to this many; more are dropped (and logged). */
const maxBufferedPoints = 200_000;
const hourMs = 3_600_000;

export interface LiveViewDeps {
  config: Pick<Config, 'malls' | 'dataDir' | 'ingest'>;
  store: TimeSeriesStore;
  registry: Pick<DeviceRegistry, 'listDevices'>;
  logger: Logger;
  /** MQTT account for publishing alerts (service role ingest or ops); without one alerts are not published. */
  mqtt?: { url: string; username: string; password: string };
  now?: () => number;
  timing?: Partial<LiveTiming>;
}

export interface LiveUpdate {
  snapshot: LiveSnapshot;
  /** The snapshot as JSON, serialised once for every client. */
  json: string;
}

/** What the ops server needs from the live view. */
export interface LiveFeed {
  malls(): string[];
  snapshot(mall: string): LiveSnapshot | undefined;
  subscribe(mall: string, listener: (update: LiveUpdate) => void): () => void;
  alertHistory(mall: string, fromMs: number, toMs: number): AlertView[];
}

/**
 * The live control-room view and its alerts: figures kept in memory from committed points (ingest.onCommitted,
 * through accept()), loaded from the store at start, pushed to subscribers a few times a second.
 */
export class LiveView implements Component, LiveFeed {
  readonly name = 'live';
  private readonly state: LiveState;
  private readonly timing: LiveTiming;
  private readonly now: () => number;
  private readonly schedules = new Map<string, OpeningSchedule>();
  private readonly usual = new Map<string, UsualTraffic>();
  private readonly listeners = new Map<string, Set<(update: LiveUpdate) => void>>();
  private readonly dirty = new Set<string>();
  private readonly lastPushMs = new Map<string, number>();
  private buffer: Point[] | undefined = [];
  private bufferOverflowed = false;
  private log: AlertLog | undefined;
  private engine: AlertEngine | undefined;
  private publisher: AlertPublisher | undefined;
  private timers: NodeJS.Timeout[] = [];
  private loadTimer: NodeJS.Timeout | undefined;
  private running = false;
  private lastPushMinute = 0;

  constructor(private readonly deps: LiveViewDeps) {
    this.state = new LiveState(deps.config.malls);
    this.timing = { ...defaultLiveTiming, ...deps.timing };
    this.now = deps.now ?? Date.now;
  }

  async start(): Promise<void> {
    const { logger } = this.deps;
    this.running = true;
    this.buffer = [];
    this.log = AlertLog.open(this.deps.config.dataDir);
    if (this.deps.mqtt !== undefined) {
      this.publisher = new AlertPublisher(this.deps.mqtt, logger.child({ part: 'alert-publisher' }));
      this.publisher.start();
    }
    const publisher = this.publisher;
    this.engine = new AlertEngine(this.log, (event) => publisher?.publish(event), logger.child({ part: 'alerts' }));
    this.engine.restore();
    this.refreshDevices();
    const every = (ms: number, run: () => void): void => {
      const timer = setInterval(() => {
        try {
          run();
        } catch (error) {
          logger.error({ err: error }, 'live view timer failed');
        }
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.timing.pushIntervalMs, () => this.push());
    every(this.timing.evaluateIntervalMs, () => this.evaluateAll());
    every(this.timing.registryRefreshMs, () => this.refreshDevices());
    every(this.timing.baselineRefreshMs, () => this.refreshBaselines());
    every(24 * hourMs, () => this.log?.prune(this.now() - this.deps.config.ingest.retentionDays * 24 * hourMs));
    this.load();
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    clearTimeout(this.loadTimer);
    this.listeners.clear();
    await this.publisher?.stop();
    this.publisher = undefined;
    this.log?.close();
    this.log = undefined;
  }

  /** Committed points from ingest; cheap, never throws into ingest. */
  accept(points: readonly Point[]): void {
    if (this.buffer !== undefined) {
      if (this.buffer.length + points.length <= maxBufferedPoints) {
        for (const point of points) this.buffer.push(point);
      } else if (!this.bufferOverflowed) {
        this.bufferOverflowed = true;
        this.deps.logger.warn('live view: too many points while loading; live figures may be low until the next minutes arrive');
      }
      return;
    }
    try {
      for (const mall of this.state.apply(points, this.now())) this.dirty.add(mall);
    } catch (error) {
      this.deps.logger.error({ err: error }, 'live view could not apply points');
    }
  }

  get loaded(): boolean {
    return this.buffer === undefined;
  }

  malls(): string[] {
    return this.state.mallIds();
  }

  snapshot(mall: string): LiveSnapshot | undefined {
    if (!this.state.has(mall)) return undefined;
    const nowMs = this.now();
    const config = this.deps.config.malls[mall];
    const { stores, totals } = this.state.view(mall, nowMs);
    return {
      mall,
      name: config?.name ?? mall,
      timeZone: config?.timeZone ?? 'Asia/Shanghai',
      generatedAt: new Date(nowMs).toISOString(),
      seriesStart: new Date(this.state.seriesStart(nowMs)).toISOString(),
      businessDayStart: new Date(this.state.businessDayStart(mall, nowMs)).toISOString(),
      open: this.schedule(mall).isOpen(nowMs),
      loaded: this.loaded,
      totals,
      stores,
      alerts: this.engine?.openFor(mall) ?? [],
    };
  }

  subscribe(mall: string, listener: (update: LiveUpdate) => void): () => void {
    const set = this.listeners.get(mall) ?? new Set();
    set.add(listener);
    this.listeners.set(mall, set);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(mall);
    };
  }

  alertHistory(mall: string, fromMs: number, toMs: number): AlertView[] {
    if (this.log === undefined) throw new Error('the live view is not running');
    return this.log.history(mall, fromMs, toMs);
  }

  /** Checks every mall's alert conditions now (timers call this; tests may too). */
  evaluateAll(): void {
    if (!this.loaded) return;
    for (const mall of this.state.mallIds()) this.evaluate(mall);
  }

  private evaluate(mall: string): void {
    const engine = this.engine;
    if (engine === undefined) return;
    const nowMs = this.now();
    const config = this.deps.config.malls[mall];
    const settings = config?.alerts ?? mallAlertsSchema.parse(undefined);
    const timeZone = config?.timeZone ?? 'Asia/Shanghai';
    const usual = this.usual.get(mall);
    const stores: StoreFacts[] = this.state.storeFacts(mall, nowMs).map((s) => ({
      ...s,
      capacity: config?.stores[s.store]?.capacity,
      noEntriesMin: config?.stores[s.store]?.noEntriesAlertMin ?? settings.noEntriesMin,
      usualEntriesPerMin: usual?.perMinute(s.store, nowMs, timeZone),
    }));
    const facts = { mall, nowMs, openSinceMs: this.schedule(mall).openSinceMs(nowMs), settings, stores, devices: this.state.devices(mall) };
    if (engine.evaluate(mall, conditionsOf(facts), nowMs).length > 0) this.dirty.add(mall);
  }

  private push(): void {
    const nowMs = this.now();
    const minute = Math.floor(nowMs / 60_000);
    // The windows move every minute: every mall's figures change then, with or without readings.
    const minuteTurned = minute !== this.lastPushMinute;
    this.lastPushMinute = minute;
    for (const mall of this.dirty) if (this.loaded) this.evaluate(mall);
    for (const [mall, listeners] of this.listeners) {
      const due = minuteTurned || this.dirty.has(mall) || nowMs - (this.lastPushMs.get(mall) ?? 0) >= this.timing.keepaliveMs;
      if (!due) continue;
      const snapshot = this.snapshot(mall);
      if (snapshot === undefined) continue;
      const update = { snapshot, json: JSON.stringify({ type: 'snapshot', snapshot }) };
      this.lastPushMs.set(mall, nowMs);
      for (const listener of [...listeners]) {
        try {
          listener(update);
        } catch (error) {
          this.deps.logger.error({ err: error, mall }, 'live view listener failed');
        }
      }
    }
    this.dirty.clear();
  }

  private schedule(mall: string): OpeningSchedule {
    let schedule = this.schedules.get(mall);
    if (schedule === undefined) {
      const config = this.deps.config.malls[mall];
      schedule = new OpeningSchedule(config?.openingHours ?? openingHoursSchema.parse(undefined), config?.timeZone ?? 'Asia/Shanghai');
      this.schedules.set(mall, schedule);
    }
    return schedule;
  }

  private refreshDevices(): void {
    this.state.setDevices(this.deps.registry.listDevices());
    for (const mall of this.state.mallIds()) this.dirty.add(mall);
  }

  /** Loads today's figures from the store, retrying until it answers; then replays what arrived meanwhile. */
  private load(): void {
    const attempt = async (): Promise<void> => {
      const nowMs = this.now();
      const deviceWindowMs = Math.max(60, ...Object.values(this.deps.config.malls).map((m) => m.alerts.deviceSilentMin + 5)) * 60_000;
      for (const mall of this.state.mallIds()) {
        await loadMall(this.deps.store, this.state, mall, nowMs, deviceWindowMs);
        await this.loadBaseline(mall, nowMs, true);
      }
    };
    attempt().then(
      () => {
        if (!this.running) return;
        const buffered = this.buffer ?? [];
        this.buffer = undefined;
        this.accept(buffered);
        this.deps.logger.info({ malls: this.state.mallIds().length, replayed: buffered.length }, "live view: today's figures loaded");
        this.evaluateAll();
      },
      (error: unknown) => {
        if (!this.running) return;
        this.deps.logger.warn({ err: (error as Error).message }, 'live view: store not ready; retrying');
        this.loadTimer = setTimeout(() => this.load(), this.timing.loadRetryMs);
        this.loadTimer.unref();
      },
    );
  }

  private refreshBaselines(): void {
    const nowMs = this.now();
    for (const mall of this.state.mallIds()) {
      this.loadBaseline(mall, nowMs, false).catch((error: unknown) => this.deps.logger.warn({ err: (error as Error).message, mall }, 'live view: usual traffic not refreshed'));
    }
  }

  /** Hourly entries of the last 7 days: the usual traffic per hour, and a bound on each store's last entry. */
  private async loadBaseline(mall: string, nowMs: number, atStart: boolean): Promise<void> {
    const hourStart = Math.floor(nowMs / hourMs) * hourMs;
    const rows = await this.deps.store.query({
      measurement: 'footfall',
      fields: ['entries'],
      aggregate: 'sum',
      where: { mall },
      fromMs: hourStart - baselineDays * 24 * hourMs,
      toMs: nowMs + 1,
      everyMs: hourMs,
      groupBy: ['store'],
    });
    const usual = new UsualTraffic();
    const schedule = this.schedule(mall);
    usual.rebuild(
      rows.filter((r) => r.tsMs < hourStart),
      this.deps.config.malls[mall]?.timeZone ?? 'Asia/Shanghai',
      (ts) => schedule.isOpen(ts),
    );
    this.usual.set(mall, usual);
    if (!atStart) return;
    // Exact minutes cover the last hour; before it, the end of an hour with entries bounds the last entry.
    for (const [store, untilMs] of lastEntryHours(rows, this.state.seriesStart(nowMs))) this.state.noteEntriesUntil(mall, store, untilMs);
  }
}
