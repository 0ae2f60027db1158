/**
 * Teardown that must happen however the test process ends. Vitest ends its workers with SIGTERM, which skips
 * 'exit' handlers, so teardown also runs on the signal before it takes its normal course. Services are killed
 * before their dirs go. Tests must not signal their own process (spawn a child to test signal handling).
 */
type Phase = 'processes' | 'files';

const tasks: Record<Phase, Array<() => void>> = { processes: [], files: [] };
let hooked = false;

function runAll(): void {
  for (const phase of ['processes', 'files'] as const) {
    for (const task of tasks[phase].splice(0)) {
      try {
        task();
      } catch {
        // Teardown is best effort: one failure must not keep the rest from running.
      }
    }
  }
}

/** Runs `task` synchronously when the test process exits or is told to stop. */
export function atExit(phase: Phase, task: () => void): void {
  tasks[phase].push(task);
  if (hooked) return;
  hooked = true;
  process.once('exit', runAll);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll();
      // Let the signal end the process as it would have without us, unless someone else now handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}
