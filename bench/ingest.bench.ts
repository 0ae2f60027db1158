/**
 * Ingest benchmark: broker → ingest (its own process) → InfluxDB, on loopback only, bounded in time.
 *
 *   npm run bench:ingest [-- --only door-aedes-max,probe-aedes-max] [--duration 20] [--warmup 5] [--profile]
 *                        [--mosquitto-inflight 200]   (Mosquitto's max_inflight_messages; default: Mosquitto's own, 20)
 *
 * Each scenario starts from scratch (fresh influxd, broker, registry, data dir), publishes from many device
 * connections for a warm-up and a measured window, then stops publishing, drains, and verifies the store.
 * "max" scenarios publish as fast as the consumer keeps its backlog under the window: the rate they reach is
 * the sustained rate. Prints a Markdown table; writes everything to bench/results/ingest-<time>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cpuTable, describeMachine, table } from './lib/report.ts';
import { otherProcesses, type RunOptions, runScenario, type ScenarioResult, type ScenarioSpec } from './lib/scenario.ts';
import { referenceHmacUs } from './lib/processes.ts';

const doorLoad = { load: 'door', devices: 200, stores: 50, sightingsPerBatch: 0, inflightPerDevice: 10, windowMessages: 10_000, pendingPointsMax: 25_000 } as const;
const probeLoad = { load: 'probe', devices: 50, stores: 50, sightingsPerBatch: 100, inflightPerDevice: 4, windowMessages: 200, pendingPointsMax: 25_000 } as const;

/** Targets of issue 3 on a 2-core machine. */
const targets = { doorPerS: 5000, sightingsPerS: 50_000 };

const scenarios: ScenarioSpec[] = [
  { name: 'door-aedes-max', broker: 'aedes', consumer: 'ingest', ratePerS: Number.POSITIVE_INFINITY, ...doorLoad },
  { name: 'door-aedes-5k', broker: 'aedes', consumer: 'ingest', ratePerS: targets.doorPerS, ...doorLoad },
  // Latency without queueing: a steady rate well inside what ingest sustains (~25 large malls' door counters).
  { name: 'door-aedes-1k', broker: 'aedes', consumer: 'ingest', ratePerS: 1000, ...doorLoad },
  { name: 'probe-aedes-max', broker: 'aedes', consumer: 'ingest', ratePerS: Number.POSITIVE_INFINITY, ...probeLoad },
  { name: 'probe-aedes-50k', broker: 'aedes', consumer: 'ingest', ratePerS: targets.sightingsPerS / probeLoad.sightingsPerBatch, ...probeLoad },
  { name: 'door-mosquitto-max', broker: 'mosquitto', consumer: 'ingest', ratePerS: Number.POSITIVE_INFINITY, ...doorLoad },
  { name: 'probe-mosquitto-max', broker: 'mosquitto', consumer: 'ingest', ratePerS: Number.POSITIVE_INFINITY, ...probeLoad },
  { name: 'peer-per-message-aedes-max', broker: 'aedes', consumer: 'peer-per-message', ratePerS: Number.POSITIVE_INFINITY, ...doorLoad },
  { name: 'peer-batched-aedes-max', broker: 'aedes', consumer: 'peer-batched', ratePerS: Number.POSITIVE_INFINITY, ...doorLoad },
];

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    drain: { type: 'string', default: '60' },
    seed: { type: 'string', default: '7' },
    profile: { type: 'boolean', default: false },
    'mosquitto-inflight': { type: 'string' },
  },
});

const resultsDir = path.join(import.meta.dirname, 'results');
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const options: RunOptions = {
  durationS: Number(args.duration),
  warmupS: Number(args.warmup),
  drainTimeoutS: Number(args.drain),
  seed: Number(args.seed),
  profileDir: args.profile ? path.join(resultsDir, `profiles-${stamp}`) : undefined,
  mosquittoInflight: args['mosquitto-inflight'] === undefined ? undefined : Number(args['mosquitto-inflight']),
};
if (options.mosquittoInflight !== undefined && !(Number.isInteger(options.mosquittoInflight) && options.mosquittoInflight >= 0)) {
  throw new Error('--mosquitto-inflight must be a whole number (0 = unlimited)');
}
for (const [name, value] of Object.entries({ duration: options.durationS, warmup: options.warmupS, drain: options.drainTimeoutS, seed: options.seed })) {
  if (!Number.isFinite(value) || value < 0 || (name === 'duration' && (value < 1 || value > 600))) throw new Error(`--${name} must be a number of seconds (duration 1–600)`);
}
const wanted = args.only?.split(',').map((s) => s.trim());
const unknown = wanted?.filter((name) => !scenarios.some((s) => s.name === name)) ?? [];
if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
const selected = wanted === undefined ? scenarios : scenarios.filter((s) => wanted.includes(s.name));

mkdirSync(resultsDir, { recursive: true });
const machine = describeMachine();
console.log(`ingest benchmark: ${selected.length} scenario(s), ${options.warmupS} s warm-up + ${options.durationS} s measured each`);
console.log(`machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memory}, Node ${machine.node}, ${machine.influxd}, ${machine.mosquitto}`);

const results: ScenarioResult[] = [];
const failures: string[] = [];
for (const spec of selected) {
  console.log(`\n▶ ${spec.name}`);
  try {
    const before = referenceHmacUs();
    const result = await runScenario(spec, options, (line) => console.log(line));
    result.referenceHmacUs = { before, after: referenceHmacUs() };
    results.push(result);
    console.log(
      `  published ${Math.round(result.publishedPerS)}/s, processed ${Math.round(result.processedPerS)} msg/s${result.sightingsPerS === null ? '' : ` (${Math.round(result.sightingsPerS)} sightings/s)`}, ` +
        `backlog end ${result.backlog.endMessages} msgs / ${result.backlog.endPendingPoints} pts, publish→stored p50 ${result.publishToStoredMs.p50} ms p99 ${result.publishToStoredMs.p99} ms, ` +
        `correct: ${result.correctness.ok ? 'yes' : 'NO'} (${result.correctness.detail}); other processes on the machine ${result.cpuPercent[otherProcesses]} % CPU, ` +
        `load average ${result.loadAverage.start}→${result.loadAverage.end}; reference HMAC ${before}→${result.referenceHmacUs.after} µs; slowest /metrics ${Math.round(result.slowestScrapeMs)} ms`,
    );
  } catch (error) {
    failures.push(`${spec.name}: ${(error as Error).message}`);
    console.error(`  FAILED: ${(error as Error).stack ?? String(error)}`);
  }
}

const file = path.join(resultsDir, `ingest-${stamp}.json`);
writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), command: `npm run bench:ingest -- ${process.argv.slice(2).join(' ')}`.trim(), machine, options, targets, results, failures }, null, 2)}\n`);
console.log(`\n${table(results)}\n\n${cpuTable(results)}\n\nresults: ${path.relative(process.cwd(), file)}`);
if (options.profileDir !== undefined) console.log(`CPU profiles of ingest: ${path.relative(process.cwd(), options.profileDir)}`);
const incorrect = results.filter((r) => !r.correctness.ok);
if (failures.length > 0 || incorrect.length > 0) {
  console.error(`\n${failures.length} scenario(s) failed, ${incorrect.length} stored something other than what was published`);
  process.exitCode = 1;
}
