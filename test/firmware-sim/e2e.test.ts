import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { selectFaults } from '../../firmware-sim/faults.ts';
import { LocalClock } from '../../firmware-sim/local-time.ts';
import { demoMallFile, loadMallConfig } from '../../firmware-sim/mall-config.ts';
import { Simulator } from '../../firmware-sim/simulator.ts';
import { MemoryTruth } from '../../firmware-sim/truth.ts';
import { formatReport, verifyRun, type VerifyReport } from '../../firmware-sim/verify.ts';
import { Ingest } from '../../ingest/index.ts';
import { ProbeProcessor } from '../../ingest/probe/processor.ts';
import { Settings } from '../../ingest/settings.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import { addService, startTestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';

const logger = createLogger('silent');

/** The latest 20:00 in Shanghai that has passed: the window before it is open and busy at any time of test. */
function lastEveningMs(): number {
  const clock = new LocalClock('Asia/Shanghai');
  let t = Math.floor(Date.now() / 3_600_000) * 3_600_000;
  while (clock.at(t).hour !== 20) t -= 3_600_000;
  return t;
}

/** Broker → ingest → SQLite store for a simulated window ending now; returns the verify report once exact or timed out. */
async function runThrough(faults: string, seed: number, hours: number): Promise<{ report: VerifyReport; truth: MemoryTruth }> {
  const broker = await startTestBroker();
  const dataDir = tempDir('plaza-sim-e2e');
  const config = loadConfig({ env: {}, overrides: { dataDir, ingest: { hashSecret: 'e2e-secret-0123456789abcdef' }, malls: { demo: { timeZone: 'Asia/Shanghai' } } } });
  const store = new SqliteStore({ dataDir }, logger);
  const svc = await addService(broker.registry, 'ingest');
  const ingest = new Ingest({
    config,
    logger,
    metrics: createMetricsRegistry(false),
    store,
    directory: { lookup: (id) => broker.registry.getDevice(id) },
    probe: (settings, members, optOuts) => new ProbeProcessor({ masterSecret: 'e2e-secret-0123456789abcdef', settings, logger, members, optOuts }),
    mqtt: { url: broker.url, username: svc.username, password: svc.password },
  });
  let mall = loadMallConfig(demoMallFile);
  mall = { ...mall, faults: selectFaults(mall.faults, faults) };
  const truth = new MemoryTruth();
  const simulator = new Simulator(
    { mall, seed, pace: { realtime: false, speed: 'max' }, durationMs: hours * 3_600_000, endMs: lastEveningMs(), truth, brokerUrl: broker.url, drainTimeoutMs: 20_000 },
    broker.registry,
    logger,
  );
  try {
    await ingest.start();
    await simulator.start();
    await simulator.whenFinished();
    await simulator.stop();
    expect(simulator.stats().backlog).toBe(0);
    const settings = new Settings(config.malls);
    let report: VerifyReport | undefined;
    const deadline = Date.now() + 20_000;
    do {
      await new Promise((r) => setTimeout(r, 250));
      report = await verifyRun(truth.records, store, { footfallTolerancePct: 0, visitorMinDwellS: (s) => settings.storeOf('demo', s).visitorMinDwellS });
    } while (!report.ok && Date.now() < deadline);
    return { report, truth };
  } finally {
    await simulator.stop();
    await ingest.stop();
    await broker.stop();
  }
}

describe('simulated mall through broker → ingest → store', () => {
  it('stores exactly the true door footfall with perfect counters', { timeout: 120_000 }, async () => {
    const { report, truth } = await runThrough('none', 101, 3);
    const entries = report.stores.reduce((n, s) => n + (s.entries.truth ?? 0), 0);
    expect(entries).toBeGreaterThan(100);
    expect(report.ok, formatReport(report)).toBe(true);
    expect(report.stores.every((s) => s.entries.errorPct === 0 && s.exits.errorPct === 0)).toBe(true);
    expect(truth.records.some((r) => r.type === 'fault')).toBe(false);
  });

  it('stays exact under disconnects, duplicates, reordering, reboots, clock skew and malformed payloads', { timeout: 120_000 }, async () => {
    const { report, truth } = await runThrough('all', 202, 3);
    const faults = new Set(truth.records.flatMap((r) => (r.type === 'fault' ? [r.fault] : [])));
    expect([...faults].sort()).toEqual(['clockSkew', 'disconnect', 'duplicate', 'malformed', 'reboot', 'reorder']);
    expect(report.ok, formatReport(report)).toBe(true);
  });
});
