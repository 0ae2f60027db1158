import type Database from 'better-sqlite3';
import type { Logger } from '../../core/logger.ts';
import type { ProbePayload } from '../../protocol/payloads/probe.ts';
import type { DeviceTopic } from '../../protocol/topics.ts';
import { type Processor, RejectedReading } from '../processor.ts';
import { defaultTimeZone, type Settings, type StoreSettings } from '../settings.ts';
import type { Point } from '../store/types.ts';
import { Changes } from './changes.ts';
import { LocalDays } from './days.ts';
import { type Ident, Identities, type IdentityKind, identityKinds } from './identities.ts';
import { emptyProbeStats, type ProbeProcessorOptions, probeProcessorDefaults, type ProbeStats } from './options.ts';
import { type PreparedProbe, type PrepareResult, type ProbePrepareSpec, ProbePreparer, sightingFlags } from './prepare.ts';
import { markMessage, openProbeState, type ProbeStatements } from './state.ts';
import { VisitTracker } from './tracker.ts';

type Limits = { -readonly [K in keyof typeof probeProcessorDefaults]: number };

interface State {
  s: ProbeStatements;
  identities: Identities;
  tracker: VisitTracker;
}

/**
 * Wi-Fi probe sightings → presence per store-minute, closed visits with dwell, unique devices per local day.
 * MACs are pseudonymised under the mall's day key as the first step; nothing raw reaches the database,
 * points, logs or errors. See docs/accuracy.md for the identity method and its error.
 */
export class ProbeProcessor implements Processor<'probe'> {
  readonly stats: ProbeStats = emptyProbeStats();
  private readonly limits: Limits;
  private readonly settings: Settings;
  private readonly logger: Logger;
  private readonly days: LocalDays;
  private readonly storeSettings = new Map<string, StoreSettings>();
  private state: State | undefined;
  private lastPurgeMs = Number.NEGATIVE_INFINITY;

  private readonly members: ProbeProcessorOptions['members'];
  private readonly optOuts: ProbeProcessorOptions['optOuts'];
  private readonly spec: ProbePrepareSpec;
  private readonly preparer: ProbePreparer;

  constructor(options: ProbeProcessorOptions) {
    const { masterSecret, settings, logger, members, optOuts, ...overrides } = options;
    this.members = members;
    this.optOuts = optOuts;
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
    this.limits = { ...probeProcessorDefaults, ...defined };
    this.settings = settings;
    this.logger = logger;
    this.days = new LocalDays(masterSecret, (mall) => settings.timeZoneOf(mall));
    this.spec = {
      masterSecret,
      timeZones: settings.timeZones(),
      defaultTimeZone,
      futureSkewMaxMs: this.limits.futureSkewMaxMs,
      lateDataMaxMs: this.limits.lateDataMaxMs,
    };
    this.preparer = new ProbePreparer(this.spec);
  }

  migrate(db: Database.Database): void {
    const s = openProbeState(db);
    const identities = new Identities(s);
    this.state = { s, identities, tracker: new VisitTracker(identities, this.stats, this.limits.stateGraceMs) };
    this.members?.visits.migrate(db);
  }

  process(topic: DeviceTopic<'probe'>, payload: ProbePayload, receivedAtMs: number): Point[] {
    return this.processPrepared(topic, this.preparer.prepare(topic.mall, payload, receivedAtMs, this.needsLinks()), receivedAtMs);
  }

  /** Validates and pseudonymises a raw payload on this thread (what the prepare thread does otherwise). */
  parse(mall: string, payload: Buffer, receivedAtMs: number): PrepareResult {
    return this.preparer.parse(mall, payload, receivedAtMs, this.needsLinks());
  }

  /** What the prepare thread needs to pseudonymise batches exactly as process() does. */
  get prepareSpec(): ProbePrepareSpec {
    return this.spec;
  }

  /** A batch already validated and pseudonymised (by the prepare thread, or by process()). */
  processPrepared(topic: DeviceTopic<'probe'>, batch: PreparedProbe, receivedAtMs: number): Point[] {
    const state = this.requireState();
    const { mall, store } = topic;
    if (batch.count > 0 && batch.old === batch.count) {
      throw new RejectedReading(`all ${batch.count} sightings are older than the late-data window (${Math.round(this.limits.lateDataMaxMs / 3_600_000)} h)`);
    }
    if (!markMessage(state.s, topic.device, batch.boot, batch.seq, receivedAtMs)) {
      this.stats.duplicateMessages += 1;
      return [];
    }
    this.stats.futureSkewCorrected += batch.future;
    this.stats.tooOldDropped += batch.old;
    this.stats.sightings += batch.count - batch.old;

    const changes = new Changes();
    const storeSettings = this.storeSettingsOf(mall, store);
    const memberPoints: Point[] = [];
    const checkLinks = this.needsLinks();
    for (const i of batch.order) {
      const tsMs = batch.times[i] ?? receivedAtMs;
      const link = batch.links[i] ?? null;
      if (checkLinks && link !== null && this.linkedOrOptedOut(mall, store, link, tsMs, memberPoints)) continue;
      this.apply(state, mall, store, storeSettings, batch, i, tsMs, receivedAtMs, changes);
    }
    const points = this.finish(state, changes, receivedAtMs);
    for (const point of memberPoints) points.push(point);
    return points;
  }

  /** Member links or opt-outs exist: stable MACs need their link hash (a batch prepared without them is prepared again). */
  needsLinks(): boolean {
    return (this.optOuts?.size ?? 0) > 0 || (this.members?.links.size ?? 0) > 0;
  }

  /**
   * Stable MACs (global, or the per-SSID private MAC of a joined phone) are checked against opt-outs and member
   * links by their link hash, computed when the batch was prepared. Returns true when the sighting must be ignored.
   */
  private linkedOrOptedOut(mall: string, store: string, hash: string, tsMs: number, memberPoints: Point[]): boolean {
    if (this.optOuts?.has(hash) === true) {
      this.stats.optedOut += 1;
      return true;
    }
    const memberRef = this.members?.links.lookup(hash);
    if (memberRef !== undefined && this.members !== undefined) {
      this.stats.memberSightings += 1;
      for (const point of this.members.visits.seen(memberRef, mall, store, this.days.of(mall, tsMs))) memberPoints.push(point);
    }
    return false;
  }

  /** Closes visits whose gap has passed and purges expired working state. */
  tick(nowMs: number): Point[] {
    const state = this.requireState();
    const changes = new Changes();
    for (const due of state.s.dueVisits.all(nowMs, this.limits.closeBatchMax)) {
      const ident = state.identities.get(due.mall, due.store, due.identity);
      const visit = ident?.visits.find((v) => v.vkey === due.vkey);
      if (ident === null || ident === undefined || visit === undefined || visit.closed) continue;
      // The stored closing time is a lower bound: later sightings moved the real one without reindexing.
      if (nowMs - visit.lastMs > this.storeSettingsOf(ident.mall, ident.store).visitGapS * 1000) {
        state.tracker.close(ident, visit, nowMs, changes);
      } else {
        visit.dirty = true;
        visit.reindex = true;
        state.identities.touched(ident);
      }
    }
    const points = this.finish(state, changes, nowMs);
    if (nowMs - this.lastPurgeMs >= this.limits.purgeIntervalMs) {
      this.purge(state, nowMs);
      this.lastPurgeMs = nowMs;
    }
    return points;
  }

  private apply(
    state: State,
    mall: string,
    store: string,
    storeSettings: StoreSettings,
    batch: PreparedProbe,
    i: number,
    tsMs: number,
    nowMs: number,
    changes: Changes,
  ): void {
    const { identities, tracker } = state;
    const day = this.days.of(mall, tsMs);
    const mac = batch.ids[i] ?? '';
    const flags = batch.flags[i] ?? 0;
    const randomized = (flags & sightingFlags.randomized) !== 0;
    const assoc = (flags & sightingFlags.assoc) !== 0;
    const sn = (flags & sightingFlags.hasSn) !== 0 ? (batch.sn[i] ?? 0) : undefined;
    const fph = batch.fphs[i] ?? null;
    const kind: IdentityKind = !randomized
      ? identityKinds.global
      : assoc
        ? identityKinds.associated
        : fph !== null
          ? identityKinds.clustered
          : identityKinds.unclustered;

    let ident: Ident | null = null;
    if (randomized) {
      const aliased = identities.aliasOf(mall, store, mac);
      if (aliased !== null) ident = identities.get(mall, store, aliased);
    }
    ident ??= identities.get(mall, store, mac);
    if (ident === null && kind === identityKinds.clustered && fph !== null && sn !== undefined) {
      ident = identities.findCluster({ mall, store, fph, sn, tsMs, snWindow: this.limits.clusterSnWindow, windowMs: this.limits.clusterWindowMs });
      if (ident !== null) {
        identities.addAlias(mall, store, mac, ident);
        this.stats.clusterMerges += 1;
      }
    }
    if (ident === null) {
      ident = identities.create(mall, store, mac, day, kind, changes);
      // Only late data can reach a day whose set is gone; ask the database then, not on every new device.
      if (day.endMs + this.limits.stateGraceMs < nowMs && state.s.daySealed.get(mall, store, day.date) === 1) this.stats.devicesAfterDaySealed += 1;
    } else if (ident.kind === identityKinds.unclustered && kind !== identityKinds.unclustered) {
      ident.kind = kind;
      identities.markDirty(ident);
      changes.day(mall, store, day, 0, 0, -1);
      tracker.liftEstimate(ident, day, storeSettings, changes);
    }
    const visit = tracker.apply(ident, day, storeSettings, tsMs, batch.rssi[i] ?? 0, assoc, nowMs, changes);
    if (fph !== null && sn !== undefined && (ident.lastMs === null || tsMs >= ident.lastMs)) {
      // The cluster's tail: the frame a rotated MAC's sequence number must continue. Its visit row carries it.
      if (ident.fph === null) {
        ident.fph = fph;
        identities.markDirty(ident);
        visit.reindex = true;
      }
      if (ident.lastSn !== sn || ident.lastMs !== tsMs) {
        ident.lastSn = sn;
        ident.lastMs = tsMs;
        visit.dirty = true;
        identities.touched(ident);
        identities.trackTail(ident);
      }
    }
  }

  private finish(state: State, changes: Changes, nowMs: number): Point[] {
    state.identities.writeBack((ident, visit) => visit.lastMs + this.storeSettingsOf(ident.mall, ident.store).visitGapS * 1000);
    const points = changes.flush(state.s, nowMs, this.limits.stateGraceMs);
    if (state.identities.size > this.limits.maxCachedIdentities) state.identities.clear();
    return points;
  }

  private purge(state: State, nowMs: number): void {
    const s = state.s;
    let perDevice = s.purgeClosedVisits.run(nowMs).changes;
    const sealed = s.expiredDays.all(nowMs);
    for (const { mall, store, day } of sealed) {
      perDevice += s.sealIdents.run(mall, store, day).changes + s.sealAliases.run(mall, store, day).changes + s.sealVisits.run(mall, store, day).changes;
      s.sealDay.run(mall, store, day);
    }
    const oldestMs = nowMs - this.limits.lateDataMaxMs;
    const counters =
      s.purgeMinutes.run(oldestMs - 60_000).changes +
      s.purgeVisitAggs.run(oldestMs - 60_000).changes +
      s.purgeDays.run(oldestMs).changes +
      s.purgeMsgs.run(oldestMs).changes;
    if (perDevice > 0) state.identities.clear();
    if (perDevice + counters > 0) this.logger.debug({ perDeviceRows: perDevice, counterRows: counters, daysSealed: sealed.length }, 'purged probe working state');
  }

  /** A rolled-back transaction left the database behind the caches: drop them, they refill from the database. */
  discardCaches(): void {
    this.state?.identities.clear();
  }

  private storeSettingsOf(mall: string, store: string): StoreSettings {
    const key = `${mall}\0${store}`;
    let settings = this.storeSettings.get(key);
    if (settings === undefined) {
      settings = this.settings.storeOf(mall, store);
      this.storeSettings.set(key, settings);
    }
    return settings;
  }

  private requireState(): State {
    if (this.state === undefined) throw new Error('ProbeProcessor used before migrate()');
    return this.state;
  }
}
