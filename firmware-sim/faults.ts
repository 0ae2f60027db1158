import { type FaultName, type FaultsConfig, faultNames } from './mall-config.ts';
import type { Random } from './random.ts';
import type { TruthSink } from './truth.ts';

const dayMs = 86_400_000;

/** Applies a `--faults` selection ("all", "none" or a comma list) on top of a mall's fault settings. */
export function selectFaults(config: FaultsConfig, selection: string): FaultsConfig {
  const wanted = selection === 'all' ? [...faultNames] : selection === 'none' || selection === '' ? [] : selection.split(',').map((s) => s.trim());
  for (const name of wanted) {
    if (!(faultNames as readonly string[]).includes(name)) throw new Error(`unknown fault ${JSON.stringify(name)}; expected ${faultNames.join(', ')}`);
  }
  const out = structuredClone(config);
  for (const name of faultNames) out[name].enabled = wanted.includes(name);
  return out;
}

export function enabledFaults(config: FaultsConfig): FaultName[] {
  return faultNames.filter((name) => config[name].enabled);
}

export type MalformedKind = 'not-json' | 'bad-field' | 'truncated';

/**
 * One device's faults, decided in simulated time from the device's own random stream, so a seed fixes which
 * faults happen when; each injected fault is written to the truth file.
 */
export class DeviceFaults {
  /** Fixed offset of this device's clock, in ms. */
  readonly skewMs: number;
  private nextRebootMs: number;
  private nextDisconnectMs: number;
  private held: Buffer | undefined;

  constructor(
    private readonly config: FaultsConfig,
    private readonly rng: Random,
    private readonly device: string,
    private readonly truth: TruthSink,
    startMs: number,
  ) {
    this.skewMs = config.clockSkew.enabled ? Math.round(rng.range(-config.clockSkew.maxS, config.clockSkew.maxS) * 1000) : 0;
    if (config.clockSkew.enabled) this.record(startMs, 'clockSkew', { skewMs: this.skewMs });
    this.nextRebootMs = config.reboot.enabled ? startMs + rng.exponential(dayMs / config.reboot.perDevicePerDay) : Number.POSITIVE_INFINITY;
    this.nextDisconnectMs = config.disconnect.enabled ? startMs + rng.exponential(dayMs / config.disconnect.perDevicePerDay) : Number.POSITIVE_INFINITY;
  }

  /** True when the device should reboot now. */
  rebootDue(nowMs: number): boolean {
    if (nowMs < this.nextRebootMs) return false;
    this.nextRebootMs = nowMs + this.rng.exponential(dayMs / this.config.reboot.perDevicePerDay);
    this.record(nowMs, 'reboot');
    return true;
  }

  /** The length of a network outage starting now, in simulated ms, or 0. */
  outageDue(nowMs: number): number {
    if (nowMs < this.nextDisconnectMs) return 0;
    const { min, max } = this.config.disconnect.outageS;
    const outageMs = Math.round(this.rng.range(min, max) * 1000);
    this.nextDisconnectMs = nowMs + outageMs + this.rng.exponential(dayMs / this.config.disconnect.perDevicePerDay);
    this.record(nowMs, 'disconnect', { outageMs });
    return outageMs;
  }

  /**
   * The messages to send for one reading, in order: possibly a malformed extra first, the reading itself
   * (possibly twice), and possibly held back to go out after the next reading.
   */
  deliver(reading: Buffer, seq: number, nowMs: number, malformedOf: (kind: MalformedKind) => Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (this.config.malformed.enabled && this.rng.chance(this.config.malformed.probability)) {
      const kind = this.rng.pick(['not-json', 'bad-field', 'truncated'] as const);
      out.push(malformedOf(kind));
      this.record(nowMs, 'malformed', { kind, seq });
    }
    const copies = this.config.duplicate.enabled && this.rng.chance(this.config.duplicate.probability) ? 2 : 1;
    if (copies === 2) this.record(nowMs, 'duplicate', { seq });
    if (this.held === undefined && this.config.reorder.enabled && this.rng.chance(this.config.reorder.probability)) {
      this.held = reading;
      this.record(nowMs, 'reorder', { seq });
      for (let i = 1; i < copies; i += 1) out.push(reading);
      return out;
    }
    for (let i = 0; i < copies; i += 1) out.push(reading);
    if (this.held !== undefined) {
      out.push(this.held);
      this.held = undefined;
    }
    return out;
  }

  /** A reading still held back for reordering (sent when the device stops). */
  release(): Buffer | undefined {
    const held = this.held;
    this.held = undefined;
    return held;
  }

  private record(tsMs: number, fault: FaultName, detail?: Record<string, number | string>): void {
    this.truth.write(detail === undefined ? { type: 'fault', tsMs, device: this.device, fault } : { type: 'fault', tsMs, device: this.device, fault, detail });
  }
}
