import { describe, expect, it } from 'vitest';
import { CachedDirectory } from '../../ingest/device-cache.ts';
import type { DeviceDirectory } from '../../ingest/pipeline.ts';

type Device = NonNullable<ReturnType<DeviceDirectory['lookup']>>;

function registry(devices: Map<string, Device>): DeviceDirectory & { asked: number } {
  const counted = {
    asked: 0,
    lookup(id: string) {
      counted.asked += 1;
      return devices.get(id);
    },
  };
  return counted;
}

describe('CachedDirectory', () => {
  it('answers repeat lookups from memory until the ttl passes, then asks the registry again', () => {
    const devices = new Map<string, Device>([['door-1', { mall: 'm', store: 's1', kind: 'door' }]]);
    const inner = registry(devices);
    let nowMs = 1000;
    const cache = new CachedDirectory(inner, 5000, 10, () => nowMs);
    expect(cache.lookup('door-1')).toEqual({ mall: 'm', store: 's1', kind: 'door' });
    devices.set('door-1', { mall: 'm', store: 's2', kind: 'door' });
    nowMs += 4999;
    expect(cache.lookup('door-1')?.store).toBe('s1');
    expect(inner.asked).toBe(1);
    nowMs += 1;
    expect(cache.lookup('door-1')?.store).toBe('s2');
    expect(inner.asked).toBe(2);
  });

  it('never remembers an unknown device, so one registered a moment later is found at once', () => {
    const devices = new Map<string, Device>();
    const inner = registry(devices);
    const cache = new CachedDirectory(inner, 5000, 10, () => 0);
    expect(cache.lookup('door-2')).toBeUndefined();
    devices.set('door-2', { mall: 'm', store: 's1', kind: 'door' });
    expect(cache.lookup('door-2')?.store).toBe('s1');
  });

  it('starts over when full instead of growing without bound', () => {
    const devices = new Map<string, Device>(Array.from({ length: 5 }, (_, i) => [`d-${i}`, { mall: 'm', store: 's', kind: 'door' }] as [string, Device]));
    const inner = registry(devices);
    const cache = new CachedDirectory(inner, 60_000, 3, () => 0);
    for (const id of ['d-0', 'd-1', 'd-2', 'd-3']) cache.lookup(id);
    expect(inner.asked).toBe(4);
    cache.lookup('d-3');
    expect(inner.asked).toBe(4);
    cache.lookup('d-0');
    expect(inner.asked).toBe(5);
  });
});
