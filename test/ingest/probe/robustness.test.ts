import { describe, expect, it } from 'vitest';
import { RejectedReading } from '../../../ingest/processor.ts';
import { ProbeHarness, minuteMs, t0 } from './harness.ts';

const dayStart = Date.parse('2026-03-09T16:00:00Z');
const phone = '00:1a:2b:3c:4d:01';
const fp = '0123456789abcdef';

function snapshot(h: ProbeHarness): string {
  const tables = ['probe_ident', 'probe_alias', 'probe_visit', 'probe_visit_hot', 'probe_store', 'probe_minute', 'probe_visit_agg', 'probe_day', 'probe_msg'];
  return JSON.stringify(tables.map((table) => h.db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3`).all()));
}

describe('probe processor robustness', () => {
  it('ignores a redelivered message: no points, no state change', () => {
    const h = new ProbeHarness();
    const payload = h.payload('probe-1', [
      { mac: phone, ts: t0 },
      { mac: 'da:00:00:00:00:01', ts: t0 + 1000, fp, sn: 10 },
      { mac: 'da:00:00:00:00:02', ts: t0 + 2000, fp, sn: 12 },
      { mac: phone, ts: t0 + 6 * minuteMs },
    ]);
    expect(h.sendPayload(payload).length).toBeGreaterThan(0);
    h.send([{ mac: phone, ts: t0 + 30 * minuteMs }]); // closes the first visit: redelivery must not reopen or recount
    const before = snapshot(h);
    expect(h.sendPayload(payload, { receivedAtMs: t0 + 31 * minuteMs })).toEqual([]);
    expect(snapshot(h)).toBe(before);
    expect(h.processor.stats.duplicateMessages).toBe(1);
  });

  it('the same sightings in another message (a second probe of the store) change no figure', () => {
    const h = new ProbeHarness();
    const sightings = [
      { mac: phone, ts: t0, rssi: -60 },
      { mac: phone, ts: t0 + 6 * minuteMs, rssi: -55 },
      { mac: 'da:00:00:00:00:01', ts: t0 + 1000, fp, sn: 10 },
      { mac: 'da:00:00:00:00:02', ts: t0 + 2000, fp, sn: 12 },
      { mac: 'de:00:00:00:00:03', ts: t0 + 3000, assoc: true },
    ];
    h.send(sightings);
    const values = [...h.series.values()].map((p) => JSON.stringify(p)).sort();
    // Sets, min and max: re-applying the same sightings (in another order) leaves every counter as it was.
    const again = h.send([...sightings].reverse(), { device: 'probe-2' });
    expect(again).toEqual([]);
    expect([...h.series.values()].map((p) => JSON.stringify(p)).sort()).toEqual(values);
    expect(h.value('devices_daily', dayStart)).toMatchObject({ devices: 3 });
  });

  it('continues open visits after a restart on the same database', () => {
    const h = new ProbeHarness();
    h.send([{ mac: phone, ts: t0 }, { mac: 'da:00:00:00:00:01', ts: t0 + 1000, fp, sn: 10 }]);
    h.restart();
    h.send([
      { mac: phone, ts: t0 + 4 * minuteMs },
      { mac: phone, ts: t0 + 8 * minuteMs },
      { mac: 'da:00:00:00:00:09', ts: t0 + 30_000, fp, sn: 20 }, // rotated: joins the cluster made before the restart
    ]);
    expect(h.processor.stats.clusterMerges).toBe(1);
    // The rewrite of minute 0 proves the restarted processor knew the visit had started there.
    expect(h.value('presence', t0)).toMatchObject({ devices: 2, visitors: 1, passers_by: 1 });
    h.restart();
    h.tick(t0 + 3_600_000);
    expect(h.points('visit').map((v) => v.dwell_s).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([29, 480]);
    expect(h.value('devices_daily', dayStart)).toMatchObject({ devices: 2, visitors: 1 });
  });

  it('drops its caches when told a transaction rolled back, so the redelivery is applied in full', () => {
    const h = new ProbeHarness();
    h.send([{ mac: phone, ts: t0 }]);
    const payload = h.payload('probe-1', [{ mac: phone, ts: t0 + 6 * minuteMs }, { mac: 'da:00:00:00:00:05', ts: t0 + 1000 }]);
    const topic = { mall: 'm1', store: 's1', device: 'probe-1', channel: 'probe' as const };
    const failing = h.db.transaction(() => {
      h.processor.process(topic, payload, t0 + 6 * minuteMs);
      throw new Error('outbox write failed');
    });
    expect(() => failing()).toThrow('outbox write failed');
    h.processor.discardCaches(); // as the pipeline does on every rollback (test/ingest/pipeline.test.ts)
    h.sendPayload(payload);
    expect(h.value('presence', t0)).toMatchObject({ devices: 2, visitors: 1, passers_by: 1 });
    expect(h.value('presence', t0 + 6 * minuteMs)).toMatchObject({ devices: 1, visitors: 1 });
    expect(h.value('devices_daily', dayStart)).toMatchObject({ devices: 2, visitors: 1 });
  });

  it('puts a late batch into the minutes its sightings belong to', () => {
    const h = new ProbeHarness();
    const now = t0 + 5 * 3_600_000;
    h.send([{ mac: phone, ts: now }], { receivedAtMs: now });
    const late = h.send(
      [
        { mac: 'da:00:00:00:00:01', ts: t0 + 10_000, assoc: true },
        { mac: phone, ts: t0 + 3 * minuteMs + 5_000 },
      ],
      { device: 'probe-2', receivedAtMs: now + 1000 },
    );
    expect(late.filter((p) => p.measurement === 'presence').map((p) => p.tsMs).sort()).toEqual([t0, t0 + 3 * minuteMs]);
    expect(h.value('presence', t0)).toEqual({ devices: 1, visitors: 0, passers_by: 1, connected: 1, unclustered: 0 });
    expect(h.value('presence', t0 + 3 * minuteMs)).toMatchObject({ devices: 1 });
    expect(h.value('devices_daily', dayStart)).toMatchObject({ devices: 2 });
    // Both late visits (5 h ago) are their own visits, closed at the next tick; the current one stays open.
    h.tick(now + 2000);
    expect(h.points('visit').map((v) => v.tsMs)).toEqual([t0 + 10_000, t0 + 3 * minuteMs + 5_000]);
  });

  it('reopens a visit closed by tick when the next batch of a backlog continues it', () => {
    const h = new ProbeHarness();
    const now = t0 + 4 * 3_600_000; // a probe uploads a 20-minute backlog from 4 h ago in two batches
    h.send([{ mac: phone, ts: t0 }, { mac: phone, ts: t0 + 10 * minuteMs }], { receivedAtMs: now });
    h.tick(now + 1000);
    expect(h.points('visit')).toEqual([expect.objectContaining({ tsMs: t0, dwell_s: 600, visitor: 1 })]);
    h.send([{ mac: phone, ts: t0 + 20 * minuteMs }], { receivedAtMs: now + 2000 });
    h.tick(now + 3000);
    expect(h.points('visit')).toEqual([expect.objectContaining({ tsMs: t0, dwell_s: 1200, visitor: 1 })]);
    expect(h.value('visits', t0)).toMatchObject({ visits: 1, visitors: 1, dwell_s_sum: 1200, dwell_5_20m: 0, dwell_20_60m: 1 });
  });

  it('corrects sightings from the future to the receive time and counts them', () => {
    const h = new ProbeHarness({}, { futureSkewMaxMs: 2 * minuteMs });
    const receivedAtMs = t0 + 30_000;
    h.send([{ mac: phone, ts: receivedAtMs + 10 * minuteMs }, { mac: 'da:00:00:00:00:01', ts: receivedAtMs + 2 * minuteMs }], { receivedAtMs });
    expect(h.processor.stats.futureSkewCorrected).toBe(1);
    expect(h.value('presence', t0)).toMatchObject({ devices: 1 });
    expect(h.value('presence', t0 + 2 * minuteMs)).toMatchObject({ devices: 1 });
    expect(h.value('presence', t0 + 10 * minuteMs)).toBeUndefined();
  });

  it('rejects a batch that is entirely too old and drops the old part of a mixed one', () => {
    const h = new ProbeHarness();
    const now = t0 + 8 * 24 * 3_600_000;
    expect(() => h.send([{ mac: phone, ts: t0 }], { receivedAtMs: now })).toThrow(RejectedReading);
    expect(() => h.send([{ mac: phone, ts: t0 }], { receivedAtMs: now })).toThrow(/older than the late-data window/);
    expect(h.count('probe_msg')).toBe(0);
    h.send([{ mac: phone, ts: t0 }, { mac: phone, ts: now - minuteMs }], { receivedAtMs: now });
    expect(h.processor.stats.tooOldDropped).toBe(1);
    expect(h.processor.stats.sightings).toBe(1);
    expect(h.value('presence', t0)).toBeUndefined();
    expect(h.value('presence', now - minuteMs)).toMatchObject({ devices: 1 });
    // The rejection message names no value from the payload.
    try {
      h.send([{ mac: phone, ts: t0 }], { receivedAtMs: now });
    } catch (error) {
      expect((error as Error).message).not.toContain(phone);
    }
  });
});
