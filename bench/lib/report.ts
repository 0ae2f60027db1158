import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { otherProcesses, type ScenarioResult } from './scenario.ts';

export interface Machine {
  cpus: number;
  cpuModel: string;
  memory: string;
  node: string;
  influxd: string;
  mosquitto: string;
  kernel: string;
}

function firstLine(command: string, args: string[]): string {
  try {
    const result = execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return result.split('\n')[0]?.trim() ?? '';
  } catch (error) {
    // mosquitto -h exits with status 3 after printing its version.
    const out = (error as { stdout?: string }).stdout ?? '';
    return out.split('\n')[0]?.trim() || 'unknown';
  }
}

export function describeMachine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const total = Math.round((os.totalmem() / 2 ** 30) * 10) / 10;
  return {
    cpus: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    memory: `${total} GiB`,
    node: process.version,
    influxd: firstLine('influxd', ['version']),
    mosquitto: firstLine('/usr/sbin/mosquitto', ['-h']),
    kernel: `${os.type()} ${os.release()}`,
  };
}

const fmt = (value: number | null | undefined, digits = 0): string => (value === null || value === undefined || Number.isNaN(value) ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

/** One row per scenario, Markdown (also readable on a terminal). */
export function table(results: readonly ScenarioResult[]): string {
  const header = [
    'scenario',
    'target/s',
    'published msg/s',
    'processed msg/s',
    'sightings/s',
    'points written/s',
    'backlog end (msgs / pts)',
    'commit→stored p50 / p99 (ms)',
    'publish→stored p50 / p99 (ms)',
    'consumer peak RSS (MB)',
    'consumer CPU %',
    'others\' CPU %',
    'reference HMAC µs before → after',
    'correct',
  ];
  const rows = results.map((r) => {
    const consumerName = Object.keys(r.cpuPercent).find((name) => name === 'ingest' || name.startsWith('peer')) ?? '';
    return [
      r.spec.name,
      r.spec.ratePerS === 'max' ? 'max' : fmt(r.spec.ratePerS),
      fmt(r.publishedPerS),
      fmt(r.processedPerS),
      r.sightingsPerS === null ? '–' : fmt(r.sightingsPerS),
      fmt(r.pointsWrittenPerS),
      `${fmt(r.backlog.endMessages)} / ${fmt(r.backlog.endPendingPoints)}`,
      r.commitToStoredS === null ? 'n/a' : `${fmt((r.commitToStoredS.p50 ?? Number.NaN) * 1000)} / ${fmt((r.commitToStoredS.p99 ?? Number.NaN) * 1000)}`,
      `${fmt(r.publishToStoredMs.p50)} / ${fmt(r.publishToStoredMs.p99)}`,
      fmt(r.consumerPeakRssBytes / 1e6),
      fmt(r.cpuPercent[consumerName], 0),
      fmt(r.cpuPercent[otherProcesses], 0),
      r.referenceHmacUs === undefined ? '–' : `${fmt(r.referenceHmacUs.before, 2)} → ${fmt(r.referenceHmacUs.after, 2)}`,
      r.correctness.ok ? 'yes' : 'NO',
    ];
  });
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/**
 * Where the two cores went, per scenario: CPU % of each process (100 = one core), the consumer's main thread
 * (on a core / waiting for one / asleep), and CPU µs per processed message of the pipeline's own processes.
 */
export function cpuTable(results: readonly ScenarioResult[]): string {
  const names = [...new Set(results.flatMap((r) => Object.keys(r.cpuPercent)))];
  const pipeline = names.filter((n) => n !== otherProcesses && !n.startsWith('load generator'));
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  const header = ['scenario', ...names.map((n) => `${n} CPU %`), 'consumer main thread on CPU / waiting for CPU / asleep (for the prepare thread) %', ...pipeline.map((n) => `${n} µs CPU per msg`)];
  return [
    line(header),
    line(header.map(() => '---')),
    ...results.map((r) => {
      const t = r.consumerMainThread;
      return line([
        r.spec.name,
        ...names.map((n) => fmt(r.cpuPercent[n], 0)),
        t === null ? '–' : `${fmt(t.onCpu)} / ${fmt(t.waitingForCpu)} / ${fmt(t.asleep)}${t.waitingForPrepareThread === null ? '' : ` (${fmt(t.waitingForPrepareThread)})`}`,
        ...pipeline.map((n) => (r.cpuPercent[n] === undefined ? '–' : fmt(((r.cpuPercent[n] ?? 0) / 100 / r.processedPerS) * 1e6))),
      ]);
    }),
  ].join('\n');
}
