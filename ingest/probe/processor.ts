import type Database from 'better-sqlite3';
import type { Logger } from '../../core/logger.ts';
import { isRandomizedMac } from '../../protocol/mac.ts';
import type { ProbePayload, Sighting } from '../../protocol/payloads/probe.ts';
import type { DeviceTopic } from '../../protocol/topics.ts';
import { type Processor, RejectedReading } from '../processor.ts';
import { deriveLinkKey, linkHash } from '../pseudonym.ts';
import type { Settings, StoreSettings } from '../settings.ts';
import type { Point } from '../store/types.ts';
import { Changes } from './changes.ts';
import { fingerprintPseudonym, type LocalDay, LocalDays, macPseudonym } from './days.ts';
import { type Ident, Identities, type IdentityKind, identityKinds } from './identities.ts';
import { emptyProbeStats, type ProbeProcessorOptions, probeProcessorDefaults, type ProbeStats } from './options.ts';
import { markMessage, openProbeState, type ProbeStatements } from './state.ts';
import { VisitTracker } from './tracker.ts';

type Limits = { -readonly [K in keyof typeof probeProcessorDefaults]: number };

interface State {
  s: ProbeStatements;
  identities: Identities;
  tracker: VisitTracker;
}

/** Raw fingerprints hashed per day, in memory only; dropped when it grows past this. */
const fingerprintCacheMax = 20_000;

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
  private readonly fingerprints = new Map<string, string>();
  private state: State | undefined;
  private lastPurgeMs = Number.NEGATIVE_INFINITY;

  private readonly members: ProbeProcessorOptions['members'];
  private readonly optOuts: ProbeProcessorOptions['optOuts'];
  private readonly linkKey: Buffer;

  constructor(options: ProbeProcessorOptions) {
    const { masterSecret, settings, logger, members, optOuts, ...overrides } = options;
    this.members = members;
    this.optOuts = optOuts;
    this.linkKey = deriveLinkKey(masterSecret);
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
    this.limits = { ...probeProcessorDefaults, ...defined };
    this.settings = settings;
    this.logger = logger;
    this.days = new LocalDays(masterSecret, (mall) => settings.timeZoneOf(mall));
  }

  migrate(db: Database.Database): void {
    const s = openProbeState(db);
    const identities = new Identities(s);
    this.state = { s, identities, tracker: new VisitTracker(identities, this.stats, this.limits.stateGraceMs) };
    this.members?.visits.migrate(db);
  }

  process(topic: DeviceTopic<'probe'>, payload: ProbePayload, receivedAtMs: number): Point[] {
    const state = this.requireState();
    const { mall, store } = topic;
    const obs = payload.obs;
    // Judge every timestamp before touching state, so a rejected batch changes nothing.
    const times = new Float64Array(obs.length);
    const latestMs = receivedAtMs + this.limits.futureSkewMaxMs;
    const oldestMs = receivedAtMs - this.limits.lateDataMaxMs;
    let future = 0;
    let old = 0;
    for (let i = 0; i < obs.length; i++) {
      let tsMs = obs[i]?.ts ?? Number.NaN;
      if (tsMs > latestMs) {
        tsMs = receivedAtMs;
        future += 1;
      }
      if (tsMs < oldestMs) {
        tsMs = Number.NaN;
        old += 1;
      }
      times[i] = tsMs;
    }
    if (obs.length > 0 && old === obs.length) {
      throw new RejectedReading(`all ${obs.length} sightings are older than the late-data window (${Math.round(this.limits.lateDataMaxMs / 3_600_000)} h)`);
    }
    if (!markMessage(state.s, topic.device, payload.boot, payload.seq, receivedAtMs)) {
      this.stats.duplicateMessages += 1;
      return [];
    }
    this.stats.futureSkewCorrected += future;
    this.stats.tooOldDropped += old;
    this.stats.sightings += obs.length - old;

    const changes = new Changes();
    const storeSettings = this.storeSettingsOf(mall, store);
    const memberPoints: Point[] = [];
    const checkLinks = (this.optOuts?.size ?? 0) > 0 || (this.members?.links.size ?? 0) > 0;
    // A phone probes in bursts, so a batch often repeats a MAC: hash it once. Raw MACs live in this map only
    // while this message is processed (docs/privacy: in memory between receipt and pseudonymisation).
    const pseudonyms = new Map<string, { day: LocalDay; mac: string }>();
    for (const i of chronological(times)) {
      const sighting = obs[i];
      if (sighting === undefined) continue;
      const tsMs = times[i] ?? receivedAtMs;
      if (checkLinks && this.linkedOrOptedOut(mall, store, sighting, tsMs, memberPoints)) continue;
      this.apply(state, mall, store, storeSettings, sighting, tsMs, receivedAtMs, changes, pseudonyms);
    }
    const points = this.finish(state, changes, receivedAtMs);
    for (const point of memberPoints) points.push(point);
    return points;
  }

  /**
   * Stable MACs (global, or the per-SSID private MAC of a joined phone) are checked against opt-outs and member
   * links by their link hash, computed here and dropped. Returns true when the sighting must be ignored.
   */
  private linkedOrOptedOut(mall: string, store: string, sighting: Sighting, tsMs: number, memberPoints: Point[]): boolean {
    if (isRandomizedMac(sighting.mac) && sighting.assoc !== true) return false; // rotating probe MACs never match
    const hash = linkHash(this.linkKey, sighting.mac);
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
    sighting: Sighting,
    tsMs: number,
    nowMs: number,
    changes: Changes,
    pseudonyms: Map<string, { day: LocalDay; mac: string }>,
  ): void {
    const { identities, tracker } = state;
    const day = this.days.of(mall, tsMs);
    let known = pseudonyms.get(sighting.mac);
    if (known?.day !== day) {
      known = { day, mac: macPseudonym(day, sighting.mac) };
      pseudonyms.set(sighting.mac, known);
    }
    const mac = known.mac;
    const randomized = isRandomizedMac(sighting.mac);
    const clusterable = sighting.fp !== undefined && sighting.sn !== undefined;
    const kind: IdentityKind = !randomized
      ? identityKinds.global
      : sighting.assoc === true
        ? identityKinds.associated
        : clusterable
          ? identityKinds.clustered
          : identityKinds.unclustered;

    let ident: Ident | null = null;
    if (randomized) {
      const aliased = identities.aliasOf(mall, store, mac);
      if (aliased !== null) ident = identities.get(mall, store, aliased);
    }
    ident ??= identities.get(mall, store, mac);
    const fph = clusterable && sighting.fp !== undefined ? this.fingerprint(day, sighting.fp) : null;
    if (ident === null && kind === identityKinds.clustered && fph !== null && sighting.sn !== undefined) {
      ident = identities.findCluster({ mall, store, fph, sn: sighting.sn, tsMs, snWindow: this.limits.clusterSnWindow, windowMs: this.limits.clusterWindowMs });
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
    const visit = tracker.apply(ident, day, storeSettings, tsMs, sighting.rssi, sighting.assoc === true, nowMs, changes);
    if (fph !== null && sighting.sn !== undefined && (ident.lastMs === null || tsMs >= ident.lastMs)) {
      // The cluster's tail: the frame a rotated MAC's sequence number must continue. Its visit row carries it.
      if (ident.fph === null) {
        ident.fph = fph;
        identities.markDirty(ident);
        visit.reindex = true;
      }
      if (ident.lastSn !== sighting.sn || ident.lastMs !== tsMs) {
        ident.lastSn = sighting.sn;
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

  private fingerprint(day: LocalDay, fp: string): string {
    const key = `${day.mall}\0${day.date}\0${fp}`;
    let hashed = this.fingerprints.get(key);
    if (hashed === undefined) {
      if (this.fingerprints.size >= fingerprintCacheMax) this.fingerprints.clear();
      hashed = fingerprintPseudonym(day, fp);
      this.fingerprints.set(key, hashed);
    }
    return hashed;
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

/** Indices of the usable sightings in time order (stable), so clustering sees frames as they were sent. */
function chronological(times: Float64Array): number[] {
  const order: number[] = [];
  let sorted = true;
  let previous = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < times.length; i++) {
    const tsMs = times[i] ?? Number.NaN;
    if (Number.isNaN(tsMs)) continue;
    if (tsMs < previous) sorted = false;
    previous = tsMs;
    order.push(i);
  }
  if (!sorted) order.sort((a, b) => (times[a] ?? 0) - (times[b] ?? 0) || a - b);
  return order;
}
