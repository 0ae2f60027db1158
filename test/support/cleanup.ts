/**
 * Teardown that must happen however the test process ends. Vitest ends its workers with SIGTERM, which skips
 * 'exit' handlers, so the signal is turned into an orderly exit. Services are killed before their dirs go.
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
      process.exit(128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 1));
    });
  }
}
