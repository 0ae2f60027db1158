import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFileEnv, envBindings } from '../core/config.ts';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

describe('documentation stays true', () => {
  it('documents every configuration variable in docs/operations.md', () => {
    const operations = read('docs/operations.md');
    const missing = [configFileEnv, ...Object.keys(envBindings)].filter((name) => !operations.includes(name));
    expect(missing).toEqual([]);
  });

  it('README starts with the two commands that run and test the system', () => {
    const readme = read('README.md');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm test');
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toContain('start --demo');
  });
});
