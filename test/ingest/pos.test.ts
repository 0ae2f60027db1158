import { describe, expect, it } from 'vitest';
import { PosProcessor } from '../../ingest/pos.ts';
import { RejectedReading } from '../../ingest/processor.ts';
import { openStateDb } from '../../ingest/state-db.ts';
import { posSalesSchema } from '../../protocol/payloads/pos.ts';
import { parsePosTopic, posTopics } from '../../protocol/pos.ts';
import { parseJsonWith } from '../../protocol/topics.ts';
import { tempDir } from '../support/tmp.ts';

const hourMs = 3_600_000;
const nowMs = Date.parse('2026-11-27T12:00:00Z');
const t0 = nowMs - 24 * hourMs;
const interval = (store: string, startHour: number, hours: number, transactions: number) => ({ store, startMs: t0 + startHour * hourMs, endMs: t0 + (startHour + hours) * hourMs, transactions });

function processor(): { pos: PosProcessor; tx: <T>(f: () => T) => T } {
  const db = openStateDb(tempDir('pos'));
  const pos = new PosProcessor();
  pos.migrate(db);
  // As the pipeline does: each message in its own transaction, rolled back when it throws.
  return { pos, tx: (f) => db.transaction(f)() };
}

describe('point-of-sale topic and payload', () => {
  it('builds and parses plaza/v1/<mall>/_pos/<source>/sales and nothing else', () => {
    expect(posTopics.sales('m1', 'till-bridge')).toBe('plaza/v1/m1/_pos/till-bridge/sales');
    expect(parsePosTopic('plaza/v1/m1/_pos/till-bridge/sales')).toEqual({ mall: 'm1', source: 'till-bridge' });
    for (const t of ['plaza/v1/m1/_pos/x/login', 'plaza/v1/m1/_portal/x/sales', 'plaza/v1/M1/_pos/x/sales', 'plaza/v1/m1/_pos/x/sales/extra']) expect(parsePosTopic(t), t).toBeNull();
    expect(() => posTopics.sales('m1', 'a/b')).toThrow(/invalid id/);
    expect(posTopics.salesFilter('+')).toBe('plaza/v1/+/_pos/+/sales');
  });

  it('validates payloads with reasons that name the field', () => {
    expect(parseJsonWith(posSalesSchema, JSON.stringify({ v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 3)] })).ok).toBe(true);
    const bad = parseJsonWith(posSalesSchema, JSON.stringify({ v: 1, mall: 'm1', intervals: [{ ...interval('a', 0, 1, 3), endMs: t0 + 30_000 }] }));
    expect(bad).toEqual({ ok: false, reason: expect.stringContaining('intervals.0.startMs: startMs and endMs must be whole minutes') as string });
  });
});

describe('PosProcessor', () => {
  it('turns a report into one sales point per store and interval', () => {
    const { pos, tx } = processor();
    const points = tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 12), interval('b', 0, 1, 4)] }, nowMs));
    expect(points).toEqual([
      { measurement: 'sales', tags: { mall: 'm1', store: 'a' }, fields: { transactions: { int: 12 }, interval_s: { int: 3600 } }, tsMs: t0 },
      { measurement: 'sales', tags: { mall: 'm1', store: 'b' }, fields: { transactions: { int: 4 }, interval_s: { int: 3600 } }, tsMs: t0 },
    ]);
  });

  it('takes the same interval again as a correction, refuses overlaps whole, and remembers across messages', () => {
    const { pos, tx } = processor();
    tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 12)] }, nowMs));
    expect(tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 13)] }, nowMs))[0]?.fields.transactions).toEqual({ int: 13 });
    expect(pos.stats.corrections).toBe(1);
    expect(() => tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('b', 0, 1, 1), interval('a', 0, 2, 30)] }, nowMs))).toThrow(RejectedReading);
    // The refused report left nothing behind: store b's interval is still free.
    expect(tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('b', 0, 2, 5)] }, nowMs))).toHaveLength(1);
    expect(() => tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('c', 0, 2, 1), interval('c', 1, 2, 1)] }, nowMs))).toThrow(/overlaps/);
    expect(tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('a', 1, 1, 2)] }, nowMs))).toHaveLength(1);
  });

  it('refuses a payload for another mall than its topic, the future and data past the late window', () => {
    const { pos, tx } = processor();
    expect(() => tx(() => pos.sales('m2', { v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 1)] }, nowMs))).toThrow(/topic mall/);
    expect(() => tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('a', 24, 1, 1)] }, nowMs))).toThrow(/future/);
    expect(() => tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('a', -8 * 24, 1, 1)] }, nowMs))).toThrow(/older than 7 days/);
  });

  it('forgets intervals past the late-data window', () => {
    const { pos, tx } = processor();
    tx(() => pos.sales('m1', { v: 1, mall: 'm1', intervals: [interval('a', 0, 1, 1)] }, nowMs));
    expect(pos.prune(nowMs)).toBe(0);
    expect(pos.prune(nowMs + 9 * 24 * hourMs)).toBe(1);
  });
});
