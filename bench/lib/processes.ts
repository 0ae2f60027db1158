import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { atExit } from '../../test/support/cleanup.ts';

/** Lines of a child's output kept for error messages. */
const outputTailLines = 60;
/** How long a graceful stop may take before SIGKILL, in ms. */
const stopTimeoutMs = 15_000;

// PR_SET_PDEATHSIG through setpriv: a child dies with the bench even if the bench is killed outright.
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate));
const clockTicksPerS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const running = new Set<ChildProcess>();
let hooked = false;

/** A child process run by the bench: its own CPU and memory, its output tail, stop with a SIGKILL fallback. */
export class Child {
  private readonly tail: string[] = [];
  private exitText: string | null = null;
  readonly exited: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => this.record(chunk));
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitText = `exited with ${signal ?? `code ${code}`}`;
        running.delete(child);
        resolve();
      });
      child.once('error', (error) => {
        this.exitText = `could not start: ${error.message}`;
        running.delete(child);
        resolve();
      });
    });
  }

  /** Starts `command args` with exactly `env`, under setpriv --pdeathsig when available. */
  static spawn(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Child {
    if (!hooked) {
      hooked = true;
      atExit('processes', () => {
        for (const child of running) child.kill('SIGKILL');
      });
    }
    const [cmd, argv] = setpriv === undefined ? [command, [...args]] : [setpriv, ['--pdeathsig', 'SIGKILL', '--', command, ...args]];
    const child = spawn(cmd, argv, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    return new Child(name, child);
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`${this.name} has no pid (${this.exitText ?? 'not started'})`);
    return pid;
  }

  get exitReason(): string | null {
    return this.exitText;
  }

  /** Registers a handler for each complete stdout line. */
  onLine(handler: (line: string) => void): void {
    let partial = '';
    this.child.stdout?.on('data', (chunk: string) => {
      partial += chunk;
      let newline = partial.indexOf('\n');
      while (newline >= 0) {
        handler(partial.slice(0, newline));
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
    });
  }

  output(): string {
    return this.tail.join('\n');
  }

  failure(reason: string): Error {
    return new Error(`${this.name}: ${reason}\n--- last output of ${this.name} ---\n${this.output() || '(none)'}`);
  }

  /** SIGTERM (graceful: lets `node --cpu-prof` write its profile), SIGKILL after the stop timeout. */
  async stop(): Promise<void> {
    if (this.exitText !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), stopTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  private record(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line === '') continue;
      this.tail.push(line);
      if (this.tail.length > outputTailLines) this.tail.shift();
    }
  }
}

export interface ProcStats {
  /** Resident set now, bytes. */
  rssBytes: number;
  /** Peak resident set since start (VmHWM), bytes. */
  peakRssBytes: number;
  /** User + system CPU time since start, seconds. */
  cpuSeconds: number;
}

/** CPU and memory of a process from /proc (Linux); null once it is gone. */
export function procStats(pid: number): ProcStats | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), cpuSeconds: (utime + stime) / clockTicksPerS };
  } catch {
    return null;
  }
}

/**
 * Main thread of a process (where Node's event loop runs): seconds on a CPU and seconds runnable but waiting
 * for one (other processes had the cores), from /proc/<pid>/schedstat. The rest of the wall time it slept:
 * idle, or blocked in a system call such as a disk write.
 */
export function mainThreadSched(pid: number): { onCpuS: number; waitingForCpuS: number } | null {
  try {
    const [onCpuNs = 0, waitingNs = 0] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ').map(Number);
    return { onCpuS: onCpuNs / 1e9, waitingForCpuS: waitingNs / 1e9 };
  } catch {
    return null;
  }
}

/** CPU time used by every process on the machine since boot (all cores; idle and iowait excluded), seconds. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq + steal) / clockTicksPerS;
}

/** 1-minute load average. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** CPU of this process (the load generator), seconds. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every intervalMs until it returns true; throws `describe()` after timeoutMs. */
export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, describe: () => string, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(describe());
    await sleep(intervalMs);
  }
}

/**
 * How fast this machine is right now: CPU µs per HMAC-SHA256 of a MAC address (the probe path's commonest
 * operation), median of five 100 ms rounds. The VM this runs on changes speed by up to 1.5× from one minute to
 * the next with no steal time reported, so every scenario is bracketed by this figure (docs/benchmarks.md).
 */
export function referenceHmacUs(): number {
  const key = Buffer.alloc(32, 7);
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const started = process.cpuUsage();
    let ops = 0;
    let cpuUs = 0;
    while (cpuUs < 100_000) {
      for (let i = 0; i < 200; i++) createHmac('sha256', key).update(`02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`).digest();
      ops += 200;
      const used = process.cpuUsage(started);
      cpuUs = used.user + used.system;
    }
    rounds.push(cpuUs / ops);
  }
  rounds.sort((a, b) => a - b);
  return Math.round((rounds[2] ?? 0) * 100) / 100;
}
