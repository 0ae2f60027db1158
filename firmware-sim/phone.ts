import type { MallConfig } from './mall-config.ts';
import type { Random } from './random.ts';

/** A frame a phone transmits that a probe may overhear. */
export interface Frame {
  mac: string;
  /** 802.11 sequence number, 12 bits. */
  sn: number;
  /** Probe-request IE fingerprint; absent on data frames of an associated phone. */
  fp?: string;
  assoc: boolean;
}

// Vendor OUIs (IEEE registry) for phones that probe with their burned-in address; all have the 0x02 bit clear.
const vendorOuis = ['f0:18:98', '8c:f5:a3', '00:e0:fc', '64:09:80', 'ac:c1:ee', '28:6c:07', 'b0:e2:35', '3c:28:6d'];

export type PhoneSpec = MallConfig['phones'];

/** Derives the fingerprints of the mall's phone models; phones of one model share one fingerprint. */
export function modelFingerprints(rng: Random, models: number): string[] {
  return Array.from({ length: models }, () => rng.hex(8));
}

/**
 * A phone as a Wi-Fi probe sees it. Probe requests go out in bursts from a randomized, locally administered MAC
 * that rotates (or from the vendor MAC for the share of phones that do not randomize); the IE fingerprint
 * stays the model's; the 802.11 sequence counter runs on across rotations and frames we never see. Once
 * joined to the mall Wi-Fi the phone also sends data frames from its per-SSID private MAC (assoc: true).
 */
export class Phone {
  readonly fp: string;
  readonly globalMac: string | undefined;
  /** The per-SSID address used while associated (Android 10+/iOS 14+ private address; the vendor MAC otherwise). */
  readonly assocMac: string;
  private probeMac: string;
  private macExpiresMs: number;
  private sn: number;
  private nextProbeMs: number;
  private nextDataMs = Number.POSITIVE_INFINITY;
  private joined = false;
  /** Every probe MAC this phone has used (for tests and accuracy notes; kept in memory only). */
  readonly probeMacs: string[] = [];

  constructor(
    private readonly rng: Random,
    private readonly spec: PhoneSpec,
    fingerprints: readonly string[],
    nowMs: number,
  ) {
    this.fp = rng.pick(fingerprints);
    this.globalMac = rng.chance(spec.globalMacShare) ? `${rng.pick(vendorOuis)}:${formatMac(rng.bytes(3))}` : undefined;
    this.assocMac = this.globalMac ?? randomLocalMac(rng);
    this.sn = rng.int(4096);
    this.probeMac = this.globalMac ?? randomLocalMac(rng);
    this.probeMacs.push(this.probeMac);
    this.macExpiresMs = nowMs + this.rotationMs();
    // Phones are mid-cycle when they walk in: the first burst comes at a random point of the interval.
    this.nextProbeMs = nowMs + rng.range(0, this.probeIntervalMs());
  }

  get associated(): boolean {
    return this.joined;
  }

  /** Joins the mall Wi-Fi: from now on data frames from the associated address. */
  join(nowMs: number): void {
    if (this.joined) return;
    this.joined = true;
    this.nextDataMs = nowMs + this.rng.range(0, 1000 * this.spec.associatedFrameIntervalS.max);
  }

  /** Appends the frames due up to nowMs. */
  framesDue(nowMs: number, out: Frame[]): void {
    while (this.nextProbeMs <= nowMs) {
      this.probeBurst(this.nextProbeMs, out);
      // Associated phones scan less often.
      this.nextProbeMs += this.probeIntervalMs() * (this.joined ? 3 : 1);
    }
    while (this.nextDataMs <= nowMs) {
      this.skipUnseenFrames();
      out.push({ mac: this.assocMac, sn: this.nextSn(), assoc: true });
      this.nextDataMs += 1000 * this.rng.range(this.spec.associatedFrameIntervalS.min, this.spec.associatedFrameIntervalS.max);
    }
  }

  private probeBurst(atMs: number, out: Frame[]): void {
    if (this.globalMac === undefined && atMs >= this.macExpiresMs) {
      this.probeMac = randomLocalMac(this.rng);
      this.probeMacs.push(this.probeMac);
      this.macExpiresMs = atMs + this.rotationMs();
    }
    this.skipUnseenFrames();
    for (let i = 0; i < this.spec.framesPerBurst; i += 1) out.push({ mac: this.probeMac, sn: this.nextSn(), fp: this.fp, assoc: false });
  }

  /** Frames sent between bursts that no probe hears (other channels, other traffic) still advance the counter. */
  private skipUnseenFrames(): void {
    this.sn = (this.sn + this.rng.int(8)) & 0xfff;
  }

  private nextSn(): number {
    const sn = this.sn;
    this.sn = (this.sn + 1) & 0xfff; // 12-bit wrap
    return sn;
  }

  private rotationMs(): number {
    return 1000 * this.rng.range(this.spec.rotationS.min, this.spec.rotationS.max);
  }

  private probeIntervalMs(): number {
    return 1000 * this.rng.range(this.spec.probeIntervalS.min, Math.max(this.spec.probeIntervalS.min + 1, this.spec.probeIntervalS.max));
  }
}

/** A random unicast, locally administered MAC (first octet: multicast bit clear, 0x02 set). */
export function randomLocalMac(rng: Random): string {
  const bytes = rng.bytes(6);
  bytes[0] = ((bytes[0] ?? 0) & 0xfc) | 0x02;
  return formatMac(bytes);
}

function formatMac(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
