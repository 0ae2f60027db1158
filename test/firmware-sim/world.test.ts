import { describe, expect, it } from 'vitest';
import { demoMallFile, loadMallConfig } from '../../firmware-sim/mall-config.ts';
import { Random } from '../../firmware-sim/random.ts';
import { MemoryTruth, type TruthRecord } from '../../firmware-sim/truth.ts';
import { MallWorld } from '../../firmware-sim/world.ts';

const mall = loadMallConfig(demoMallFile);
// A Saturday afternoon in the demo mall's time zone: open, busy.
const startMs = Date.parse('2026-03-07T13:00:00+08:00');

function simulate(seed: number, hours: number): { truth: string; records: TruthRecord[]; crossings: number; sightings: number } {
  const truth = new MemoryTruth();
  let crossings = 0;
  let sightings = 0;
  const world = new MallWorld(mall, seed, startMs, truth, {
    doorCrossing: () => {
      crossings += 1;
    },
    sighting: () => {
      sightings += 1;
    },
  });
  world.advance(startMs + hours * 3_600_000);
  world.finish();
  return { truth: truth.records.map((r) => JSON.stringify(r)).join('\n'), records: truth.records, crossings, sightings };
}

describe('Random', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const draw = (seed: number): number[] => {
      const rng = new Random(seed);
      return Array.from({ length: 5 }, () => rng.uint32());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });

  it('draws floats in [0, 1) with a plausible mean', () => {
    const rng = new Random(9);
    let sum = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < 20_000; i += 1) {
      const x = rng.float();
      min = Math.min(min, x);
      max = Math.max(max, x);
      sum += x;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(sum / 20_000).toBeGreaterThan(0.48);
    expect(sum / 20_000).toBeLessThan(0.52);
  });
});

describe('MallWorld', () => {
  it('writes identical truth for the same seed and different truth for another seed', () => {
    const a = simulate(11, 1);
    const b = simulate(11, 1);
    const c = simulate(12, 1);
    expect(a.records.length).toBeGreaterThan(100);
    expect(a.truth).toBe(b.truth);
    expect(c.truth).not.toBe(a.truth);
  });

  it('balances entries, exits and occupancy, and counts every crossing with perfect counters', () => {
    const { records, crossings, sightings } = simulate(5, 2);
    let entries = 0;
    let exits = 0;
    let visitsClosed = 0;
    let visitsOpen = 0;
    for (const r of records) {
      if (r.type === 'minute') {
        entries += r.entries;
        exits += r.exits;
      }
      if (r.type === 'visit') {
        if (r.open) visitsOpen += 1;
        else visitsClosed += 1;
        expect(r.dwellS).toBe(Math.round((r.endMs - r.startMs) / 1000));
      }
    }
    expect(entries).toBeGreaterThan(200);
    expect(exits).toBe(visitsClosed);
    expect(entries).toBe(visitsClosed + visitsOpen);
    // Demo doors are perfect: every entry and exit reaches a counter.
    expect(crossings).toBe(entries + exits);
    expect(sightings).toBeGreaterThan(entries);
    const lastOccupancy = new Map<string, number>();
    for (const r of records) if (r.type === 'minute') lastOccupancy.set(r.store, r.occupancy);
    expect([...lastOccupancy.values()].reduce((a, b) => a + b, 0)).toBe(visitsOpen);
    // Unique shoppers per store and day never exceed entries into that store.
    for (const r of records) {
      if (r.type !== 'day') continue;
      const storeEntries = records.reduce((n, m) => n + (m.type === 'minute' && m.store === r.store ? m.entries : 0), 0);
      expect(r.uniqueShoppers).toBeLessThanOrEqual(storeEntries);
      expect(r.uniqueShoppers).toBeGreaterThan(0);
    }
  });

  it('has no shoppers while the mall is closed', () => {
    const truth = new MemoryTruth();
    const night = Date.parse('2026-03-07T01:00:00+08:00');
    const world = new MallWorld(mall, 3, night, truth, { doorCrossing: () => undefined, sighting: () => undefined });
    world.advance(night + 3 * 3_600_000);
    expect(world.shoppersInside).toBe(0);
    expect(truth.records.filter((r) => r.type === 'minute')).toEqual([]);
  });

  it('raises walk-ins at a campaign store during the campaign', () => {
    const withCampaign = { ...mall, campaigns: [{ name: 'x', stores: ['books'], hours: '00:00-24:00', arrivalFactor: 6 }] };
    const count = (config: typeof mall): number => {
      const truth = new MemoryTruth();
      const world = new MallWorld(config, 21, startMs, truth, { doorCrossing: () => undefined, sighting: () => undefined });
      world.advance(startMs + 2 * 3_600_000);
      world.finish();
      return truth.records.reduce((n, r) => n + (r.type === 'minute' && r.store === 'books' ? r.entries : 0), 0);
    };
    expect(count(withCampaign)).toBeGreaterThan(2 * count({ ...mall, campaigns: [] }));
  });
});
