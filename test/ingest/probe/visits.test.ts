import { describe, expect, it } from 'vitest';
import { ProbeHarness, minuteMs, t0 } from './harness.ts';

const phone = '00:1a:2b:3c:4d:01';
const other = '00:1a:2b:3c:4d:02';

/** Sightings of one MAC every `stepMs` from `fromMs` to `toMs` inclusive. */
function track(mac: string, fromMs: number, toMs: number, rssi = -60, stepMs = minuteMs) {
  const out = [];
  for (let ts = fromMs; ts <= toMs; ts += stepMs) out.push({ mac, rssi, ts });
  return out;
}

describe('probe visits', () => {
  it('opens a visit at the first sighting and closes it after the gap in tick()', () => {
    const h = new ProbeHarness();
    h.send(track(phone, t0, t0 + 10 * minuteMs));
    const last = t0 + 10 * minuteMs;
    expect(h.tick(last + 900_000)).toEqual([]); // exactly the gap: still open
    expect(h.points('visit')).toHaveLength(0);
    h.tick(last + 900_001);
    const visits = h.points('visit');
    expect(visits).toHaveLength(1);
    expect(visits[0]).toMatchObject({ tsMs: t0, dwell_s: 600, max_rssi_dbm: -60, visitor: 1, randomized: 0, estimated: 0, connected: 0 });
    // Closed once: further ticks emit nothing.
    expect(h.tick(last + 2 * 900_000)).toEqual([]);
  });

  it('a sighting after the gap closes the open visit at once and opens a new one', () => {
    const h = new ProbeHarness();
    h.send(track(phone, t0, t0 + 2 * minuteMs));
    const later = t0 + 2 * minuteMs + 900_001;
    const points = h.send([{ mac: phone, rssi: -60, ts: later }]);
    const visit = points.filter((p) => p.measurement === 'visit');
    expect(visit).toHaveLength(1);
    expect(visit[0]?.tsMs).toBe(t0);
    expect(h.value('visits', t0)).toMatchObject({ visits: 1, passers_by: 1, visitors: 0 });
    // Within the gap it is the same visit: no new visit point.
    expect(h.send([{ mac: phone, rssi: -60, ts: later + 900_000 }]).filter((p) => p.measurement === 'visit')).toHaveLength(0);
    h.tick(later + 2 * 900_000 + 1);
    expect(h.points('visit').map((v) => v.dwell_s)).toEqual([120, 900]);
  });

  it('tells visitors from passers-by by RSSI and dwell, with per-store overrides', () => {
    const h = new ProbeHarness({ m1: { timeZone: 'Asia/Shanghai', stores: { lenient: { visitorRssiDbm: -85, visitorMinDwellS: 60 } } } });
    const strongLong = '00:00:00:00:00:01';
    const weakLong = '00:00:00:00:00:02';
    const strongShort = '00:00:00:00:00:03';
    const atThreshold = '00:00:00:00:00:04';
    const batch = [
      ...track(strongLong, t0, t0 + 10 * minuteMs, -60),
      ...track(weakLong, t0, t0 + 10 * minuteMs, -80),
      ...track(strongShort, t0, t0 + 2 * minuteMs, -60),
      ...track(atThreshold, t0, t0 + 5 * minuteMs, -70), // exactly −70 dBm and exactly 300 s: visitor
    ];
    h.send(batch, { store: 's1' });
    h.send(batch, { store: 'lenient', device: 'probe-2' });
    h.tick(t0 + 3 * 3_600_000);
    const s1 = h.points('visit', 's1');
    expect(s1.map((v) => v.visitor).sort()).toEqual([0, 0, 1, 1]);
    expect(h.value('visits', t0, 's1')).toMatchObject({ visits: 4, visitors: 2, passers_by: 2 });
    // Lenient store: −80 dBm passes −85, 2 min passes 60 s.
    expect(h.value('visits', t0, 'lenient')).toMatchObject({ visits: 4, visitors: 4, passers_by: 0 });
    expect(h.value('devices_daily', Date.parse('2026-03-09T16:00:00Z'), 's1')).toEqual({ devices: 4, visitors: 2, unclustered: 0 });
  });

  it('rewrites earlier minutes from passer-by to visitor when a visit qualifies', () => {
    const h = new ProbeHarness();
    h.send(track(phone, t0, t0 + 4 * minuteMs));
    h.send([{ mac: other, rssi: -90, ts: t0 }]);
    for (let m = 0; m <= 4; m++) expect(h.value('presence', t0 + m * minuteMs)).toMatchObject({ visitors: 0, passers_by: m === 0 ? 2 : 1 });
    const points = h.send([{ mac: phone, rssi: -60, ts: t0 + 5 * minuteMs }]);
    // All six minutes of the visit are written again in full.
    expect(points.filter((p) => p.measurement === 'presence').map((p) => (p.tsMs - t0) / minuteMs).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(h.value('presence', t0)).toEqual({ devices: 2, visitors: 1, passers_by: 1, connected: 0, unclustered: 0 });
    for (let m = 1; m <= 5; m++) expect(h.value('presence', t0 + m * minuteMs)).toEqual({ devices: 1, visitors: 1, passers_by: 0, connected: 0, unclustered: 0 });
    expect(h.value('devices_daily', Date.parse('2026-03-09T16:00:00Z'))).toMatchObject({ devices: 2, visitors: 1 });
  });

  it('counts associated devices as connected per minute', () => {
    const h = new ProbeHarness();
    const privateMac = 'da:a1:b2:c3:d4:e5';
    h.send([
      { mac: privateMac, ts: t0, assoc: true },
      { mac: privateMac, ts: t0 + 10_000 }, // a probe frame of the same per-SSID MAC: same device
      { mac: phone, ts: t0 + 20_000 },
    ]);
    expect(h.value('presence', t0)).toEqual({ devices: 2, visitors: 0, passers_by: 2, connected: 1, unclustered: 0 });
    h.tick(t0 + 3_600_000);
    expect(h.points('visit').find((v) => v.randomized === 1)).toMatchObject({ connected: 1, estimated: 0 });
  });

  it('sorts closed visitor visits into dwell buckets', () => {
    const h = new ProbeHarness({ m1: { timeZone: 'Asia/Shanghai', stores: { s1: { visitorMinDwellS: 60 } } } });
    const dwellsMin = [2, 6, 30, 120, 420];
    dwellsMin.forEach((dwell, i) => {
      const mac = `00:00:00:00:01:0${i}`;
      h.send([
        { mac, ts: t0 },
        ...track(mac, t0 + 10 * minuteMs, t0 + dwell * minuteMs, -60, 10 * minuteMs),
        { mac, ts: t0 + dwell * minuteMs },
      ]);
    });
    h.send([{ mac: '00:00:00:00:02:00', rssi: -95, ts: t0 }]); // a weak passer-by: no bucket
    h.tick(t0 + 8 * 3_600_000);
    expect(h.value('visits', t0)).toEqual({
      visits: 6,
      visitors: 5,
      passers_by: 1,
      dwell_s_sum: (2 + 6 + 30 + 120 + 420) * 60,
      unclustered: 0,
      dwell_lt_5m: 1,
      dwell_5_20m: 1,
      dwell_20_60m: 1,
      dwell_1_6h: 1,
      dwell_gt_6h: 1,
    });
  });

  it('keeps the per-device working state bounded: closed visits and day sets are purged', () => {
    const h = new ProbeHarness();
    h.send(track(phone, t0, t0 + 3 * minuteMs));
    h.tick(t0 + 3_600_000);
    expect(h.count('probe_visit')).toBe(1);
    expect(h.count('probe_visit_hot')).toBe(1);
    // Past the grace after closing (3 h) the visit rows go; past the local day end + grace the day set goes.
    h.tick(t0 + 5 * 3_600_000);
    expect(h.count('probe_visit')).toBe(0);
    expect(h.count('probe_visit_hot')).toBe(0);
    expect(h.count('probe_ident')).toBe(1);
    const sealedAt = Date.parse('2026-03-10T16:00:00Z') + 3 * 3_600_000 + 1;
    h.tick(sealedAt);
    expect(h.count('probe_ident')).toBe(0);
    expect(h.count('probe_visit_hot')).toBe(0);
    // A sighting for the sealed day counts its device again, and says so.
    h.send([{ mac: phone, ts: t0 + 30 * minuteMs }], { receivedAtMs: sealedAt + 1000 });
    expect(h.processor.stats.devicesAfterDaySealed).toBe(1);
    expect(h.value('devices_daily', Date.parse('2026-03-09T16:00:00Z'))).toMatchObject({ devices: 2 });
    // Counters outlive the per-device rows for the late-data window, then go too.
    expect(h.count('probe_minute')).toBeGreaterThan(0);
    h.tick(t0 + 8 * 24 * 3_600_000);
    expect(h.count('probe_minute') + h.count('probe_visit_agg') + h.count('probe_day') + h.count('probe_msg')).toBe(0);
  });
});
