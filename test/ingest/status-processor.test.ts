import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StatusProcessor } from '../../ingest/status-processor.ts';
import type { Point } from '../../ingest/store/types.ts';
import type { StatusPayload } from '../../protocol/payloads/status.ts';
import type { DeviceTopic } from '../../protocol/topics.ts';
import { tempDir } from '../support/tmp.ts';

const t0 = Date.parse('2026-11-27T02:00:00Z');
const heartbeat: StatusPayload = { v: 1, online: true, boot: 'b1', ts: t0, fw: '1.0.0', uptimeS: 60 };
const offline: StatusPayload = { online: false };
const topic = (device: string, store = 's1'): DeviceTopic<'status'> => ({ mall: 'm1', store, device, channel: 'status' });
const counts = (points: Point[]) =>
  points.filter((p) => p.measurement === 'devices_online').map((p) => ({ store: p.tags.store, online: (p.fields.online as { int: number }).int, devices: (p.fields.devices as { int: number }).int }));

describe('StatusProcessor', () => {
  const db = new Database(path.join(tempDir('status'), 'ingest.sqlite'));
  const status = new StatusProcessor();
  status.migrate(db);
  const run = (t: DeviceTopic<'status'>, payload: StatusPayload, at: number): Point[] => db.transaction(() => status.process(t, payload, at))();

  it('writes every heartbeat and offline notice, and the store’s online count only when it changes', () => {
    expect(counts(run(topic('door-1'), heartbeat, t0))).toEqual([{ store: 's1', online: 1, devices: 1 }]);
    expect(counts(run(topic('door-2'), heartbeat, t0 + 1000))).toEqual([{ store: 's1', online: 2, devices: 2 }]);
    const again = run(topic('door-1'), heartbeat, t0 + 60_000);
    expect(again.map((p) => p.measurement)).toEqual(['device_status']);
    expect(counts(run(topic('door-1'), offline, t0 + 90_000))).toEqual([{ store: 's1', online: 1, devices: 2 }]);
    expect(counts(run(topic('door-1'), heartbeat, t0 + 120_000))).toEqual([{ store: 's1', online: 2, devices: 2 }]);
  });

  it('moves a device’s count when it is re-registered in another store', () => {
    expect(counts(run(topic('door-2', 's2'), heartbeat, t0 + 180_000))).toEqual([
      { store: 's2', online: 1, devices: 1 },
      { store: 's1', online: 1, devices: 1 },
    ]);
  });
});
