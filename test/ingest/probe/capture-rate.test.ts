import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../core/logger.ts';
import { captureRate, captureRateOf, captureRateQuery, totalCaptureRate } from '../../../ingest/probe/capture-rate.ts';
import { SqliteStore } from '../../../ingest/store/sqlite.ts';
import { tempDir } from '../../support/tmp.ts';
import { ProbeHarness, minuteMs, t0 } from './harness.ts';

const hourMs = 3_600_000;

describe('capture rate', () => {
  it('is visitors ÷ (visitors + passers-by), null without visits', () => {
    expect(captureRate(3, 1)).toBe(0.75);
    expect(captureRate(0, 4)).toBe(0);
    expect(captureRate(0, 0)).toBeNull();
  });

  it('is computed from closed-visit counts queried back from the SQLite store', async () => {
    const h = new ProbeHarness();
    // Hour 0: 3 visitors, 1 passer-by in s1; hour 1: 1 visitor, 3 passers-by in s1; s2: 1 passer-by.
    const visitor = (mac: string, start: number) => [
      { mac, ts: start },
      { mac, ts: start + 10 * minuteMs },
    ];
    h.send([...visitor('00:00:00:00:00:01', t0), ...visitor('00:00:00:00:00:02', t0), ...visitor('00:00:00:00:00:03', t0 + 5 * minuteMs)]);
    h.send([{ mac: '00:00:00:00:00:04', ts: t0 + minuteMs, rssi: -90 }]);
    h.send([...visitor('00:00:00:00:00:05', t0 + hourMs)], { receivedAtMs: t0 + hourMs + 10 * minuteMs });
    for (const n of [6, 7, 8]) h.send([{ mac: `00:00:00:00:00:0${n}`, ts: t0 + hourMs + n * minuteMs }], { receivedAtMs: t0 + hourMs + 10 * minuteMs });
    h.send([{ mac: '00:00:00:00:00:09', ts: t0 }], { store: 's2', device: 'probe-2' });
    h.tick(t0 + 3 * hourMs);

    const store = new SqliteStore({ dataDir: tempDir('probe-store'), now: () => t0 + 3 * hourMs }, createLogger('silent'));
    await store.open();
    try {
      await store.write(h.emitted);
      const rows = await store.query(captureRateQuery('m1', t0, t0 + 2 * hourMs, { store: 's1', everyMs: hourMs }));
      expect(captureRateOf(rows)).toEqual([
        { tsMs: t0, store: 's1', visitors: 3, passersBy: 1, captureRate: 0.75 },
        { tsMs: t0 + hourMs, store: 's1', visitors: 1, passersBy: 3, captureRate: 0.25 },
      ]);
      const all = await store.query(captureRateQuery('m1', t0, t0 + 2 * hourMs));
      // Ratio of sums over both stores: 4 visitors of 9 closed visits.
      expect(totalCaptureRate(all)).toBeCloseTo(4 / 9, 10);
    } finally {
      await store.close();
    }
  });
});
