import type { DeviceDirectory } from './pipeline.ts';

type Entry = { device: ReturnType<DeviceDirectory['lookup']>; expiresMs: number };

/**
 * Remembers registry answers for a short while. Every message needs its device's mall, store and kind; asking
 * the registry database each time was the largest single cost per door reading in `npm run bench:ingest`.
 * A device moved or removed in the registry is seen after at most ttlMs; an unknown one is asked for every time.
 */
export class CachedDirectory implements DeviceDirectory {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly registry: DeviceDirectory,
    private readonly ttlMs = 5000,
    /** Entries kept at most; the cache starts over past it. */
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  lookup(deviceId: string): Entry['device'] {
    const nowMs = this.now();
    const hit = this.entries.get(deviceId);
    if (hit !== undefined && hit.expiresMs > nowMs) return hit.device;
    const device = this.registry.lookup(deviceId);
    // Only known devices are kept: a device registered a moment ago must not stay "unknown" for ttlMs.
    if (device === undefined) return undefined;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    this.entries.set(deviceId, { device, expiresMs: nowMs + this.ttlMs });
    return device;
  }
}
