import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../support/ports.ts';
import { tempDir } from '../support/tmp.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const token = 'start-demo-token-0123456789';

function plaza(args: string[], env: Record<string, string>): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin/plaza.js'), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exit };
}

/** What `npm start` runs: every component and the simulated demo mall, in one process. */
describe('plaza start --demo', { timeout: 180_000 }, () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('serves health, the live figures of the simulated mall and the portal, and stops cleanly on SIGTERM', async () => {
    const [mqttPort, opsPort, portalPort] = [await freePort(), await freePort(), await freePort()];
    const run = plaza(['start', '--demo'], {
      PLAZA_DATA_DIR: tempDir('start-demo'),
      PLAZA_MQTT_HOST: '127.0.0.1',
      PLAZA_MQTT_PORT: String(mqttPort),
      PLAZA_OPS_HOST: '127.0.0.1',
      PLAZA_OPS_PORT: String(opsPort),
      PLAZA_PORTAL_HOST: '127.0.0.1',
      PLAZA_PORTAL_PORT: String(portalPort),
      PLAZA_OPS_TOKEN: token,
      PLAZA_LOG_LEVEL: 'warn',
    });
    children.push(run.child);
    const ops = `http://127.0.0.1:${opsPort}`;
    await vi.waitFor(
      async () => {
        if (run.child.exitCode !== null) throw new Error(`plaza exited early:\n${run.output()}`);
        expect((await fetch(`${ops}/health`)).status).toBe(200);
      },
      { timeout: 90_000, interval: 250 },
    );
    // Every simulated device connects with its own credentials and shows up as online.
    await vi.waitFor(
      async () => {
        const response = await fetch(`${ops}/api/live?mall=demo`, { headers: { authorization: `Bearer ${token}` } });
        expect(response.status).toBe(200);
        const live = (await response.json()) as { totals: { devicesOnline: number; devicesOffline: number }; stores: { name?: string; capacity?: number }[] };
        expect(live.totals.devicesOnline).toBe(15);
        expect(live.stores.every((s) => typeof s.capacity === 'number' && s.capacity > 0)).toBe(true);
      },
      { timeout: 60_000, interval: 500 },
    );
    const portal = await fetch(`http://127.0.0.1:${portalPort}/`, { redirect: 'manual' });
    expect(portal.status).toBe(302);
    expect(portal.headers.get('location')).toBe('/m/demo/');
    expect((await fetch(`${ops}/api/live?mall=demo`)).status).toBe(401);

    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.output()).not.toMatch(/"level":(50|60)/); // no error or fatal log line
  });

  it('refuses to start production ingest without a hash secret, naming the variable', async () => {
    const run = plaza(['start'], { PLAZA_DATA_DIR: tempDir('start-nosecret'), PLAZA_MQTT_PORT: String(await freePort()), PLAZA_OPS_PORT: String(await freePort()), PLAZA_PORTAL_PORT: String(await freePort()) });
    children.push(run.child);
    expect(await run.exit).not.toBe(0);
    expect(run.output()).toMatch(/PLAZA_HASH_SECRET/);
  });
});
