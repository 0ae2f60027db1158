/** Seeded PRNG (mulberry32): the same run publishes the same readings. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  }

  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive);
  }

  hex(bytes: number): string {
    let out = '';
    for (let i = 0; i < bytes; i++) out += this.int(256).toString(16).padStart(2, '0');
    return out;
  }
}

/**
 * A door counter's running totals, as firmware sends them: one reading per call, seq + 1, totals rising.
 * Timestamps are the publish time, strictly increasing per device so every reading is distinct.
 */
export class DoorCounter {
  private seq = 0;
  private lastTsMs = 0;
  totalIn = 0;
  totalOut = 0;

  constructor(private readonly boot: string) {}

  /** Readings produced so far. */
  get readings(): number {
    return this.seq;
  }

  next(nowMs: number): Buffer {
    this.seq += 1;
    this.totalIn += 1 + (this.seq % 3);
    this.totalOut += this.seq % 2;
    const ts = Math.max(nowMs, this.lastTsMs + 1);
    this.lastTsMs = ts;
    return Buffer.from(`{"v":1,"boot":"${this.boot}","seq":${this.seq},"ts":${ts},"in":${this.totalIn},"out":${this.totalOut}}`);
  }
}

/** Share of the phones a probe overhears, by how they present themselves (the rest: randomized, no fp/sn). */
export interface ProbeMix {
  /** Vendor (globally administered) MAC, never rotated. */
  globalShare: number;
  /** Randomized per-SSID MAC, associated with the mall Wi-Fi (assoc: true), stable. */
  assocShare: number;
  /** Randomized probe MAC with IE fingerprint and 802.11 sequence number, rotating. */
  clusterableShare: number;
}

export const defaultProbeMix: ProbeMix = { globalShare: 0.3, assocShare: 0.1, clusterableShare: 0.5 };

// Vendor OUIs with the locally administered bit clear.
const vendorOuis = ['f0:18:98', '8c:f5:a3', '00:e0:fc', '64:09:80', 'ac:c1:ee', '28:6c:07', 'b0:e2:35', '3c:28:6d'];

type PhoneKind = 'global' | 'assoc' | 'clusterable' | 'bare';

interface Phone {
  kind: PhoneKind;
  mac: string;
  fp: string;
  sn: number;
  /** Sightings left until a randomized probe MAC rotates. */
  untilRotation: number;
}

/**
 * What one Wi-Fi probe overhears: a population of phones in and around its store, each sighting one frame.
 * Randomized probe MACs rotate every ~rotateEvery frames while the sequence number runs on, so ingest's
 * fingerprint + sequence clustering does real work.
 */
export class ProbeScanner {
  private readonly phones: Phone[];
  private seq = 0;

  constructor(
    private readonly rng: Rng,
    private readonly boot: string,
    phones: number,
    fingerprints: readonly string[],
    mix: ProbeMix = defaultProbeMix,
    private readonly rotateEvery = 30,
  ) {
    this.phones = Array.from({ length: phones }, () => {
      const draw = rng.next();
      const kind: PhoneKind =
        draw < mix.globalShare ? 'global' : draw < mix.globalShare + mix.assocShare ? 'assoc' : draw < mix.globalShare + mix.assocShare + mix.clusterableShare ? 'clusterable' : 'bare';
      const mac = kind === 'global' ? `${vendorOuis[rng.int(vendorOuis.length)] ?? '00:e0:fc'}:${this.macBytes(3)}` : this.localMac();
      return { kind, mac, fp: fingerprints[rng.int(fingerprints.length)] ?? 'ab', sn: rng.int(4096), untilRotation: 1 + rng.int(rotateEvery * 2) };
    });
  }

  /** One batch of `count` sightings from the last second. */
  next(nowMs: number, count: number): Buffer {
    this.seq += 1;
    const obs: string[] = [];
    for (let i = 0; i < count; i++) {
      const phone = this.phones[this.rng.int(this.phones.length)] as Phone;
      phone.sn = (phone.sn + 1 + this.rng.int(4)) % 4096;
      if (phone.kind === 'clusterable' || phone.kind === 'bare') {
        phone.untilRotation -= 1;
        if (phone.untilRotation <= 0) {
          phone.mac = this.localMac();
          phone.untilRotation = this.rotateEvery;
        }
      }
      const rssi = -35 - this.rng.int(60);
      const ts = nowMs - this.rng.int(1000);
      let sighting = `{"mac":"${phone.mac}","rssi":${rssi},"ts":${ts}`;
      if (phone.kind === 'assoc') sighting += ',"assoc":true';
      if (phone.kind === 'clusterable') sighting += `,"fp":"${phone.fp}","sn":${phone.sn}`;
      obs.push(`${sighting}}`);
    }
    return Buffer.from(`{"v":1,"boot":"${this.boot}","seq":${this.seq},"ts":${nowMs},"obs":[${obs.join(',')}]}`);
  }

  private macBytes(count: number): string {
    return Array.from({ length: count }, () => this.rng.hex(1)).join(':');
  }

  /** A locally administered unicast MAC, as phones randomize them. */
  private localMac(): string {
    const first = ((this.rng.int(256) & 0xfc) | 0x02).toString(16).padStart(2, '0');
    return `${first}:${this.macBytes(5)}`;
  }
}
