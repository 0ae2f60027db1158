import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectFaults } from '../../firmware-sim/faults.ts';
import { demoMallFile, loadMallConfig, MallConfigError, parseMallConfig } from '../../firmware-sim/mall-config.ts';
import { tempDir } from '../support/tmp.ts';

describe('mall config', () => {
  it('accepts the shipped demo mall', () => {
    const mall = loadMallConfig(demoMallFile);
    expect(mall.mall).toBe('demo');
    expect(mall.stores.length).toBeGreaterThanOrEqual(5);
    expect(Object.values(mall.faults).every((f) => !f.enabled)).toBe(true);
  });

  it('lists every problem with its path', () => {
    const mall = loadMallConfig(demoMallFile);
    const first = mall.stores[0] as (typeof mall.stores)[number];
    const raw = {
      ...mall,
      timeZone: 'Mars/Olympus',
      openingHours: { ...mall.openingHours, mon: '10-22' },
      arrivals: { ...mall.arrivals, perHour: [1, 2, 3] },
      stores: [first, { ...first, doors: [{ id: first.doors[0]?.id }], probes: [] }],
      campaigns: [{ name: 'c', stores: ['nowhere'], arrivalFactor: 2 }],
    };
    let error: unknown;
    try {
      parseMallConfig(raw, 'test');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MallConfigError);
    const problems = (error as MallConfigError).problems.join('\n');
    expect(problems).toMatch(/^timeZone: /m);
    expect(problems).toMatch(/^openingHours\.mon: /m);
    expect(problems).toMatch(/^arrivals\.perHour: needs 24 values/m);
    expect(problems).toMatch(/^stores\.1\.id: duplicate store id/m);
    expect(problems).toMatch(/^stores\.1\.doors\.0\.id: duplicate device id/m);
    expect(problems).toMatch(/^campaigns\.0\.stores\.0: unknown store nowhere/m);
  });

  it('reports a broken file clearly', () => {
    const file = path.join(tempDir('plaza-sim-config'), 'bad.yaml');
    writeFileSync(file, 'mall: [unclosed');
    expect(() => loadMallConfig(file)).toThrow(/not valid YAML/);
    expect(() => loadMallConfig(path.join(path.dirname(file), 'missing.yaml'))).toThrow(/cannot read/);
  });

  it('switches faults by name and rejects unknown ones', () => {
    const faults = loadMallConfig(demoMallFile).faults;
    const some = selectFaults(faults, 'reboot,duplicate');
    expect(some.reboot.enabled && some.duplicate.enabled).toBe(true);
    expect(some.disconnect.enabled || some.malformed.enabled).toBe(false);
    expect(Object.values(selectFaults(faults, 'all')).every((f) => f.enabled)).toBe(true);
    expect(() => selectFaults(faults, 'reboot,meteor')).toThrow(/unknown fault "meteor"/);
  });
});
