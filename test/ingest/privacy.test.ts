import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { addDevice, startTestBroker, type TestBroker } from '../support/broker.ts';
import { type InfluxHandle, startInfluxd } from '../support/influxd.ts';
import { tempDir } from '../support/tmp.ts';
import { type IngestUnderTest, startIngest, TestDevice } from './harness.ts';

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? filesUnder(full) : [full];
  });
}

/** The forms a MAC could take on disk: colon, dash and bare hex, either case, and as raw bytes. */
function macForms(mac: string): Buffer[] {
  const hex = mac.replaceAll(':', '');
  const texts = [mac, mac.toUpperCase(), mac.replaceAll(':', '-'), hex, hex.toUpperCase()];
  return [...texts.map((t) => Buffer.from(t)), Buffer.from(hex, 'hex')];
}

describe('no raw MAC at rest', { timeout: 120_000 }, () => {
  let broker: TestBroker;
  let influxd: InfluxHandle;
  let run: IngestUnderTest;
  let probe: TestDevice;
  const dataDir = tempDir('privacy');
  const macs = ['3c:22:fb:11:22:33', '00:1a:2b:3c:4d:5e', 'da:a1:19:6e:5f:01', 'f6:0b:77:aa:bb:cc', '8c:85:90:de:ad:01'];
  const fingerprint = 'c0ffee00deadbeef1234';

  beforeAll(async () => {
    broker = await startTestBroker({ dataDir });
    influxd = await startInfluxd();
    const service = await broker.registry.addService('ingest');
    probe = await TestDevice.connect(broker.url, await addDevice(broker.registry, { mall: 'mall-1', store: 'store-1', kind: 'probe' }));
    run = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: broker.url, ...service }, influxUrl: influxd.url, batchSize: 20 });
  });

  afterAll(async () => {
    await probe?.close();
    await broker?.stop();
  });

  it('keeps known MACs out of InfluxDB, SQLite, the spool, dead letters and logs', async () => {
    const now = Date.now();
    let seq = 0;
    const batch = (offsetMs: number) => ({
      v: 1,
      boot: 'p1',
      seq: (seq += 1),
      ts: now - offsetMs,
      obs: macs.map((mac, i) => ({ mac, rssi: -50 - i * 5, ts: now - offsetMs - i * 100, ...(i % 2 === 0 ? { fp: fingerprint, sn: (seq * 7 + i) % 4096 } : { assoc: true }) })),
    });
    await probe.raw('probe', JSON.stringify(batch(20 * 60_000)));
    await influxd.kill(); // the next points wait in the outbox: the spool is checked too
    for (let minute = 19; minute > 0; minute -= 1) await probe.raw('probe', JSON.stringify(batch(minute * 60_000)));
    // Invalid messages that carry MACs become dead letters.
    await probe.raw('probe', JSON.stringify({ ...batch(0), obs: [{ mac: macs[0], rssi: 40, ts: now }] }));
    await probe.raw('probe', `{"v":1,"obs":[{"mac":"${macs[1]}"`);
    await vi.waitFor(() => expect(run.ingest.health().spoolPoints).toBeGreaterThan(0), { timeout: 10_000, interval: 100 });
    const spooled = filesUnder(dataDir);
    for (const file of spooled) assertNoMac(file);

    await influxd.restart();
    await vi.waitFor(
      async () => {
        await run.ingest.flush();
        const rows = await run.store.query({ measurement: 'presence', fields: ['devices'], aggregate: 'max', where: { mall: 'mall-1' }, fromMs: now - 3_600_000, toMs: now + 60_000 });
        expect(rows.length).toBeGreaterThan(0);
      },
      { timeout: 20_000, interval: 200 },
    );
    // Stop both so every byte they hold is on disk before it is searched.
    await run.stop();
    await influxd.stop();
    const files = [...filesUnder(dataDir), ...filesUnder(influxd.dataDir)];
    expect(files.some((f) => f.endsWith('ingest.sqlite'))).toBe(true);
    expect(files.some((f) => f.includes(`${path.sep}wal${path.sep}`) || f.endsWith('.tsm'))).toBe(true);
    for (const file of files) assertNoMac(file);
    // The log did see the dead letters, without their content.
    expect(readFileSync(run.logFile, 'utf8')).toMatch(/dead letter/);
  });

  function assertNoMac(file: string): void {
    const bytes = readFileSync(file);
    for (const mac of macs) {
      for (const form of macForms(mac)) expect(bytes.includes(form), `${form.toString('hex')} (${mac}) found in ${file}`).toBe(false);
    }
    expect(bytes.includes(Buffer.from(fingerprint)), `raw fp found in ${file}`).toBe(false);
  }
});
