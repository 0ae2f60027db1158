import type { DeviceRegistry } from '../broker/registry.ts';
import type { Component } from '../core/component.ts';
import type { Logger } from '../core/logger.ts';
import { DoorCounter } from './device/door.ts';
import type { Firmware } from './device/firmware.ts';
import { DeviceLink } from './device/link.ts';
import { WifiProbe } from './device/probe.ts';
import { DeviceFaults, enabledFaults } from './faults.ts';
import type { MallConfig } from './mall-config.ts';
import { devicesOf, provisionDevices } from './provision.ts';
import { Random } from './random.ts';
import { TruthFile, type TruthRecord, type TruthSink } from './truth.ts';
import { MallWorld, type PortalLoginEvent, worldStepMs } from './world.ts';

export interface SimulatorOptions {
  mall: MallConfig;
  seed: number;
  /** Real time (the demo) or accelerated: a multiple of real time, or 'max' (as fast as the broker takes it). */
  pace: { realtime: true } | { realtime: false; speed: number | 'max' };
  /** Simulated span; required when accelerated, open-ended in real time when absent. */
  durationMs?: number;
  /** End of an accelerated window (default: now), so every device timestamp lies in the past. */
  endMs?: number;
  truthFile?: string;
  /** Extra truth sink (tests). */
  truth?: TruthSink;
  brokerUrl: string | (() => string);
  /** Called when a simulated shopper logs in on the captive portal. */
  onPortalLogin?: (event: PortalLoginEvent) => void;
  /** How long stop() waits for buffered readings to be acknowledged, in ms. */
  drainTimeoutMs?: number;
}

export interface SimulatorStats {
  simTimeMs: number;
  shoppersInside: number;
  devices: number;
  connected: number;
  delivered: number;
  backlog: number;
  dropped: number;
}

interface SimDevice {
  firmware: Firmware;
  link: DeviceLink;
}

/** Backlog of readings (across connected devices) above which an accelerated clock waits for the broker. */
const backlogPerDevice = 8;

/** The simulated mall with its devices, as a component: `npm start` runs the demo mall in real time with it. */
export class Simulator implements Component {
  readonly name = 'sim';
  private world: MallWorld | undefined;
  private truthFile: TruthFile | undefined;
  private readonly devices = new Map<string, SimDevice>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private finishing: Promise<void> | undefined;
  private finished: { promise: Promise<void>; resolve: () => void; reject: (error: Error) => void } | undefined;
  private startMs = 0;
  private endMs: number | undefined;
  private wallStartMs = 0;

  constructor(
    private readonly options: SimulatorOptions,
    private readonly registry: DeviceRegistry,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const { mall, pace, durationMs } = this.options;
    if (!pace.realtime && durationMs === undefined) throw new Error('an accelerated simulation needs a duration');
    const credentials = await provisionDevices(this.registry, devicesOf(mall));
    const nowMs = Math.floor(Date.now() / worldStepMs) * worldStepMs;
    if (pace.realtime) {
      this.startMs = nowMs;
      this.endMs = durationMs === undefined ? undefined : nowMs + durationMs;
    } else {
      this.endMs = Math.floor((this.options.endMs ?? nowMs) / worldStepMs) * worldStepMs;
      this.startMs = this.endMs - (durationMs ?? 0);
    }
    const truth = this.openTruth();
    truth.write({
      type: 'run',
      version: 1,
      mall: mall.mall,
      seed: this.options.seed,
      startMs: this.startMs,
      endMs: this.endMs ?? null,
      timeZone: mall.timeZone,
      stores: mall.stores.map((s) => s.id),
      faults: enabledFaults(mall.faults),
    });

    const url = typeof this.options.brokerUrl === 'string' ? this.options.brokerUrl : this.options.brokerUrl();
    const root = new Random(this.options.seed).fork('devices');
    for (const spec of devicesOf(mall)) {
      const rng = root.fork(spec.id);
      const creds = credentials.get(spec.id);
      if (creds === undefined) throw new Error(`no credentials for ${spec.id}`);
      const faults = new DeviceFaults(mall.faults, rng.fork('faults'), spec.id, truth, this.startMs);
      const link: DeviceLink = new DeviceLink(
        { url, address: { mall: spec.mall, store: spec.store, device: spec.id }, password: creds.password, ...mall.devices },
        rng.fork('link'),
        this.logger,
        (config) => firmware.applyConfig(config),
        () => firmware.heartbeat(),
      );
      const Kind = spec.kind === 'door' ? DoorCounter : WifiProbe;
      const firmware: Firmware = new Kind(spec.id, link, faults, rng.fork('firmware'), mall.devices.firmware, this.startMs);
      this.devices.set(spec.id, { firmware, link });
    }
    this.world = new MallWorld(mall, this.options.seed, this.startMs, truth, {
      doorCrossing: (id, direction) => (this.devices.get(id)?.firmware as DoorCounter | undefined)?.count(direction),
      sighting: (id, sighting) => (this.devices.get(id)?.firmware as WifiProbe | undefined)?.capture(sighting),
      portalLogin: (event) => this.options.onPortalLogin?.(event),
    });
    let resolve = (): void => undefined;
    let reject = (_error: Error): void => undefined;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // observed through whenFinished()
    this.finished = { promise, resolve, reject };
    for (const { link } of this.devices.values()) link.start();
    await this.waitForConnections(10_000);
    this.running = true;
    this.wallStartMs = Date.now();
    this.logger.info({ mall: mall.mall, devices: this.devices.size, startMs: this.startMs, endMs: this.endMs, pace }, 'simulation started');
    this.schedule(0);
  }

  /** Resolves when a run with a duration has simulated its window and delivered its readings. */
  whenFinished(): Promise<void> {
    if (this.finished === undefined) return Promise.reject(new Error('simulator not started'));
    return this.finished.promise;
  }

  async stop(): Promise<void> {
    if (this.world === undefined) return;
    await this.finish();
  }

  stats(): SimulatorStats {
    const links = [...this.devices.values()].map((d) => d.link);
    return {
      simTimeMs: this.world?.timeMs ?? 0,
      shoppersInside: this.world?.shoppersInside ?? 0,
      devices: links.length,
      connected: links.filter((l) => l.connected).length,
      delivered: links.reduce((n, l) => n + l.delivered, 0),
      backlog: links.reduce((n, l) => n + l.backlog, 0),
      dropped: links.reduce((n, l) => n + l.dropped, 0),
    };
  }

  private openTruth(): TruthSink {
    const sinks: TruthSink[] = [];
    if (this.options.truthFile !== undefined) {
      this.truthFile = new TruthFile(this.options.truthFile);
      this.truthFile.open();
      sinks.push(this.truthFile);
    }
    if (this.options.truth !== undefined) sinks.push(this.options.truth);
    return { write: (record: TruthRecord) => sinks.forEach((s) => s.write(record)) };
  }

  private async waitForConnections(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const links = [...this.devices.values()].map((d) => d.link);
    while (Date.now() < deadline && links.some((l) => !l.connected)) await new Promise((r) => setTimeout(r, 20));
    const offline = links.filter((l) => !l.connected).length;
    if (offline > 0) this.logger.warn({ offline }, 'devices not connected yet; they buffer and keep retrying');
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => this.loop(), delayMs);
  }

  private loop(): void {
    const world = this.world;
    if (!this.running || world === undefined) return;
    try {
      if (this.backlogged()) {
        this.schedule(5);
        return;
      }
      this.advanceTo(this.targetMs(world.timeMs));
      if (this.endMs !== undefined && world.timeMs >= this.endMs) {
        this.finish().then(
          () => this.finished?.resolve(),
          (error: unknown) => this.finished?.reject(error as Error),
        );
        return;
      }
      const { pace } = this.options;
      this.schedule(pace.realtime ? 1000 - (Date.now() % 1000) : pace.speed === 'max' ? 0 : 20);
    } catch (error) {
      this.logger.error({ err: error }, 'simulation failed');
      this.running = false;
      this.finished?.reject(error as Error);
    }
  }

  private targetMs(simMs: number): number {
    const { pace } = this.options;
    // At most an hour of simulated time per turn keeps the event loop (and MQTT keepalives) responsive.
    const chunkMs = 3_600_000;
    let target: number;
    if (pace.realtime) target = Date.now();
    else if (pace.speed === 'max') target = simMs + 60_000;
    else target = Math.min(simMs + chunkMs, this.startMs + (Date.now() - this.wallStartMs) * pace.speed);
    return this.endMs === undefined ? target : Math.min(target, this.endMs);
  }

  private backlogged(): boolean {
    if (this.options.pace.realtime) return false;
    let backlog = 0;
    for (const { link } of this.devices.values()) if (link.connected) backlog += link.backlog;
    return backlog > backlogPerDevice * this.devices.size;
  }

  private advanceTo(targetMs: number): void {
    const world = this.world;
    if (world === undefined) return;
    while (world.timeMs + worldStepMs <= targetMs) {
      world.advance(world.timeMs + worldStepMs);
      for (const { firmware, link } of this.devices.values()) {
        const outageMs = firmware.tick(world.timeMs);
        if (outageMs > 0) link.injectOutage(this.toWallMs(outageMs));
      }
    }
  }

  /** A simulated outage in wall-clock time at the current pace. */
  private toWallMs(simMs: number): number {
    const { pace } = this.options;
    if (pace.realtime) return simMs;
    const speed = pace.speed === 'max' ? 600 : pace.speed;
    return Math.max(50, Math.min(simMs, simMs / speed));
  }

  private finish(): Promise<void> {
    this.finishing ??= (async () => {
      this.running = false;
      if (this.timer) clearTimeout(this.timer);
      const world = this.world;
      if (world === undefined) return;
      for (const { firmware } of this.devices.values()) firmware.finish(world.timeMs);
      world.finish();
      this.options.truth?.write({ type: 'end', tsMs: world.timeMs });
      this.truthFile?.write({ type: 'end', tsMs: world.timeMs });
      const drainMs = this.options.drainTimeoutMs ?? 30_000;
      await Promise.all([...this.devices.values()].map(({ link }) => link.stop(drainMs)));
      const stats = this.stats();
      await this.truthFile?.close();
      this.logger.info({ ...stats }, 'simulation stopped');
      if (stats.backlog > 0) this.logger.warn({ backlog: stats.backlog }, 'readings not acknowledged before the drain timeout');
    })();
    return this.finishing;
  }
}
