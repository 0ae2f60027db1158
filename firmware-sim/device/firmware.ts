import { defaultDeviceConfig, type DeviceConfig } from '../../protocol/payloads/config.ts';
import { encodePayload } from '../../protocol/topics.ts';
import type { DeviceFaults, MalformedKind } from '../faults.ts';
import type { Random } from '../random.ts';
import type { DeviceLink } from './link.ts';

/**
 * What door counters and probes have in common: a boot id and sequence number, a report schedule and a
 * heartbeat in device time, config from the platform honoured, and faults applied to what goes out.
 */
export abstract class Firmware {
  protected boot: string;
  protected seq = 0;
  protected bootMs: number;
  protected config: DeviceConfig = { ...defaultDeviceConfig };
  private nextReportMs: number;
  private nextHeartbeatMs: number;
  private nowMs: number;
  private lastHeartbeatWallMs = 0;

  constructor(
    readonly id: string,
    protected readonly link: DeviceLink,
    protected readonly faults: DeviceFaults,
    protected readonly rng: Random,
    private readonly firmwareVersion: string,
    startMs: number,
  ) {
    this.boot = this.newBootId();
    this.bootMs = startMs;
    this.nowMs = startMs;
    this.nextReportMs = startMs + this.reportIntervalMs();
    this.nextHeartbeatMs = startMs + this.heartbeatIntervalMs();
  }

  /** Device time: simulated time plus this device's clock error. */
  protected deviceTime(simMs: number): number {
    return simMs + this.faults.skewMs;
  }

  /** Called once per simulated second. Returns a network outage to inject (simulated ms), or 0. */
  tick(simMs: number): number {
    this.nowMs = simMs;
    if (this.faults.rebootDue(simMs)) this.reboot(simMs);
    if (simMs >= this.nextReportMs) {
      this.report(simMs);
      this.nextReportMs = simMs + this.reportIntervalMs();
    }
    if (simMs >= this.nextHeartbeatMs) {
      // Accelerated runs would send a heartbeat per simulated minute many times a second: once a second is plenty.
      if (Date.now() - this.lastHeartbeatWallMs >= 1000) this.heartbeat();
      this.nextHeartbeatMs = simMs + this.heartbeatIntervalMs();
    }
    return this.faults.outageDue(simMs);
  }

  /** Applies a config from the platform; the next report follows the new interval. */
  applyConfig(config: DeviceConfig): void {
    this.config = config;
    this.nextReportMs = Math.min(this.nextReportMs, this.nowMs + this.reportIntervalMs());
    this.nextHeartbeatMs = Math.min(this.nextHeartbeatMs, this.nowMs + this.heartbeatIntervalMs());
  }

  /** Heartbeat on the status topic (retained), on connect and every heartbeat interval. */
  heartbeat(): void {
    this.lastHeartbeatWallMs = Date.now();
    const payload = encodePayload('status', {
      v: 1,
      online: true,
      boot: this.boot,
      ts: this.deviceTime(this.nowMs),
      fw: this.firmwareVersion,
      uptimeS: Math.max(0, Math.floor((this.nowMs - this.bootMs) / 1000)),
      dropped: Math.min(this.link.dropped, 0xffff_ffff),
    });
    this.link.publishStatus(payload);
  }

  /** Final report at the end of a run, and any reading still held back by the reorder fault. */
  finish(simMs: number): void {
    this.nowMs = simMs;
    this.report(simMs);
    const held = this.faults.release();
    if (held !== undefined) this.link.enqueue(this.channel, held);
  }

  /** A graceful firmware restart: the last totals go out, then counters, boot id and seq start over. */
  protected reboot(simMs: number): void {
    this.report(simMs);
    this.boot = this.newBootId();
    this.seq = 0;
    this.bootMs = simMs;
    this.resetCounters();
    this.report(simMs);
  }

  protected send(payload: Buffer, seq: number, simMs: number): void {
    for (const message of this.faults.deliver(payload, seq, simMs, (kind) => this.malformed(kind, seq, simMs))) {
      this.link.enqueue(this.channel, message);
    }
  }

  /** Broken payloads carry no MAC, so a dead-letter copy of one can never leak a device identity. */
  private malformed(kind: MalformedKind, seq: number, simMs: number): Buffer {
    const header = { v: 1, boot: this.boot, seq, ts: this.deviceTime(simMs) };
    switch (kind) {
      case 'not-json':
        return Buffer.from(`v=1;boot=${this.boot};seq=${seq}`);
      case 'bad-field':
        return Buffer.from(JSON.stringify({ ...header, v: 2, in: -1 }));
      case 'truncated':
        return Buffer.from(JSON.stringify(header).slice(0, 20));
    }
  }

  private newBootId(): string {
    return `b${this.rng.hex(6)}`;
  }

  private reportIntervalMs(): number {
    return this.config.reportIntervalS * 1000;
  }

  private heartbeatIntervalMs(): number {
    return (this.config.heartbeatIntervalS ?? 60) * 1000;
  }

  protected abstract readonly channel: 'door' | 'probe';
  protected abstract report(simMs: number): void;
  protected abstract resetCounters(): void;
}
