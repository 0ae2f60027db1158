import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { atExit } from './cleanup.ts';

const created = new Set<string>();
let hooked = false;

/** Removes every temp dir made by this process. Runs at exit; tests may call it earlier. */
export function removeTempDirs(): void {
  for (const dir of created) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // A dir that cannot be removed at exit must not turn a passing run into a crash.
    }
    created.delete(dir);
  }
}

/** A fresh directory under os.tmpdir(), removed when the test process exits. */
export function tempDir(prefix = 'plaza-test'): string {
  if (!hooked) {
    hooked = true;
    atExit('files', removeTempDirs);
  }
  const safePrefix = prefix.replace(/[^A-Za-z0-9._-]/g, '-');
  const dir = mkdtempSync(path.join(os.tmpdir(), `${safePrefix}-`));
  created.add(dir);
  return dir;
}
