import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { atExit } from './cleanup.ts';

/** Lines of a service's output kept for error messages. */
const outputTailLines = 40;
/** How long a graceful stop may take before SIGKILL, in ms. */
const stopTimeoutMs = 10_000;

const running = new Set<ChildProcess>();
let hooked = false;

// setpriv (util-linux) sets PR_SET_PDEATHSIG, so a service dies with the test worker even when the worker is
// killed without running its exit handlers.
const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((candidate) => existsSync(candidate));

function killAllNow(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  atExit('processes', killAllNow);
}

/** Finds an executable in PATH plus the sbin dirs that a non-login PATH may lack. */
export function findBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = `${dir}/${name}`;
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} not found in PATH or /usr/sbin, /usr/bin: run "node test/support/ensure-services.js" (as root it installs it)`);
}

/**
 * One external service process (influxd, mosquitto) run by the tests: output tail for errors, graceful stop
 * with a SIGKILL fallback, and killed for sure when the test process exits.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitDescription: string | null = null;
  private readonly tail: string[] = [];

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly cwd: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Null while running; otherwise how the process ended. */
  get exitReason(): string | null {
    return this.exitDescription;
  }

  /** The last lines the process wrote to stdout/stderr. */
  output(): string {
    return this.tail.join('\n');
  }

  start(): void {
    if (this.child !== undefined) throw new Error(`${this.name} is already running (pid ${this.child.pid})`);
    hookExit();
    const [command, args] = setpriv === undefined ? [this.command, [...this.args]] : [setpriv, ['--pdeathsig', 'SIGKILL', '--', this.command, ...this.args]];
    const child = spawn(command, args, { cwd: this.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exitDescription = null;
    this.child = child;
    running.add(child);
    for (const stream of [child.stdout, child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => this.record(chunk));
    }
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        this.exitDescription = `could not be started: ${error.message}`;
        running.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
      child.once('exit', (code, signal) => {
        this.exitDescription = `exited with ${signal ?? `code ${code}`}`;
        running.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
  }

  /** SIGTERM, wait; SIGKILL if it has not exited within the stop timeout. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** SIGKILL and wait for the exit: a crash, for outage tests. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  /** An Error naming the service, the reason and the tail of its output. */
  failure(reason: string): Error {
    const output = this.output().trim();
    return new Error(`${this.name}: ${reason}${output === '' ? ' (no output)' : `\n--- last output of ${this.name} ---\n${output}`}`);
  }

  private record(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line === '') continue;
      this.tail.push(line);
      if (this.tail.length > outputTailLines) this.tail.shift();
    }
  }
}
