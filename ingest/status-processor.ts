import type Database from 'better-sqlite3';
import type { StatusPayload } from '../protocol/payloads/status.ts';
import type { DeviceTopic } from '../protocol/topics.ts';
import type { Processor } from './processor.ts';
import type { Point } from './store/types.ts';

/**
 * Device heartbeats and the broker's offline notices → `device_status` points (device health dashboards), and
 * per store the number of devices online (`devices_online`), kept as state so dashboards need no subquery.
 * The device id is a tag here: it names an installed sensor (bounded, not personal), unlike a shopper device.
 */
export class StatusProcessor implements Processor<'status'> {
  private statements: ReturnType<typeof prepare> | undefined;

  migrate(db: Database.Database): void {
    db.exec(`
      CREATE TABLE IF NOT EXISTS device_online (
        device TEXT PRIMARY KEY,
        mall TEXT NOT NULL,
        store TEXT NOT NULL,
        online INTEGER NOT NULL,
        changed_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS device_online_store ON device_online (mall, store);
    `);
    this.statements = prepare(db);
  }

  process(topic: DeviceTopic<'status'>, payload: StatusPayload, receivedAtMs: number): Point[] {
    const tags = { mall: topic.mall, store: topic.store, device: topic.device };
    const points: Point[] = [
      payload.online
        ? {
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
          }
        : { measurement: 'device_status', tags, fields: { online: { int: 0 } }, tsMs: receivedAtMs },
    ];
    const s = this.statements;
    if (s === undefined) throw new Error('StatusProcessor used before migrate()');
    const online = payload.online ? 1 : 0;
    const before = s.get.get(topic.device);
    // Heartbeats arrive every minute: only a change of state (or of store) changes the store's count.
    if (before?.online === online && before.mall === topic.mall && before.store === topic.store) return points;
    s.upsert.run(topic.device, topic.mall, topic.store, online, receivedAtMs);
    const stores = new Set([`${topic.mall}\0${topic.store}`]);
    if (before !== undefined) stores.add(`${before.mall}\0${before.store}`);
    for (const key of stores) {
      const [mall, store] = key.split('\0') as [string, string];
      const count = s.count.get(mall, store) ?? { online: 0, devices: 0 };
      // Stamped at the change itself: a state series, read with last() per interval.
      points.push({ measurement: 'devices_online', tags: { mall, store }, fields: { online: { int: count.online ?? 0 }, devices: { int: count.devices } }, tsMs: receivedAtMs });
    }
    return points;
  }
}

function prepare(db: Database.Database) {
  return {
    get: db.prepare<[string], { mall: string; store: string; online: number }>('SELECT mall, store, online FROM device_online WHERE device = ?'),
    upsert: db.prepare<[string, string, string, number, number]>(
      `INSERT INTO device_online (device, mall, store, online, changed_ms) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (device) DO UPDATE SET mall = excluded.mall, store = excluded.store, online = excluded.online, changed_ms = excluded.changed_ms`,
    ),
    count: db.prepare<[string, string], { online: number | null; devices: number }>('SELECT SUM(online) AS online, COUNT(*) AS devices FROM device_online WHERE mall = ? AND store = ?'),
  };
}
