import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../../core/logger.ts';
import { type PrepareResult, type ProbePrepareSpec, ProbePreparer } from '../../../ingest/probe/prepare.ts';
import type { PrepareReply } from '../../../ingest/prepare/protocol.ts';
import { defaultPrepareThreadOptions, PrepareThread, type PrepareThreadOptions } from '../../../ingest/prepare/thread.ts';

const spec: ProbePrepareSpec = {
  masterSecret: 'prepare-thread-test-secret-0123456789',
  timeZones: { 'mall-1': 'Europe/Berlin' },
  defaultTimeZone: 'Asia/Shanghai',
  futureSkewMaxMs: 5 * 60_000,
  lateDataMaxMs: 7 * 24 * 3_600_000,
};

const macs = ['3c:22:fb:11:22:33', '00:1a:2b:3c:4d:5e', 'da:a1:19:6e:5f:01', 'f6:0b:77:aa:bb:cc'];
const fixture = (name: string): URL => new URL(`./fixtures/${name}`, import.meta.url);

/** A batch with every kind of sighting: global, randomized with fp+sn, associated, repeated MACs, out of order, from the future, too old. */
function payload(seq: number, nowMs: number): Buffer {
  const obs = [
    { mac: macs[0], rssi: -50, ts: nowMs - 3000 },
    { mac: macs[1], rssi: -61, ts: nowMs - 5000, assoc: true },
    { mac: macs[2], rssi: -72, ts: nowMs - 4000, fp: 'c0ffee00deadbeef', sn: 4001 },
    { mac: macs[3], rssi: -80, ts: nowMs - 2000, assoc: true, fp: 'c0ffee00deadbeef', sn: 12 },
    { mac: macs[0], rssi: -49, ts: nowMs - 1000 },
    { mac: macs[2], rssi: -70, ts: nowMs + 60 * 60_000, fp: 'c0ffee00deadbeef', sn: 4002 }, // future: receive time
    { mac: macs[1], rssi: -65, ts: nowMs - 8 * 24 * 3_600_000 }, // older than the late-data window
    // Another local day in Berlin: its own key, so the same MAC gets another pseudonym.
    { mac: macs[0], rssi: -55, ts: nowMs - 30 * 3_600_000 },
  ];
  return Buffer.from(JSON.stringify({ v: 1, boot: 'b-1', seq, ts: nowMs, obs }));
}

function collectingLogger(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: createLogger('debug', stream), lines };
}

/** The reply as the pipeline receives it. */
function asResult(reply: PrepareReply): PrepareResult | 'failed' {
  if (reply.kind === 'failed') return 'failed';
  return reply.kind === 'prepared' ? { ok: true, value: reply.prepared } : { ok: false, reason: reply.reason };
}

describe('the probe prepare thread', { timeout: 60_000 }, () => {
  let thread: PrepareThread | undefined;

  async function startThread(options: Partial<PrepareThreadOptions> = {}, logger = createLogger('silent')): Promise<PrepareThread> {
    thread = new PrepareThread(spec, logger, { ...defaultPrepareThreadOptions, ...options });
    thread.start();
    await thread.ready();
    return thread;
  }

  afterEach(async () => {
    await thread?.stop();
    thread = undefined;
  });

  it('prepares exactly what the event loop prepares, with no raw MAC in the reply', async () => {
    const t = await startThread();
    expect(t.usable).toBe(true);
    const inline = new ProbePreparer(spec);
    const nowMs = Date.UTC(2026, 10, 27, 9, 0);
    for (const withLinks of [false, true]) {
      const body = payload(withLinks ? 2 : 1, nowMs);
      const id = t.submit('mall-1', body, nowMs, withLinks);
      expect(id).toBeTypeOf('number');
      const reply = t.wait(id ?? -1);
      const expected = inline.parse('mall-1', body, nowMs, withLinks);
      expect(asResult(reply)).toEqual(expected);
      expect(expected.ok && expected.value.future).toBe(1);
      expect(expected.ok && expected.value.old).toBe(1);
      expect(expected.ok && expected.value.links.filter((link) => link !== null).length).toBe(withLinks ? 5 : 0); // macs[0] three times, the two associated ones
      const text = JSON.stringify(reply);
      for (const mac of macs) expect(text).not.toContain(mac);
      expect(text).not.toContain('c0ffee00deadbeef');
    }
  });

  it('returns the same dead-letter reasons as the event loop, without the payload values', async () => {
    const t = await startThread();
    const inline = new ProbePreparer(spec);
    const nowMs = Date.now();
    const bodies = [
      Buffer.from('{"v":1,"boot":"b"'),
      Buffer.from(JSON.stringify({ v: 1, boot: 'b', seq: 1, ts: nowMs, obs: [{ mac: macs[0], rssi: 'strong', ts: nowMs }] })),
      Buffer.from(JSON.stringify({ v: 1, boot: 'b', seq: 1, ts: nowMs, obs: [], [macs[1] ?? '']: 1 })),
    ];
    for (const body of bodies) {
      const reply = t.wait(t.submit('mall-1', body, nowMs, false) ?? -1);
      expect(reply.kind).toBe('invalid');
      expect(asResult(reply)).toEqual(inline.parse('mall-1', body, nowMs, false));
      for (const mac of macs) expect(JSON.stringify(reply)).not.toContain(mac);
    }
  });

  it('answers many requests in flight, whatever order they are taken in', async () => {
    const t = await startThread();
    const nowMs = Date.now();
    const ids = Array.from({ length: 60 }, (_, i) => t.submit('mall-1', payload(i + 1, nowMs), nowMs, false) ?? -1);
    const seqs = new Map<number, number>();
    for (const id of [...ids].reverse()) {
      const reply = t.wait(id);
      if (reply.kind !== 'prepared') throw new Error(`request ${id}: ${reply.kind}`);
      seqs.set(id, reply.prepared.seq);
    }
    expect(ids.map((id) => seqs.get(id))).toEqual(ids.map((_, i) => i + 1));
    // poll() does not block: the event loop keeps turning until the reply is there.
    const id = t.submit('mall-1', payload(99, nowMs), nowMs, false) ?? -1;
    let reply: PrepareReply | undefined;
    for (let turns = 0; reply === undefined && turns < 5000; turns++) {
      reply = t.poll(id);
      if (reply === undefined) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(reply?.kind).toBe('prepared');
    expect(reply?.kind === 'prepared' && reply.prepared.seq).toBe(99);
  });

  it('turns a crashed thread into failed replies, then starts it again', async () => {
    const { logger, lines } = collectingLogger();
    const t = await startThread({ workerUrl: fixture('dying-worker.mjs'), restartDelayMs: 300, replyTimeoutMs: 1000 }, logger);
    const nowMs = Date.now();
    const ids = Array.from({ length: 5 }, (_, i) => t.submit('mall-1', payload(i + 1, nowMs), nowMs, false) ?? -1);
    const kinds = ids.map((id) => t.wait(id).kind);
    // The first two were prepared; the thread died on the third, so it and everything after it fail (the event
    // loop, blocked in wait(), learns of it by the reply timeout).
    expect(kinds).toEqual(['prepared', 'prepared', 'failed', 'failed', 'failed']);
    expect(t.usable).toBe(false);
    expect(t.submit('mall-1', payload(6, nowMs), nowMs, false)).toBeUndefined();
    await vi.waitFor(() => expect(t.usable).toBe(true), { timeout: 20_000, interval: 50 });
    expect(t.wait(t.submit('mall-1', payload(7, nowMs), nowMs, false) ?? -1).kind).toBe('prepared');
    expect(lines.join('')).toMatch(/prepare thread (stalled|exited)/);
  });

  it('gives up a thread that stops answering instead of blocking the event loop', async () => {
    const { logger, lines } = collectingLogger();
    const t = await startThread({ workerUrl: fixture('stalling-worker.mjs'), replyTimeoutMs: 300, restartDelayMs: 60_000 }, logger);
    expect(t.usable).toBe(true);
    const nowMs = Date.now();
    const first = t.submit('mall-1', payload(1, nowMs), nowMs, false) ?? -1;
    const second = t.submit('mall-1', payload(2, nowMs), nowMs, false) ?? -1;
    const startedMs = performance.now();
    expect(t.wait(first).kind).toBe('failed');
    const waitedMs = performance.now() - startedMs;
    expect(waitedMs).toBeGreaterThanOrEqual(290);
    expect(waitedMs).toBeLessThan(3000);
    // Given up with it: no second timeout.
    expect(t.wait(second).kind).toBe('failed');
    expect(performance.now() - startedMs).toBeLessThan(waitedMs + 200);
    expect(t.usable).toBe(false);
    expect(lines.join('')).toContain('prepare thread stalled');
  });

  it('leaves the work to the event loop when the thread cannot load', async () => {
    const { logger, lines } = collectingLogger();
    const t = await startThread({ workerUrl: fixture('broken-worker.mjs'), restartDelayMs: 60_000 }, logger);
    expect(t.usable).toBe(false);
    expect(t.submit('mall-1', payload(1, Date.now()), Date.now(), false)).toBeUndefined();
    expect(lines.join('')).toContain('prepare thread failed to load');
  });
});
