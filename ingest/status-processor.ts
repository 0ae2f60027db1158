import type Database from 'better-sqlite3';
import type { StatusPayload } from '../protocol/payloads/status.ts';
import type { DeviceTopic } from '../protocol/topics.ts';
import type { Processor } from './processor.ts';
import type { Point } from './store/types.ts';

/**
 * Device heartbeats and the broker's offline notices → `device_status` points (device health dashboards).
 * The device id is a tag here: it names an installed sensor (bounded, not personal), unlike a shopper device.
 */
export class StatusProcessor implements Processor<'status'> {
  migrate(_db: Database.Database): void {}

  process(topic: DeviceTopic<'status'>, payload: StatusPayload, receivedAtMs: number): Point[] {
    const tags = { mall: topic.mall, store: topic.store, device: topic.device };
    if (!payload.online) {
      return [{ measurement: 'device_status', tags, fields: { online: { int: 0 } }, tsMs: receivedAtMs }];
    }
    return [
      {
        measurement: 'device_status',
        tags,
        fields: {
          online: { int: 1 },
          uptime_s: { int: payload.uptimeS },
          fw: payload.fw,
          ...(payload.dropped === undefined ? {} : { dropped: { int: payload.dropped } }),
          ...(payload.rssiDbm === undefined ? {} : { rssi_dbm: { int: payload.rssiDbm } }),
        },
        tsMs: receivedAtMs,
      },
    ];
  }
}
