import { encodePayload } from '../../protocol/topics.ts';
import { Firmware } from './firmware.ts';

/** A door people-counter: running totals since boot, reported every interval with boot id and seq. */
export class DoorCounter extends Firmware {
  protected readonly channel = 'door';
  private totalIn = 0;
  private totalOut = 0;

  count(direction: 'in' | 'out'): void {
    if (direction === 'in') this.totalIn = (this.totalIn + 1) % 0x1_0000_0000;
    else this.totalOut = (this.totalOut + 1) % 0x1_0000_0000;
  }

  protected report(simMs: number): void {
    const seq = this.seq++;
    this.send(encodePayload('door', { v: 1, boot: this.boot, seq, ts: this.deviceTime(simMs), in: this.totalIn, out: this.totalOut }), seq, simMs);
  }

  protected resetCounters(): void {
    this.totalIn = 0;
    this.totalOut = 0;
  }
}
