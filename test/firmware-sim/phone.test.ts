import { describe, expect, it } from 'vitest';
import { isRandomizedMac } from '../../protocol/mac.ts';
import { demoMallFile, loadMallConfig } from '../../firmware-sim/mall-config.ts';
import { type Frame, modelFingerprints, Phone } from '../../firmware-sim/phone.ts';
import { Random } from '../../firmware-sim/random.ts';

const spec = { ...loadMallConfig(demoMallFile).phones, globalMacShare: 0, rotationS: { min: 120, max: 300 } };
const fingerprints = modelFingerprints(new Random(1), 10);

function framesOver(phone: Phone, fromMs: number, minutes: number): Frame[] {
  const frames: Frame[] = [];
  for (let t = fromMs; t <= fromMs + minutes * 60_000; t += 1000) phone.framesDue(t, frames);
  return frames;
}

describe('Phone', () => {
  it('probes from several rotating random MACs with one fingerprint and a continuing sequence counter', () => {
    const phone = new Phone(new Random(42), spec, fingerprints, 0);
    const frames = framesOver(phone, 0, 30);
    const macs = [...new Set(frames.map((f) => f.mac))];
    expect(macs.length).toBeGreaterThanOrEqual(5);
    for (const mac of macs) expect(isRandomizedMac(mac)).toBe(true);
    expect(new Set(frames.map((f) => f.fp))).toEqual(new Set([phone.fp]));
    // Sequence numbers advance by small steps (mod 4096), also where the MAC changes.
    let rotations = 0;
    for (let i = 1; i < frames.length; i += 1) {
      const prev = frames[i - 1] as Frame;
      const cur = frames[i] as Frame;
      const step = (cur.sn - prev.sn + 4096) % 4096;
      expect(step).toBeGreaterThanOrEqual(1);
      expect(step).toBeLessThanOrEqual(8);
      if (cur.mac !== prev.mac) rotations += 1;
    }
    expect(rotations).toBe(macs.length - 1);
    expect(frames.every((f) => f.sn >= 0 && f.sn <= 4095)).toBe(true);
  });

  it('wraps the 12-bit sequence number', () => {
    const phone = new Phone(new Random(7), { ...spec, probeIntervalS: { min: 1, max: 2 }, framesPerBurst: 14 }, fingerprints, 0);
    const frames = framesOver(phone, 0, 10);
    expect(frames.length).toBeGreaterThan(4096);
    expect(frames.some((f, i) => i > 0 && f.sn < (frames[i - 1] as Frame).sn)).toBe(true);
  });

  it('keeps a global MAC when it does not randomize', () => {
    const phone = new Phone(new Random(3), { ...spec, globalMacShare: 1 }, fingerprints, 0);
    const macs = new Set(framesOver(phone, 0, 30).map((f) => f.mac));
    expect(macs.size).toBe(1);
    expect(isRandomizedMac([...macs][0] as string)).toBe(false);
  });

  it('sends frames from one stable associated MAC once joined', () => {
    const phone = new Phone(new Random(5), spec, fingerprints, 0);
    framesOver(phone, 0, 5);
    phone.join(5 * 60_000);
    const assoc = framesOver(phone, 5 * 60_000 + 1000, 30).filter((f) => f.assoc);
    expect(assoc.length).toBeGreaterThan(30);
    expect(new Set(assoc.map((f) => f.mac))).toEqual(new Set([phone.assocMac]));
    expect(assoc.every((f) => f.fp === undefined)).toBe(true);
    expect(phone.probeMacs).not.toContain(phone.assocMac);
  });
});
