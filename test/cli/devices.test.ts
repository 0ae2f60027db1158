import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DeviceRegistry } from '../../broker/registry.ts';
import { tempDir } from '../support/tmp.ts';

const bin = path.resolve('bin/plaza.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI with only the given PLAZA_ variables (plus PATH/HOME). */
function plaza(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('plaza devices', () => {
  // Each run of the CLI costs a Node start plus tsx; the generous timeouts are for a busy CI machine.
  it('adds, lists, rotates and revokes devices in PLAZA_DATA_DIR', { timeout: 120_000 }, async () => {
    const env = { PLAZA_DATA_DIR: tempDir('plaza-cli'), PLAZA_LOG_LEVEL: 'silent' };
    const added = await plaza(['devices', 'add', '--mall', 'mall-1', '--store', 'store-7', '--kind', 'door', '--id', 'door-3f2a', '--json'], env);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const creds = JSON.parse(added.stdout) as Record<string, string>;
    expect(Object.keys(creds).sort()).toEqual(['id', 'kind', 'mall', 'password', 'store', 'topic', 'username']);
    expect(creds).toMatchObject({ id: 'door-3f2a', mall: 'mall-1', store: 'store-7', kind: 'door', username: 'door-3f2a', topic: 'plaza/v1/mall-1/store-7/door-3f2a/door' });
    expect(creds.password).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const listed = await plaza(['devices', 'list', '--json'], env);
    const devices = JSON.parse(listed.stdout) as Array<Record<string, unknown>>;
    expect(devices).toEqual([expect.objectContaining({ id: 'door-3f2a', mall: 'mall-1', store: 'store-7', kind: 'door', revokedMs: null })]);
    expect(listed.stdout).not.toContain(creds.password);

    const rotated = await plaza(['devices', 'rotate', 'door-3f2a', '--json'], env);
    expect(rotated.code).toBe(0);
    const newCreds = JSON.parse(rotated.stdout) as Record<string, string>;
    expect(newCreds.password).not.toBe(creds.password);

    const revoked = await plaza(['devices', 'revoke', 'door-3f2a'], env);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain('revoked door-3f2a');
    const text = await plaza(['devices', 'list'], env);
    expect(text.stdout).toMatch(/door-3f2a .*REVOKED/);

    // The registry the CLI wrote is the one the broker reads: the device is revoked there.
    const registry = DeviceRegistry.open(env.PLAZA_DATA_DIR);
    try {
      expect(registry.getDevice('door-3f2a')?.revokedMs).toBeGreaterThan(0);
      expect(await registry.authenticate('door-3f2a', newCreds.password ?? '')).toBeNull();
    } finally {
      registry.close();
    }
    const bytes = Buffer.concat(readdirSync(env.PLAZA_DATA_DIR).map((f) => readFileSync(path.join(env.PLAZA_DATA_DIR, f))));
    for (const secret of [creds.password, newCreds.password]) expect(bytes.includes(secret ?? '')).toBe(false);
  });

  it('refuses bad input with a clear message and a non-zero exit', { timeout: 60_000 }, async () => {
    const env = { PLAZA_DATA_DIR: tempDir('plaza-cli'), PLAZA_LOG_LEVEL: 'silent' };
    const badKind = await plaza(['devices', 'add', '--mall', 'mall-1', '--store', 's', '--kind', 'camera'], env);
    expect(badKind.code).not.toBe(0);
    expect(badKind.stderr).toMatch(/--kind must be one of door, probe/);
    const unknown = await plaza(['devices', 'revoke', 'nobody'], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no device nobody/);
  });

  it('exits with status 2 and lists every problem on bad configuration', async () => {
    const run = await plaza(['devices', 'list'], { PLAZA_DATA_DIR: tempDir('plaza-cli'), PLAZA_MQTT_PORT: 'abc', PLAZA_LOG_LEVEL: 'loud', PLAZA_NOPE: '1' });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    for (const name of ['PLAZA_MQTT_PORT', 'PLAZA_LOG_LEVEL', 'PLAZA_NOPE']) expect(run.stderr).toContain(name);
  });
});

describe('plaza services', () => {
  it('creates a service account whose credentials authenticate', async () => {
    const env = { PLAZA_DATA_DIR: tempDir('plaza-cli'), PLAZA_LOG_LEVEL: 'silent' };
    const run = await plaza(['services', 'add', 'ingest', '--name', 'ingest-1', '--json'], env);
    expect(run.code).toBe(0);
    const creds = JSON.parse(run.stdout) as { role: string; username: string; password: string };
    expect(creds).toMatchObject({ role: 'ingest', username: 'svc-ingest-ingest-1' });
    const registry = DeviceRegistry.open(env.PLAZA_DATA_DIR);
    try {
      expect(await registry.authenticate(creds.username, creds.password)).toMatchObject({ type: 'service', role: 'ingest' });
    } finally {
      registry.close();
    }
  });
});
