import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LocalDays, localDayStartMs, macPseudonym } from '../../../ingest/probe/days.ts';
import { ProbeHarness, dbFiles, masterSecret, minuteMs, t0 } from './harness.ts';

const dayStart = Date.parse('2026-03-09T16:00:00Z'); // 2026-03-10 00:00 Asia/Shanghai
const fp = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

describe('probe pseudonyms', () => {
  it('are the same within a local day and differ across days and malls', () => {
    const days = new LocalDays(masterSecret, (mall) => (mall === 'ny' ? 'America/New_York' : 'Asia/Shanghai'));
    const mac = 'aa:bb:cc:dd:ee:ff';
    const morning = macPseudonym(days.of('m1', dayStart + 1000), mac);
    expect(macPseudonym(days.of('m1', dayStart + 24 * 3_600_000 - 1), mac)).toBe(morning);
    expect(macPseudonym(days.of('m1', dayStart + 24 * 3_600_000), mac)).not.toBe(morning);
    expect(macPseudonym(days.of('m1', dayStart - 1), mac)).not.toBe(morning);
    expect(macPseudonym(days.of('m2', dayStart + 1000), mac)).not.toBe(morning);
    expect(macPseudonym(days.of('m1', dayStart + 1000), 'aa:bb:cc:dd:ee:fe')).not.toBe(morning);
    expect(morning).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // Day bounds follow the mall's zone, DST included (New York springs forward on 2026-03-08).
    expect(localDayStartMs('2026-03-08', 'America/New_York')).toBe(Date.parse('2026-03-08T05:00:00Z'));
    expect(localDayStartMs('2026-03-09', 'America/New_York')).toBe(Date.parse('2026-03-09T04:00:00Z'));
    expect(days.of('ny', Date.parse('2026-03-09T03:59:00Z')).date).toBe('2026-03-08');
  });

  it('give one device per mall-day: a new day or another mall is a new device', () => {
    const h = new ProbeHarness();
    const mac = '00:1a:2b:3c:4d:5e';
    h.send([{ mac, ts: t0 }, { mac, ts: dayStart + 24 * 3_600_000 - 60_000 }]);
    h.send([{ mac, ts: dayStart + 24 * 3_600_000 + 60_000 }], { receivedAtMs: dayStart + 24 * 3_600_000 + 60_000 });
    h.send([{ mac, ts: t0 }], { mall: 'm2', device: 'probe-9' });
    expect(h.value('devices_daily', dayStart)).toMatchObject({ devices: 1 });
    expect(h.value('devices_daily', dayStart + 24 * 3_600_000)).toMatchObject({ devices: 1 });
    const identities = h.db.prepare<[], { mall: string; day: string; identity: string }>('SELECT mall, day, identity FROM probe_ident ORDER BY mall, day').all();
    expect(identities.map((r) => `${r.mall} ${r.day}`)).toEqual(['m1 2026-03-10', 'm1 2026-03-11', 'm2 2026-03-10']);
    expect(new Set(identities.map((r) => r.identity)).size).toBe(3);
  });

  it('never writes a raw MAC or fingerprint to the database files or points', () => {
    const h = new ProbeHarness();
    const macs = ['00:1a:2b:3c:4d:5e', 'da:a1:b2:c3:d4:e5', 'f2:11:22:33:44:55'];
    h.send([
      { mac: macs[0] ?? '', ts: t0, assoc: true },
      { mac: (macs[1] ?? '').toUpperCase(), ts: t0 + 1000, fp, sn: 100 },
      { mac: macs[2] ?? '', ts: t0 + 2000, fp, sn: 110 },
      { mac: macs[1] ?? '', ts: t0 + 10 * minuteMs, fp, sn: 400 },
    ]);
    h.tick(t0 + 3_600_000);
    h.db.close();
    const bytes = Buffer.concat(dbFiles(h.dir).filter(existsSync).map((file) => readFileSync(file)));
    expect(bytes.length).toBeGreaterThan(0);
    const needles: string[] = [fp];
    for (const mac of macs) {
      const hex = mac.replaceAll(':', '');
      needles.push(mac, mac.toUpperCase(), hex, hex.toUpperCase(), mac.replaceAll(':', '-'));
    }
    for (const needle of needles) expect(bytes.includes(needle), needle).toBe(false);
    for (const mac of macs) expect(bytes.includes(Buffer.from(mac.replaceAll(':', ''), 'hex')), `binary ${mac}`).toBe(false);
    const pointText = JSON.stringify(h.emitted);
    for (const needle of needles) expect(pointText.includes(needle)).toBe(false);
  });
});

describe('randomized MACs', () => {
  it('joins a rotating phone by fingerprint + sequence number and keeps two phones with the same fingerprint apart', () => {
    const h = new ProbeHarness();
    // Phone A rotates MAC every 2 minutes; its sequence numbers continue (and wrap at 4096).
    // Phone B: same model (same fingerprint), its own sequence counter far away.
    const a = ['da:00:00:00:00:01', 'de:00:00:00:00:02', 'd2:00:00:00:00:03'];
    const b = ['6a:00:00:00:00:01', '6e:00:00:00:00:02'];
    h.send([
      { mac: a[0] ?? '', ts: t0, fp, sn: 4080 },
      { mac: b[0] ?? '', ts: t0 + 500, fp, sn: 2000 },
      { mac: a[0] ?? '', ts: t0 + 30_000, fp, sn: 4090 },
      { mac: b[0] ?? '', ts: t0 + 40_000, fp, sn: 2010 },
      { mac: a[1] ?? '', ts: t0 + 60_000, fp, sn: 5 }, // 4090 → 5 wraps: 11 ahead
      { mac: b[1] ?? '', ts: t0 + 70_000, fp, sn: 2030 },
      { mac: a[1] ?? '', ts: t0 + 100_000, fp, sn: 20 },
      { mac: a[2] ?? '', ts: t0 + 130_000, fp, sn: 40 },
    ]);
    expect(h.processor.stats.clusterMerges).toBe(3);
    expect(h.value('devices_daily', dayStart)).toEqual({ devices: 2, visitors: 0, unclustered: 0 });
    expect(h.value('presence', t0 + minuteMs)).toMatchObject({ devices: 2, unclustered: 0 });
    expect(h.value('presence', t0 + 2 * minuteMs)).toMatchObject({ devices: 1 });
    h.tick(t0 + 3_600_000);
    const visits = h.points('visit');
    expect(visits.map((v) => v.dwell_s).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual([69, 130]); // B: 0.5 s → 70 s, dwell floors to whole seconds
    expect(visits.every((v) => v.randomized === 1 && v.estimated === 0)).toBe(true);
  });

  it('does not join when the sequence number jumps too far or the gap in time is too long', () => {
    const h = new ProbeHarness();
    h.send([
      { mac: 'da:00:00:00:00:01', ts: t0, fp, sn: 100 },
      { mac: 'da:00:00:00:00:02', ts: t0 + 1000, fp, sn: 165 }, // 65 ahead: beyond the 64 window
      { mac: 'da:00:00:00:00:03', ts: t0 + 62_000, fp, sn: 170 }, // 5 ahead of the second, but 61 s later
      { mac: 'da:00:00:00:00:04', ts: t0 + 63_000, fp: 'ffff', sn: 171 }, // another fingerprint
    ]);
    expect(h.processor.stats.clusterMerges).toBe(0);
    expect(h.value('devices_daily', dayStart)).toMatchObject({ devices: 4 });
  });

  it('flags figures from randomized MACs without fp/sn as estimates', () => {
    const h = new ProbeHarness();
    h.send([
      { mac: 'da:00:00:00:00:01', ts: t0, rssi: -50 },
      { mac: 'da:00:00:00:00:01', ts: t0 + 6 * minuteMs, rssi: -50 },
      { mac: 'de:00:00:00:00:02', ts: t0 + 1000 },
      { mac: '00:1a:2b:3c:4d:5e', ts: t0 + 2000 },
    ]);
    expect(h.value('presence', t0)).toEqual({ devices: 3, visitors: 1, passers_by: 2, connected: 0, unclustered: 2 });
    expect(h.value('devices_daily', dayStart)).toEqual({ devices: 3, visitors: 1, unclustered: 2 });
    h.tick(t0 + 3_600_000);
    expect(h.points('visit').map((v) => `${v.randomized}${v.estimated}`).sort()).toEqual(['00', '11', '11']);
    expect(h.value('visits', t0)).toMatchObject({ visits: 3, unclustered: 2 });
  });

  it('lifts the estimate when an unclustered MAC turns out to be an associated device', () => {
    const h = new ProbeHarness();
    const mac = 'da:00:00:00:00:07';
    h.send([{ mac, ts: t0 }]);
    expect(h.value('presence', t0)).toMatchObject({ devices: 1, unclustered: 1 });
    h.send([{ mac, ts: t0 + 30_000, assoc: true }]);
    expect(h.value('presence', t0)).toMatchObject({ devices: 1, unclustered: 0, connected: 1 });
    expect(h.value('devices_daily', dayStart)).toMatchObject({ devices: 1, unclustered: 0 });
  });
});
