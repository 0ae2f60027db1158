import type { DeviceCredentials, ServiceCredentials } from '../../broker/registry.ts';
import { DeviceRegistry } from '../../broker/registry.ts';
import { query, startInfluxd } from '../../test/support/influxd.ts';
import { removeTempDirs, tempDir } from '../../test/support/tmp.ts';
import { checkDoorCorrectness, checkPeerCorrectness, lookupIngestMarkers, lookupPeerMarkers, type Correctness } from './checks.ts';
import { Load, type LoadDevice } from './load.ts';
import { Markers, percentile } from './markers.ts';
import { DoorCounter, ProbeScanner, Rng } from './payloads.ts';
import { loadAverage, machineBusySeconds, mainThreadSched, ownCpuSeconds, procStats, sleep } from './processes.ts';
import { bucketDelta, buckets, histogramQuantile, type Scrape, total } from './prometheus.ts';
import { type BrokerUnderTest, type ConsumerUnderTest, type Measured, startAedes, startIngestProcess, startMosquittoBroker, startPeerProcess } from './services.ts';

type PeerConsumer = Awaited<ReturnType<typeof startPeerProcess>>;

export type ConsumerKind = 'ingest' | 'peer-per-message' | 'peer-batched';

export interface ScenarioSpec {
  name: string;
  broker: 'aedes' | 'mosquitto';
  consumer: ConsumerKind;
  load: 'door' | 'probe';
  /** Publishes per second; Infinity = as fast as the consumer sustains (closed loop on its backlog). */
  ratePerS: number;
  devices: number;
  stores: number;
  /** Sightings per probe batch. */
  sightingsPerBatch: number;
  inflightPerDevice: number;
  /** Most messages published but not yet durable at the consumer: the bound that makes a rate "sustained". */
  windowMessages: number;
  /** Most points waiting between consumer and InfluxDB before publishing pauses. */
  pendingPointsMax: number;
}

export interface RunOptions {
  warmupS: number;
  durationS: number;
  drainTimeoutS: number;
  seed: number;
  profileDir: string | undefined;
  /** Mosquitto's max_inflight_messages; undefined: Mosquitto's default (20). */
  mosquittoInflight?: number | undefined;
}

export interface Snapshot {
  atMs: number;
  sent: number;
  acked: number;
  durable: number;
  pointsWritten: number;
  pendingPoints: number;
  markers: number;
  scrape: Scrape | undefined;
  cpuSeconds: Record<string, number>;
  consumerSched: { onCpuS: number; waitingForCpuS: number } | null;
}

export interface ScenarioResult {
  spec: Omit<ScenarioSpec, 'ratePerS'> & { ratePerS: number | 'max' };
  measuredS: number;
  publishedPerS: number;
  processedPerS: number;
  sightingsPerS: number | null;
  pointsWrittenPerS: number;
  backlog: { startMessages: number; endMessages: number; maxMessages: number; endPendingPoints: number; drainMs: number };
  commitToStoredS: { p50: number | null; p99: number | null } | null;
  publishToStoredMs: { p50: number | null; p99: number | null; max: number | null; samples: number; missing: number };
  consumerPeakRssBytes: number;
  /** CPU per process in the window, % of one core; `other processes` = the rest of the machine. */
  cpuPercent: Record<string, number>;
  loadAverage: { start: number; end: number };
  /** CPU µs per reference HMAC (processes.ts referenceHmacUs) before and after the scenario: the machine's speed around it. */
  referenceHmacUs?: { before: number; after: number };
  /**
   * The consumer's main thread over the window, % of wall time: running, runnable but without a core, asleep; and
   * of the time asleep, how much it waited for ingest's prepare thread (plaza_ingest_prepare_wait_seconds_total).
   */
  consumerMainThread: { onCpu: number; waitingForCpu: number; asleep: number; waitingForPrepareThread: number | null } | null;
  /** Slowest answer of ingest's /metrics: how long its event loop went without a turn. */
  slowestScrapeMs: number;
  errors: { publishFailed: number; disconnects: number; deadLetters: number; storeErrors: number; peerWriteFailures: number; peerFailuresByCause?: Record<string, number> };
  correctness: Correctness;
  /** Every 100 ms: counts so far, and the consumer's RSS and CPU seconds so far (CPU per message over time). */
  timeline: { tS: number; acked: number; durable: number; backlog: number; pendingPoints: number; rssMb: number; consumerCpuS: number }[];
}

const hashSecret = 'bench-master-secret-0123456789abcdef';
export const otherProcesses = 'other processes';
const mallOf = (spec: ScenarioSpec): string => `bench-${spec.load}`;

/** Registers the load devices (scrypt hashes, 4 at a time) and the marker device. */
async function provision(registry: DeviceRegistry, spec: ScenarioSpec): Promise<{ load: DeviceCredentials[]; marker: DeviceCredentials }> {
  const mall = mallOf(spec);
  const load: DeviceCredentials[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < spec.devices) {
      const i = next++;
      const id = `${spec.load}-${String(i).padStart(4, '0')}`;
      load[i] = await registry.addDevice({ mall, store: `store-${i % spec.stores}`, kind: spec.load, id });
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  const marker = await registry.addDevice({ mall, store: 'marker', kind: 'door', id: 'marker-1' });
  return { load, marker };
}

function loadDevices(spec: ScenarioSpec, creds: DeviceCredentials[], seed: number): { devices: LoadDevice[]; counters: Map<string, DoorCounter> } {
  const counters = new Map<string, DoorCounter>();
  if (spec.load === 'door') {
    const devices = creds.map((c) => {
      const counter = new DoorCounter(`b${seed}`);
      counters.set(c.id, counter);
      return { creds: c, next: (nowMs: number) => counter.next(nowMs) };
    });
    return { devices, counters };
  }
  // Phones of one model share a probe-request fingerprint: 40 models across the mall.
  const fpRng = new Rng(seed);
  const fingerprints = Array.from({ length: 40 }, () => fpRng.hex(8));
  const devices = creds.map((c, i) => {
    const scanner = new ProbeScanner(new Rng(seed * 1000 + i), `b${seed}`, 400, fingerprints);
    return { creds: c, next: (nowMs: number) => scanner.next(nowMs, spec.sightingsPerBatch) };
  });
  return { devices, counters };
}

async function startConsumer(spec: ScenarioSpec, dataDir: string, url: string, service: ServiceCredentials, influxUrl: string, options: RunOptions): Promise<ConsumerUnderTest> {
  if (spec.consumer === 'ingest') return startIngestProcess({ dataDir, mqttUrl: url, service, influxUrl, hashSecret, profileDir: options.profileDir });
  await query(influxUrl, '', 'CREATE DATABASE peer');
  return startPeerProcess({ mqttUrl: url, service, influxUrl, db: 'peer', mode: spec.consumer === 'peer-batched' ? 'batched' : 'per-message' });
}

/** One scenario from scratch: fresh influxd, broker, consumer and data dir; warm-up, measure, drain, verify. */
export async function runScenario(spec: ScenarioSpec, options: RunOptions, log: (line: string) => void): Promise<ScenarioResult> {
  const mall = mallOf(spec);
  const dataDir = tempDir(`bench-${spec.name}`);
  const stops: (() => Promise<void>)[] = [];
  try {
    const influx = await startInfluxd();
    stops.push(() => influx.stop());
    const registry = DeviceRegistry.open(dataDir);
    const service = await registry.addService('ingest', 'bench');
    log(`  provisioning ${spec.devices} ${spec.load} devices`);
    const creds = await provision(registry, spec);
    registry.close();

    const broker: BrokerUnderTest =
      spec.broker === 'aedes'
        ? await startAedes(dataDir)
        : await startMosquittoBroker(
            [service, ...creds.load, creds.marker].map((c) => ({ username: c.username, password: c.password })),
            options.mosquittoInflight,
          );
    stops.push(() => broker.stop());
    const consumer = await startConsumer(spec, dataDir, broker.url, service, influx.url, options);
    stops.push(() => consumer.stop());
    await consumer.refresh();

    const markerBaseMs = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 86_400_000;
    const markers = new Markers(broker.url, creds.marker, markerBaseMs, spec.consumer === 'ingest' ? lookupIngestMarkers(influx.url, mall) : lookupPeerMarkers(influx.url, 'peer'));
    const { devices, counters } = loadDevices(spec, creds.load, options.seed);
    const load: Load = new Load({
      url: broker.url,
      ratePerS: spec.ratePerS,
      inflightPerDevice: spec.inflightPerDevice,
      windowOpen: () => load.sent + markers.count - consumer.durable() < spec.windowMessages && consumer.pendingPoints() < spec.pendingPointsMax,
    });
    log(`  connecting ${devices.length} device connections`);
    stops.push(() => load.close());
    await load.connect(devices);

    const measured: Measured[] = [consumer.process, broker.process, { name: 'influxd', pid: influx.pid ?? -1 }];
    const cpu = (): Record<string, number> => {
      const result: Record<string, number> = { 'load generator (bench)': ownCpuSeconds() };
      for (const m of measured) result[m.name] = procStats(m.pid)?.cpuSeconds ?? Number.NaN;
      // Whatever else ran on the machine meanwhile (other users' jobs): it competes for the same cores.
      result[otherProcesses] = machineBusySeconds() - Object.values(result).reduce((sum, v) => sum + (Number.isNaN(v) ? 0 : v), 0);
      return result;
    };
    const snapshot = (): Snapshot => ({
      atMs: performance.now(),
      sent: load.sent,
      acked: load.acked,
      durable: consumer.durable(),
      pointsWritten: consumer.pointsWritten(),
      pendingPoints: consumer.pendingPoints(),
      markers: markers.count,
      scrape: consumer.scrape(),
      cpuSeconds: cpu(),
      consumerSched: mainThreadSched(consumer.process.pid),
    });
    const backlogOf = (s: Snapshot): number => Math.max(0, s.acked + s.markers - s.durable);

    let scraping = true;
    let slowestScrapeMs = 0;
    const scraper = (async () => {
      while (scraping) {
        const started = performance.now();
        await consumer.refresh().catch(() => undefined);
        const tookMs = performance.now() - started;
        slowestScrapeMs = Math.max(slowestScrapeMs, tookMs);
        await sleep(200);
      }
    })();
    const loadStartMs = Date.now();
    const timeline: ScenarioResult['timeline'] = [];
    let maxBacklog = 0;
    let inWindow = false;
    const sampler = setInterval(() => {
      const s = snapshot();
      const backlog = backlogOf(s);
      if (inWindow) maxBacklog = Math.max(maxBacklog, backlog);
      const consumerStats = procStats(consumer.process.pid);
      timeline.push({
        tS: Math.round((Date.now() - loadStartMs) / 100) / 10,
        acked: s.acked,
        durable: s.durable,
        backlog,
        pendingPoints: s.pendingPoints,
        rssMb: Math.round((consumerStats?.rssBytes ?? 0) / 1e6),
        consumerCpuS: Math.round((consumerStats?.cpuSeconds ?? 0) * 100) / 100,
      });
    }, 1000);

    await markers.start();
    load.start();
    log(`  warm-up ${options.warmupS} s`);
    await sleep(options.warmupS * 1000);
    await consumer.refresh();
    const a = snapshot();
    const loadStart = loadAverage();
    markers.measured = true;
    inWindow = true;
    log(`  measuring ${options.durationS} s`);
    // A broker that dies mid-run must fail the scenario with its last words, not just leave a backlog behind.
    const windowEndMs = Date.now() + options.durationS * 1000;
    while (Date.now() < windowEndMs) {
      const death = broker.died();
      if (death !== null) throw death;
      await sleep(Math.min(1000, windowEndMs - Date.now()));
    }
    await consumer.refresh();
    const b = snapshot();
    const loadEnd = loadAverage();
    inWindow = false;
    markers.measured = false;
    await load.stop();

    // Drain: everything published is durable at the consumer and written to InfluxDB.
    const drainStart = performance.now();
    const drainDeadline = Date.now() + options.drainTimeoutS * 1000;
    await markers.finish(options.drainTimeoutS * 1000);
    while (Date.now() < drainDeadline) {
      await consumer.refresh();
      if (consumer.durable() >= load.acked + markers.count && consumer.pendingPoints() === 0) break;
      await sleep(100);
    }
    const drainMs = performance.now() - drainStart;
    clearInterval(sampler);
    scraping = false;
    await scraper;
    await consumer.refresh();
    const final = snapshot();
    const consumerPeakRssBytes = procStats(consumer.process.pid)?.peakRssBytes ?? 0;

    const dtS = (b.atMs - a.atMs) / 1000;
    const rate = (key: 'acked' | 'durable' | 'pointsWritten'): number => (b[key] - a[key]) / dtS;
    const probeMessages = (s: Snapshot): number => (s.scrape === undefined ? 0 : total(s.scrape, 'plaza_ingest_messages_received_total', 'channel="probe"'));
    const latency = (() => {
      if (a.scrape === undefined || b.scrape === undefined) return null;
      const window = bucketDelta(buckets(b.scrape, 'plaza_ingest_stored_latency_seconds'), buckets(a.scrape, 'plaza_ingest_stored_latency_seconds'));
      return { p50: histogramQuantile(0.5, window), p99: histogramQuantile(0.99, window) };
    })();
    const marks = markers.results();
    const cpuPercent = Object.fromEntries(Object.keys(b.cpuSeconds).map((name) => [name, Math.round((((b.cpuSeconds[name] ?? 0) - (a.cpuSeconds[name] ?? 0)) / dtS) * 1000) / 10]));

    log('  verifying');
    let correctness: Correctness;
    const range = { fromMs: loadStartMs - 120_000, toMs: Date.now() + 120_000 };
    if (spec.load === 'door' && spec.consumer === 'ingest') correctness = await checkDoorCorrectness(influx.url, mall, creds.load, counters, markers.count, range);
    else if (spec.load === 'door') correctness = await checkPeerCorrectness(influx.url, 'peer', load.acked, markers.count, range);
    else {
      const received = final.scrape === undefined ? 0 : total(final.scrape, 'plaza_ingest_messages_received_total', 'channel="probe"');
      correctness = {
        ok: received === load.acked && final.pendingPoints === 0,
        detail: `probe batches: published ${load.acked}, processed ${received}; outbox ${final.pendingPoints} points after drain`,
      };
    }
    const deadLetters = final.scrape === undefined ? 0 : total(final.scrape, 'plaza_ingest_messages_invalid_total');
    if (deadLetters > 0) correctness = { ok: false, detail: `${correctness.detail}; ${deadLetters} dead letters` };

    return {
      spec: { ...spec, ratePerS: Number.isFinite(spec.ratePerS) ? spec.ratePerS : 'max' },
      measuredS: dtS,
      publishedPerS: rate('acked'),
      processedPerS: rate('durable'),
      sightingsPerS: spec.load === 'probe' ? ((probeMessages(b) - probeMessages(a)) * spec.sightingsPerBatch) / dtS : null,
      pointsWrittenPerS: rate('pointsWritten'),
      backlog: { startMessages: backlogOf(a), endMessages: backlogOf(b), maxMessages: maxBacklog, endPendingPoints: b.pendingPoints, drainMs },
      commitToStoredS: spec.consumer === 'ingest' ? latency : null,
      publishToStoredMs: { p50: percentile(marks.latenciesMs, 0.5), p99: percentile(marks.latenciesMs, 0.99), max: percentile(marks.latenciesMs, 1), samples: marks.latenciesMs.length, missing: marks.missing },
      consumerPeakRssBytes,
      cpuPercent,
      loadAverage: { start: loadStart, end: loadEnd },
      consumerMainThread: (() => {
        if (a.consumerSched === null || b.consumerSched === null) return null;
        const onCpu = Math.round(((b.consumerSched.onCpuS - a.consumerSched.onCpuS) / dtS) * 1000) / 10;
        const waitingForCpu = Math.round(((b.consumerSched.waitingForCpuS - a.consumerSched.waitingForCpuS) / dtS) * 1000) / 10;
        const prepareWait = (scrape: Snapshot['scrape']): number => (scrape === undefined ? 0 : total(scrape, 'plaza_ingest_prepare_wait_seconds_total'));
        const waitingForPrepareThread = spec.consumer === 'ingest' ? Math.round(((prepareWait(b.scrape) - prepareWait(a.scrape)) / dtS) * 1000) / 10 : null;
        return { onCpu, waitingForCpu, asleep: Math.round((100 - onCpu - waitingForCpu) * 10) / 10, waitingForPrepareThread };
      })(),
      slowestScrapeMs,
      errors: {
        publishFailed: load.failed,
        disconnects: load.disconnects,
        deadLetters,
        storeErrors: final.scrape === undefined ? 0 : total(final.scrape, 'plaza_ingest_store_errors_total'),
        peerWriteFailures: 'stats' in consumer ? (consumer as PeerConsumer).stats().failed : 0,
        peerFailuresByCause: 'stats' in consumer ? (consumer as PeerConsumer).stats().failuresByCause : undefined,
      },
      correctness,
      timeline,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch((error: unknown) => log(`  stop failed: ${(error as Error).message}`));
    removeTempDirs();
  }
}
