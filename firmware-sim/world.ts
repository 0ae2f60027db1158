import type { Sighting } from '../protocol/payloads/probe.ts';
import { rssiAt, captureProbability, Layout, type Position } from './layout.ts';
import { LocalClock, type LocalTime } from './local-time.ts';
import { type MallConfig, parseHours } from './mall-config.ts';
import { type Frame, modelFingerprints, Phone } from './phone.ts';
import { Random } from './random.ts';
import { TruthRecorder, type TruthSink } from './truth.ts';

/** What the simulated world tells the simulated devices. */
export interface WorldSink {
  /** A crossing the door counter registered (missed crossings never reach the device). */
  doorCrossing(doorId: string, direction: 'in' | 'out', tsMs: number): void;
  /** A frame a probe captured. The MAC lives only in memory and on the wire. */
  sighting(probeId: string, sighting: Sighting): void;
  /** A shopper logged in on the captive portal (optional hook for the portal). */
  portalLogin?(event: PortalLoginEvent): void;
}

export interface PortalLoginEvent {
  mall: string;
  tsMs: number;
  /** The phone's associated (per-SSID) MAC, as the gateway would report it. */
  mac: string;
  member: boolean;
  store: string | null;
}

interface Person {
  id: number;
  phones: Phone[];
  spot: Position;
  joinAtMs: number[];
}

interface Group {
  rng: Random;
  members: Person[];
  speedMps: number;
  x: number;
  dir: 1 | -1;
  turnX: number;
  visited: Set<number>;
  inStore: { store: number; startMs: number; untilMs: number; nextMoveMs: number } | undefined;
}

/** One simulated second: fine enough for door crossings and probe bursts, coarse enough for a day in seconds. */
export const worldStepMs = 1000;

/**
 * The simulated mall: shoppers arrive in groups, walk the corridor, pass store fronts or walk in, dwell, leave.
 * Everything random comes from seeded streams, so a seed and a start time fix every event and truth record.
 */
export class MallWorld {
  private readonly layout: Layout;
  private readonly local: LocalClock;
  private readonly truth: TruthRecorder;
  private readonly arrivalsRng: Random;
  private readonly radioRng: Random;
  private readonly doorRng: Random;
  private readonly fingerprints: string[];
  private readonly groups: Group[] = [];
  private readonly occupancy: number[];
  private readonly meanGroupSize: number;
  private nowMs: number;
  private nextShopper = 1;
  private readonly frames: Frame[] = [];

  constructor(
    private readonly config: MallConfig,
    seed: number,
    startMs: number,
    truth: TruthSink,
    private readonly sink: WorldSink,
  ) {
    const root = new Random(seed);
    this.arrivalsRng = root.fork('arrivals');
    this.radioRng = root.fork('radio');
    this.doorRng = root.fork('doors');
    this.fingerprints = modelFingerprints(root.fork('models'), config.phones.models);
    this.layout = new Layout(config);
    this.local = new LocalClock(config.timeZone);
    this.truth = new TruthRecorder(truth, config.stores.map((s) => s.id));
    this.occupancy = config.stores.map(() => 0);
    const sizes = Object.entries(config.groups.size).map(([k, w]) => [Number(k), w] as const);
    const total = sizes.reduce((sum, [, w]) => sum + w, 0);
    this.meanGroupSize = Math.max(1, sizes.reduce((sum, [k, w]) => sum + k * w, 0) / total);
    this.nowMs = Math.floor(startMs / worldStepMs) * worldStepMs;
  }

  get timeMs(): number {
    return this.nowMs;
  }

  /** People in the mall right now. */
  get shoppersInside(): number {
    return this.groups.reduce((n, g) => n + g.members.length, 0);
  }

  /** Advances the world in whole steps up to toMs. */
  advance(toMs: number): void {
    while (this.nowMs + worldStepMs <= toMs) {
      this.nowMs += worldStepMs;
      this.step(this.nowMs);
    }
  }

  /** Ends the run: visits still going on are written as open, the last minute and day are closed. */
  finish(): void {
    for (const group of this.groups) {
      if (group.inStore === undefined) continue;
      const store = this.config.stores[group.inStore.store];
      if (store === undefined) continue;
      for (const person of group.members) {
        const dwellS = Math.round((this.nowMs - group.inStore.startMs) / 1000);
        this.truth.openVisit(store.id, { shopper: person.id, startMs: group.inStore.startMs, endMs: this.nowMs, dwellS, phones: person.phones.length });
      }
    }
    this.truth.finish();
  }

  private step(t: number): void {
    const local = this.local.at(t);
    this.truth.at(t, local.date);
    const hours = parseHours(this.config.openingHours[local.weekday]);
    const open = hours !== null && local.minuteOfDay >= hours.openMin && local.minuteOfDay < hours.closeMin;
    if (open) this.arrive(t, local);
    for (let i = this.groups.length - 1; i >= 0; i -= 1) {
      const group = this.groups[i] as Group;
      if (this.moveGroup(group, t, open, local)) this.groups.splice(i, 1);
    }
    this.transmit(t);
  }

  private arrive(t: number, local: LocalTime): void {
    const perHour = (this.config.arrivals.perHour[local.hour] ?? 0) * this.config.arrivals.weekdayFactor[local.weekday];
    const groups = this.arrivalsRng.poisson((perHour / this.meanGroupSize) * (worldStepMs / 3_600_000));
    for (let g = 0; g < groups; g += 1) {
      const rng = this.arrivalsRng.fork(`group-${this.nextShopper}`);
      const size = Number(rng.weighted(this.config.groups.size));
      const members: Person[] = [];
      for (let m = 0; m < Math.max(1, size); m += 1) {
        const phoneCount = Number(rng.weighted(this.config.phones.perShopper));
        const phones = Array.from({ length: phoneCount }, () => new Phone(rng.fork('phone'), this.config.phones, this.fingerprints, t));
        const joinAtMs = phones.map(() => (rng.chance(this.config.phones.wifiJoinProbability) ? t + rng.exponential(300_000) : Number.POSITIVE_INFINITY));
        members.push({ id: this.nextShopper++, phones, spot: this.layout.corridorAt(0), joinAtMs });
      }
      const { min, max } = this.config.groups.walkSpeedMps;
      this.groups.push({
        rng,
        members,
        speedMps: rng.range(min, Math.max(min + 0.01, max)),
        x: 0,
        dir: 1,
        turnX: this.layout.lengthM * rng.range(0.3, 1),
        visited: new Set(),
        inStore: undefined,
      });
    }
  }

  /** Moves a group one step; true when it has left the mall. */
  private moveGroup(group: Group, t: number, open: boolean, local: LocalTime): boolean {
    const visit = group.inStore;
    if (visit !== undefined) {
      // At closing time shops usher their customers out within a few minutes.
      if (!open && visit.untilMs > t + 300_000) visit.untilMs = t + group.rng.range(0, 300_000);
      if (t >= visit.untilMs) {
        this.leaveStore(group, visit.store, visit.startMs, t);
        group.inStore = undefined;
      } else if (t >= visit.nextMoveMs) {
        for (const person of group.members) person.spot = this.layout.spotIn(visit.store, group.rng);
        visit.nextMoveMs = t + group.rng.range(30_000, 120_000);
      }
      return false;
    }
    if (!open) group.dir = -1;
    const from = group.x;
    let to = from + group.dir * group.speedMps * (worldStepMs / 1000);
    for (const area of group.dir === 1 ? this.layout.stores : [...this.layout.stores].reverse()) {
      const crossed = group.dir === 1 ? area.frontX > from && area.frontX <= to : area.frontX < from && area.frontX >= to;
      if (!crossed) continue;
      if (open && !group.visited.has(area.index) && this.walksIn(group, area.index, t, local)) {
        group.visited.add(area.index);
        group.x = area.frontX;
        this.enterStore(group, area.index, t);
        return false;
      }
      this.truth.passerBy(area.id, group.members.length);
    }
    if (group.dir === 1 && to >= group.turnX) {
      to = group.turnX;
      group.dir = -1;
    }
    group.x = to;
    for (const person of group.members) person.spot = this.layout.corridorAt(to);
    return group.dir === -1 && to <= 0;
  }

  private walksIn(group: Group, store: number, t: number, local: LocalTime): boolean {
    const spec = this.config.stores[store];
    if (spec === undefined) return false;
    if ((this.occupancy[store] ?? 0) + group.members.length > spec.capacity) return false;
    let p = spec.walkInProbability;
    for (const campaign of this.config.campaigns) {
      if (campaign.stores.includes(spec.id) && campaignActive(campaign, t, local)) p *= campaign.arrivalFactor;
    }
    return group.rng.chance(Math.min(1, p));
  }

  private enterStore(group: Group, store: number, t: number): void {
    const spec = this.config.stores[store];
    if (spec === undefined) return;
    const dwellMs = 1000 * Math.min(6 * 3600, Math.max(20, group.rng.logNormal(spec.dwellS.mu, spec.dwellS.sigma)));
    group.inStore = { store, startMs: t, untilMs: t + dwellMs, nextMoveMs: t + group.rng.range(30_000, 120_000) };
    for (const person of group.members) {
      this.crossDoor(store, 'in', t, group.rng);
      this.truth.entry(spec.id, person.id);
      person.spot = this.layout.spotIn(store, group.rng);
    }
    this.occupancy[store] = (this.occupancy[store] ?? 0) + group.members.length;
  }

  private leaveStore(group: Group, store: number, startMs: number, t: number): void {
    const spec = this.config.stores[store];
    if (spec === undefined) return;
    for (const person of group.members) {
      this.crossDoor(store, 'out', t, group.rng);
      this.truth.exit(spec.id, { shopper: person.id, startMs, endMs: t, dwellS: Math.round((t - startMs) / 1000), phones: person.phones.length });
      person.spot = this.layout.corridorAt(group.x);
    }
    this.occupancy[store] = (this.occupancy[store] ?? 0) - group.members.length;
  }

  private crossDoor(store: number, direction: 'in' | 'out', t: number, rng: Random): void {
    const spec = this.config.stores[store];
    if (spec === undefined) return;
    const weights = Object.fromEntries(spec.doors.map((d) => [d.id, d.weight]));
    const doorId = spec.doors.length === 1 ? (spec.doors[0]?.id ?? '') : rng.weighted(weights);
    const door = spec.doors.find((d) => d.id === doorId);
    if (door === undefined) return;
    if (door.missProbability > 0 && this.doorRng.chance(door.missProbability)) return;
    this.sink.doorCrossing(door.id, direction, t);
  }

  /** Every phone's frames due this step, heard by every probe that captures them. */
  private transmit(t: number): void {
    const radio = this.config.radio;
    for (const group of this.groups) {
      for (const person of group.members) {
        person.phones.forEach((phone, k) => {
          if (t >= (person.joinAtMs[k] ?? Number.POSITIVE_INFINITY) && !phone.associated) {
            phone.join(t);
            this.maybeLogin(group, person, phone, t);
          }
          this.frames.length = 0;
          phone.framesDue(t, this.frames);
          for (const frame of this.frames) {
            for (const probe of this.layout.probes) {
              const rssi = rssiAt(radio, person.spot, probe, this.radioRng);
              if (!this.radioRng.chance(captureProbability(radio, rssi))) continue;
              const sighting: Sighting = { mac: frame.mac, rssi: Math.max(-120, Math.min(0, Math.round(rssi))), ts: t, sn: frame.sn };
              if (frame.fp !== undefined) sighting.fp = frame.fp;
              if (frame.assoc) sighting.assoc = true;
              this.sink.sighting(probe.deviceId, sighting);
            }
          }
        });
      }
    }
  }

  private maybeLogin(group: Group, person: Person, phone: Phone, t: number): void {
    if (!group.rng.chance(this.config.portal.loginProbability)) return;
    const member = group.rng.chance(this.config.portal.memberShare);
    const store = group.inStore === undefined ? null : (this.config.stores[group.inStore.store]?.id ?? null);
    this.truth.write({ type: 'portalLogin', tsMs: t, shopper: person.id, store, member });
    this.sink.portalLogin?.({ mall: this.config.mall, tsMs: t, mac: phone.assocMac, member, store });
  }
}

function campaignActive(campaign: MallConfig['campaigns'][number], t: number, local: LocalTime): boolean {
  if (campaign.weekdays !== undefined && !campaign.weekdays.includes(local.weekday)) return false;
  if (campaign.fromIso !== undefined && t < Date.parse(campaign.fromIso)) return false;
  if (campaign.toIso !== undefined && t >= Date.parse(campaign.toIso)) return false;
  const hours = parseHours(campaign.hours);
  return hours !== null && local.minuteOfDay >= hours.openMin && local.minuteOfDay < hours.closeMin;
}
