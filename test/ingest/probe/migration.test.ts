import { describe, expect, it } from 'vitest';
import { minuteMs, ProbeHarness, type SightingInput, t0 } from './harness.ts';

const fp = '0123456789abcdef';

/** Visits that are open, closed and clustered when the database is upgraded, and sightings that continue them. */
function before(): SightingInput[][] {
  return [
    [
      { mac: '00:1a:2b:3c:4d:01', ts: t0, rssi: -55 },
      { mac: 'da:00:00:00:00:01', ts: t0 + 1000, fp, sn: 10 },
      { mac: 'de:00:00:00:00:03', ts: t0 + 2000, assoc: true, rssi: -80 },
      { mac: 'da:00:00:00:00:02', ts: t0 + 30_000, fp, sn: 13 }, // the same phone, rotated MAC
    ],
    [
      { mac: '00:1a:2b:3c:4d:01', ts: t0 + 7 * minuteMs, rssi: -50 },
      { mac: 'da:00:00:00:00:02', ts: t0 + 7 * minuteMs + 500, fp, sn: 20 },
      { mac: '00:1a:2b:3c:4d:02', ts: t0 + 8 * minuteMs },
    ],
  ];
}

function after(): SightingInput[][] {
  return [
    [
      { mac: '00:1a:2b:3c:4d:01', ts: t0 + 12 * minuteMs, rssi: -52 },
      { mac: 'da:00:00:00:00:03', ts: t0 + 7 * minuteMs + 40_000, fp, sn: 22 }, // rotated again: continues the cluster
      { mac: 'da:00:00:00:00:03', ts: t0 + 12 * minuteMs + 200, fp, sn: 25 },
      { mac: '00:1a:2b:3c:4d:02', ts: t0 + 40 * minuteMs }, // after the gap: closes its first visit
    ],
  ];
}

/** Rewrites the database in the layout before probe_visit_hot: one wide probe_visit row per visit. */
function downgrade(h: ProbeHarness): void {
  h.db.exec(`
    DROP TRIGGER probe_visit_delete;
    CREATE TABLE probe_visit_wide (
      mall TEXT NOT NULL, store TEXT NOT NULL, identity TEXT NOT NULL, vkey INTEGER NOT NULL, day TEXT NOT NULL,
      first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, max_rssi INTEGER NOT NULL,
      visitor INTEGER NOT NULL, estimated INTEGER NOT NULL, randomized INTEGER NOT NULL, connected INTEGER NOT NULL,
      closed INTEGER NOT NULL, point_ms INTEGER, close_after_ms INTEGER NOT NULL, expires_ms INTEGER,
      seen_base INTEGER NOT NULL, seen BLOB NOT NULL, conn_base INTEGER, conn BLOB,
      fph TEXT, tail_sn INTEGER, tail_ms INTEGER,
      PRIMARY KEY (mall, store, identity, vkey)
    ) WITHOUT ROWID;
    INSERT INTO probe_visit_wide
      SELECT v.mall, v.store, v.identity, v.vkey, v.day, h.first_ms, h.last_ms, h.max_rssi, h.visitor, h.estimated, v.randomized,
             h.connected, v.closed, v.point_ms, v.close_after_ms, v.expires_ms, h.seen_base, h.seen, h.conn_base, h.conn, v.fph, h.tail_sn, h.tail_ms
      FROM probe_visit v JOIN probe_visit_hot h ON h.vid = v.vid;
    DROP TABLE probe_visit;
    DROP TABLE probe_visit_hot;
    DROP TABLE probe_store;
    ALTER TABLE probe_visit_wide RENAME TO probe_visit;
    CREATE INDEX probe_visit_fph ON probe_visit (mall, store, fph) WHERE fph IS NOT NULL;
    CREATE INDEX probe_visit_due ON probe_visit (close_after_ms) WHERE closed = 0;
  `);
}

describe('probe state written before the hot/cold split', () => {
  it('is moved to probe_visit_hot on start, every visit kept, and counting carries on as if nothing happened', () => {
    const straight = new ProbeHarness();
    for (const sightings of before()) straight.send(sightings);
    straight.tick(t0 + 10 * minuteMs);
    for (const sightings of after()) straight.send(sightings);
    straight.tick(t0 + 60 * minuteMs);

    const upgraded = new ProbeHarness();
    for (const sightings of before()) upgraded.send(sightings);
    upgraded.tick(t0 + 10 * minuteMs);
    const visits = upgraded.count('probe_visit');
    downgrade(upgraded);
    expect(upgraded.db.prepare("SELECT count(*) FROM pragma_table_info('probe_visit') WHERE name = 'first_ms'").pluck().get()).toBe(1);
    upgraded.restart();
    expect(upgraded.count('probe_visit')).toBe(visits);
    expect(upgraded.count('probe_visit_hot')).toBe(visits);
    expect(upgraded.db.prepare("SELECT count(*) FROM pragma_table_info('probe_visit') WHERE name = 'first_ms'").pluck().get()).toBe(0);
    for (const sightings of after()) upgraded.send(sightings);
    upgraded.tick(t0 + 60 * minuteMs);

    expect(straight.processor.stats.clusterMerges).toBeGreaterThanOrEqual(2);
    // The rotation after the upgrade joined the cluster through the migrated tail (the restarted processor counts only it).
    expect(upgraded.processor.stats.clusterMerges).toBe(1);
    expect([...upgraded.series.entries()].sort()).toEqual([...straight.series.entries()].sort());
    expect(upgraded.points('visit').length).toBeGreaterThanOrEqual(1);
  });
});
