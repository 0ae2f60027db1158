import type { DeviceCredentials, DeviceRegistry } from '../broker/registry.ts';
import type { DeviceKind } from '../protocol/topics.ts';
import type { MallConfig } from './mall-config.ts';

export interface DeviceSpec {
  id: string;
  mall: string;
  store: string;
  kind: DeviceKind;
}

/** Every door counter and probe of a mall config. */
export function devicesOf(mall: MallConfig): DeviceSpec[] {
  return mall.stores.flatMap((store) => [
    ...store.doors.map((d) => ({ id: d.id, mall: mall.mall, store: store.id, kind: 'door' as const })),
    ...store.probes.map((p) => ({ id: p.id, mall: mall.mall, store: store.id, kind: 'probe' as const })),
  ]);
}

/**
 * Registers the devices (or issues fresh secrets for those already registered) and returns their credentials.
 * The secrets stay in the caller's memory; the registry keeps only hashes. `concurrency` bounds the scrypt
 * hashes running at once (they run on libuv's pool of 4 threads).
 */
export async function provisionDevices(registry: DeviceRegistry, devices: readonly DeviceSpec[], concurrency = 4): Promise<Map<string, DeviceCredentials>> {
  const result = new Map<string, DeviceCredentials>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < devices.length) {
      const spec = devices[next++] as DeviceSpec;
      const existing = registry.getDevice(spec.id);
      if (existing === undefined) {
        result.set(spec.id, await registry.addDevice(spec));
        continue;
      }
      if (existing.revokedMs !== null) throw new Error(`device ${spec.id} is revoked in the registry; pick another id`);
      if (existing.mall !== spec.mall || existing.store !== spec.store || existing.kind !== spec.kind) {
        throw new Error(`device ${spec.id} is registered as a ${existing.kind} in ${existing.mall}/${existing.store}, not a ${spec.kind} in ${spec.mall}/${spec.store}`);
      }
      result.set(spec.id, await registry.rotateDevice(spec.id));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  return result;
}
