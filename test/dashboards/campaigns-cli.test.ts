import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CampaignRepository } from '../../dashboards/campaigns/repository.ts';
import type { CampaignView } from '../../dashboards/campaigns/service.ts';
import { tempDir } from '../support/tmp.ts';

const bin = path.resolve('bin/plaza.js');

function plaza(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

describe('plaza campaigns', () => {
  it('adds, lists, edits and deletes campaigns in the data dir, and refuses invalid ones', { timeout: 120_000 }, async () => {
    const dataDir = tempDir('campaigns-cli');
    const env = { PLAZA_DATA_DIR: dataDir, PLAZA_LOG_LEVEL: 'silent' };
    const added = await plaza(['campaigns', 'add', '--id', 'spring', '--name', 'Spring', '--mall', 'm1', '--stores', 'a,b', '--control', 'c', '--start', '2026-03-02T10:00', '--end', '2026-03-09T00:00', '--json'], env);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const { campaign, annotation } = JSON.parse(added.stdout) as { campaign: CampaignView; annotation: string };
    expect(campaign).toMatchObject({ id: 'spring', stores: ['a', 'b'], controlStores: ['c'], start: '2026-03-02T10:00:00+08:00' });
    // The embedded store is in the same data dir, so the Grafana annotation point is written too.
    expect(annotation).toBe('written');

    const bad = await plaza(['campaigns', 'add', '--name', 'X', '--mall', 'm1', '--stores', 'a', '--control', 'a', '--start', '2026-03-09T00:00', '--end', '2026-03-02T00:00'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('plaza: invalid campaign:\n  - end: must be after start\n  - controlStores: a cannot be both a campaign store and a control store\n');

    const edited = await plaza(['campaigns', 'edit', 'spring', '--end', '2026-03-10T00:00'], env);
    expect(edited.code).toBe(0);
    expect(edited.stdout).toContain('2026-03-02T10:00:00+08:00 → 2026-03-10T00:00:00+08:00  Spring  [a,b]  control c');
    const listed = await plaza(['campaigns', 'list', '--json'], env);
    expect((JSON.parse(listed.stdout) as CampaignView[]).map((c) => [c.id, c.end])).toEqual([['spring', '2026-03-10T00:00:00+08:00']]);

    expect((await plaza(['campaigns', 'delete', 'spring'], env)).stdout).toBe('deleted spring\n');
    const missing = await plaza(['campaigns', 'delete', 'spring'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('plaza: no campaign spring\n');
    const repository = new CampaignRepository(dataDir).open();
    expect(repository.list()).toEqual([]);
    repository.close();
  });
});
