import { protocolLimits } from '../../protocol/limits.ts';
import type { Sighting } from '../../protocol/payloads/probe.ts';
import { encodePayload } from '../../protocol/topics.ts';
import { Firmware } from './firmware.ts';

/** Sightings a probe keeps between reports; beyond this the oldest are dropped (RAM is small). */
const pendingMax = 20_000;

/** A Wi-Fi probe: captures frames, drops those below the RSSI floor, reports batches of sightings. */
export class WifiProbe extends Firmware {
  protected readonly channel = 'probe';
  private pending: Sighting[] = [];
  /** Sightings dropped because the pending list was full. */
  droppedSightings = 0;

  capture(sighting: Sighting): void {
    if (sighting.rssi < (this.config.rssiFloorDbm ?? protocolLimits.rssiMinDbm)) return;
    if (this.pending.length >= pendingMax) {
      this.pending.shift();
      this.droppedSightings += 1;
    }
    const skewed = this.faults.skewMs === 0 ? sighting : { ...sighting, ts: this.deviceTime(sighting.ts) };
    this.pending.push(skewed);
  }

  protected report(simMs: number): void {
    const all = this.pending;
    this.pending = [];
    // An empty batch still goes out: it tells ingest the probe is alive and saw nobody.
    for (let i = 0; i === 0 || i < all.length; i += protocolLimits.probeBatchMax) {
      const seq = this.seq++;
      const obs = all.slice(i, i + protocolLimits.probeBatchMax);
      this.send(encodePayload('probe', { v: 1, boot: this.boot, seq, ts: this.deviceTime(simMs), obs }), seq, simMs);
    }
  }

  protected resetCounters(): void {
    // Sightings captured before the restart were just reported; nothing else to reset.
  }
}
