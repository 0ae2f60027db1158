import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { DeviceRegistry } from '../../broker/registry.ts';
import { configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { LiveView } from '../../dashboards/live/live-view.ts';
import { LiveSocketServer } from '../../dashboards/live/socket.ts';
import { SqliteStore } from '../../ingest/store/sqlite.ts';
import { sha256Hex, TokenBook } from '../../ops/auth.ts';
import { tempDir } from '../support/tmp.ts';

const logger = createLogger('silent');
const viewerToken = 'viewer-token-for-socket-tests-01';

interface Outcome {
  messages: { type: string; [key: string]: unknown }[];
  closeCode: number | undefined;
}

describe('live WebSocket', () => {
  const dataDir = tempDir('plaza-live-socket');
  const store = new SqliteStore({ dataDir }, logger);
  const registry = DeviceRegistry.open(dataDir);
  const live = new LiveView({ config: configSchema.parse({ dataDir, malls: { m1: {}, m2: {} } }), store, registry, logger, timing: { pushIntervalMs: 50 } });
  const tokens = new TokenBook(undefined, [{ name: 'wall', role: 'viewer', tokenSha256: sha256Hex(viewerToken) }]);
  const sockets = new LiveSocketServer(live, tokens, logger, { authTimeoutMs: 300, pingIntervalMs: 60_000 });
  let server: Server;
  let url: string;

  beforeAll(async () => {
    await store.open();
    await live.start();
    await vi.waitFor(() => expect(live.loaded).toBe(true));
    server = createServer((_req, res) => res.end());
    sockets.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/live/ws`;
  });
  afterAll(async () => {
    if (server !== undefined) {
      sockets.close(server);
      await new Promise((resolve) => server.close(resolve));
    }
    await live.stop();
    registry.close();
    await store.close();
  });

  /** Connects, sends the given frames, collects what comes back until closed or `untilMessages` arrived. */
  function session(frames: (string | Buffer)[], until: number | ((m: Outcome['messages']) => boolean) = Number.POSITIVE_INFINITY, path = ''): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${url}${path}`);
      const outcome: Outcome = { messages: [], closeCode: undefined };
      ws.on('open', () => {
        for (const frame of frames) ws.send(frame);
      });
      let enough = false;
      ws.on('message', (data) => {
        // Frames already in flight while the close handshake runs are not part of what the test waited for.
        if (enough) return;
        outcome.messages.push(JSON.parse((data as Buffer).toString('utf8')) as Outcome['messages'][number]);
        enough = typeof until === 'number' ? outcome.messages.length >= until : until(outcome.messages);
        if (enough) ws.close();
      });
      ws.on('close', (code) => {
        outcome.closeCode = code;
        resolve(outcome);
      });
      ws.on('error', (error) => (outcome.messages.length > 0 ? undefined : reject(error)));
    });
  }

  it('sends hello and a snapshot after a valid auth message, then switches malls on request', async () => {
    const mallOf = (m: Outcome['messages'][number] | undefined): string | undefined => (m?.snapshot as { mall: string } | undefined)?.mall;
    // A periodic push of m2 may slip in before the switch is handled on a loaded machine; it must stay m2.
    const outcome = await session(
      [JSON.stringify({ type: 'auth', token: viewerToken, mall: 'm2' }), JSON.stringify({ type: 'mall', mall: 'm1' })],
      (messages) => messages.filter((m) => m.type === 'hello').length === 2 && messages.at(-1)?.type === 'snapshot',
    );
    expect(outcome.messages[0]).toEqual({ type: 'hello', malls: ['m1', 'm2'], mall: 'm2', role: 'viewer' });
    expect(mallOf(outcome.messages[1])).toBe('m2');
    const switchAt = outcome.messages.findIndex((m, i) => i > 0 && m.type === 'hello');
    expect(outcome.messages.slice(1, switchAt).every((m) => m.type === 'snapshot' && mallOf(m) === 'm2')).toBe(true);
    expect(outcome.messages.slice(switchAt + 1).map(mallOf)).toEqual(['m1']);
  });

  it('closes with 4401 for a wrong token, a non-JSON or an unexpected first message', async () => {
    expect((await session([JSON.stringify({ type: 'auth', token: 'nope' })])).closeCode).toBe(4401);
    expect((await session(['hello'])).closeCode).toBe(4401);
    expect((await session([JSON.stringify({ type: 'mall', mall: 'm1' })])).closeCode).toBe(4401);
    expect((await session([Buffer.from([1, 2, 3])])).closeCode).toBe(4401);
  });

  it('closes with 4408 when no auth message comes in time, and 1009 for an oversized message', async () => {
    expect((await session([])).closeCode).toBe(4408);
    expect((await session([JSON.stringify({ type: 'auth', token: 'x'.repeat(5000) })])).closeCode).toBe(1009);
  });

  it('closes with 4400 for an invalid message after auth, and refuses other paths', async () => {
    const outcome = await session([JSON.stringify({ type: 'auth', token: viewerToken }), JSON.stringify({ type: 'mall', mall: 'Not An Id' })]);
    expect(outcome.messages.map((m) => m.type)).toEqual(['hello', 'snapshot']);
    expect(outcome.closeCode).toBe(4400);
    await expect(session([], 1, '/../other')).rejects.toThrow(/404/);
  });

  it('pushes an update when figures change, and forgets clients that left', async () => {
    await expect.poll(() => sockets.clientCount).toBe(0);
    const entries = (m: Outcome['messages'][number] | undefined): number | undefined => (m?.snapshot as { totals: { entries15: number } } | undefined)?.totals.entries15;
    const pending = session([JSON.stringify({ type: 'auth', token: viewerToken, mall: 'm1' })], (messages) => entries(messages.at(-1)) === 4);
    await expect.poll(() => sockets.clientCount).toBe(1);
    live.accept([{ measurement: 'footfall', tags: { mall: 'm1', store: 'x' }, fields: { entries: { int: 4 } }, tsMs: Date.now() }]);
    const outcome = await pending;
    expect(entries(outcome.messages[1])).toBe(0);
    expect(outcome.messages.map((m) => m.type).slice(2)).toContain('snapshot');
    await expect.poll(() => sockets.clientCount).toBe(0);
  });
});
