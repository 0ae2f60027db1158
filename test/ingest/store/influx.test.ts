import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../../core/logger.ts';
import { InfluxStore, type InfluxStoreOptions } from '../../../ingest/store/influx.ts';
import { StoreError, type Point } from '../../../ingest/store/types.ts';
import { query, queryRows, startInfluxd, type InfluxHandle } from '../../support/influxd.ts';
import { freePort } from '../../support/ports.ts';

/** InfluxDB-only behaviour: HTTP error mapping, auth, retention policies, precision, compression. */

const t0 = 1_700_000_400_000;
const silent = createLogger('silent');

function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('info', sink), lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

function point(store: string, entries: number, tsMs = t0): Point {
  return { measurement: 'footfall', tags: { mall: 'm1', store }, fields: { entries: { int: entries } }, tsMs };
}

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreError);
  return error as StoreError;
}

async function sumEntries(store: InfluxStore, fromMs = t0, toMs = t0 + 60_000): Promise<number | null | undefined> {
  const rows = await store.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', fromMs, toMs });
  return rows[0]?.values.entries;
}

let dbCounter = 0;
const freshDb = (): string => `influx${++dbCounter}`;

describe('InfluxStore against influxd', () => {
  let influx: InfluxHandle;
  const store = (options: Partial<InfluxStoreOptions> = {}, logger = silent): InfluxStore =>
    new InfluxStore({ url: influx.url, db: freshDb(), ...options }, logger);

  beforeAll(async () => {
    influx = await startInfluxd();
  });
  afterAll(async () => {
    await influx.stop();
  });

  it('reports a 4xx as not retryable with the server text, and a partial write with the dropped count', async () => {
    const s = store();
    await s.open();
    await s.write([point('a', 1)]);
    const conflict = await failure(s.write([{ ...point('a', 0, t0 + 1), fields: { entries: 2.5 } }]));
    expect(conflict.retryable).toBe(false);
    expect(conflict.droppedPoints).toBe(1);
    expect(conflict.message).toContain('field type conflict: input field "entries" on measurement "footfall" is type float, already exists as type integer');

    const partial = await failure(s.write([point('b', 5, t0 + 2), { ...point('c', 0, t0 + 3), fields: { entries: true } }, point('d', 7, t0 + 4)]));
    expect(partial).toMatchObject({ retryable: false, droppedPoints: 1 });
    expect(await sumEntries(s)).toBe(13);

    const missingDb = await failure(store().write([point('a', 1)]));
    expect(missingDb.retryable).toBe(false);
    expect(missingDb.droppedPoints).toBeUndefined();
    expect(missingDb.message).toMatch(/HTTP 404: database not found/);

    const queryError = await failure(store().query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', fromMs: t0, toMs: t0 + 1 }));
    expect(queryError.retryable).toBe(false);
    expect(queryError.message).toContain('database not found');
  });

  it('writes sub-millisecond offsets at ns precision without float rounding', async () => {
    const s = store();
    await s.open();
    const ts = 1_700_000_400_123;
    await s.write([
      { ...point('a', 1, ts), tsNsOffset: 456_789 },
      { ...point('a', 2, ts), tsNsOffset: 1 },
      point('a', 3, ts + 1),
    ]);
    const rows = await queryRows(influx.url, (s as unknown as { options: InfluxStoreOptions }).options.db, 'SELECT "entries" FROM "footfall"');
    expect(rows.map((row) => [row.time, row.entries])).toEqual([
      ['2023-11-14T22:20:00.123000001Z', 2],
      ['2023-11-14T22:20:00.123456789Z', 1],
      ['2023-11-14T22:20:00.124Z', 3],
    ]);
  });

  it('round-trips string fields with quotes, backslashes and newlines, and booleans', async () => {
    const db = freshDb();
    const s = new InfluxStore({ url: influx.url, db }, silent);
    await s.open();
    const text = 'say "hi" \\ back\\slash\nnext line, a=b';
    await s.write([{ measurement: 'notes', tags: { store: 'a' }, fields: { text, ok: true, n: { int: -5 } }, tsMs: t0 }]);
    const rows = await queryRows(influx.url, db, 'SELECT * FROM "notes"', { epoch: 'ms' });
    expect(rows).toEqual([{ time: t0, store: 'a', text, ok: true, n: -5 }]);
  });

  it('sends large batches gzip-compressed and influxd accepts them', async () => {
    const s = store({ gzipAboveBytes: 1024 });
    await s.open();
    const batch = Array.from({ length: 2000 }, (_, i) => point(`s${i % 20}`, i % 7, t0 + i));
    await s.write(batch);
    await s.write(batch);
    expect(await sumEntries(s, t0, t0 + 2000)).toBe(batch.reduce((sum, p) => sum + (p.fields.entries as { int: number }).int, 0));
  });

  it('creates the retention policy once and writes and reads through it', async () => {
    const db = freshDb();
    const s = new InfluxStore({ url: influx.url, db, rp: 'short', rpDuration: '2d' }, silent);
    await s.open();
    await s.open();
    const policies = await queryRows(influx.url, '', `SHOW RETENTION POLICIES ON "${db}"`);
    expect(policies.find((rp) => rp.name === 'short')).toMatchObject({ duration: '48h0m0s', replicaN: 1, default: false });
    // influxd drops points older than the policy's duration: a partial write, not retryable.
    const old = await failure(s.write([point('a', 1)]));
    expect(old).toMatchObject({ retryable: false, droppedPoints: 1 });
    expect(old.message).toContain('points beyond retention policy');
    const recent = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
    await s.write([point('a', 4, recent)]);
    expect(await sumEntries(s, recent, recent + 60_000)).toBe(4);
    expect(await queryRows(influx.url, db, 'SELECT sum("entries") FROM "short"."footfall"')).toHaveLength(1);
    expect(await queryRows(influx.url, db, 'SELECT sum("entries") FROM "autogen"."footfall"')).toHaveLength(0);
  });

  it("leaves an operator's existing retention policy as it is, with a warning", async () => {
    const db = freshDb();
    await query(influx.url, '', `CREATE DATABASE "${db}"`);
    await query(influx.url, '', `CREATE RETENTION POLICY "keep" ON "${db}" DURATION 30d REPLICATION 1`);
    const { logger, lines } = capturingLogger();
    const s = new InfluxStore({ url: influx.url, db, rp: 'keep', rpDuration: '2d' }, logger);
    await s.open();
    const policies = await queryRows(influx.url, '', `SHOW RETENTION POLICIES ON "${db}"`);
    expect(policies.find((rp) => rp.name === 'keep')?.duration).toBe('720h0m0s');
    expect(lines().some((line) => line.level === 40 && String(line.reason).includes('retention policy already exists'))).toBe(true);
  });

  it('refuses an rpDuration that is not an InfluxQL duration', async () => {
    const error = await failure(store({ rp: 'x', rpDuration: '2d; DROP DATABASE x' }).open());
    expect(error.retryable).toBe(false);
  });
});

describe('InfluxStore when influxd is down or slow', () => {
  it('maps a refused connection to a retryable error, and recovers once influxd is back', async () => {
    const influx = await startInfluxd();
    try {
      const s = new InfluxStore({ url: influx.url, db: 'outage' }, silent);
      await s.open();
      await s.write([point('a', 1)]);
      await influx.kill();
      for (const attempt of [() => s.write([point('a', 2, t0 + 1)]), () => s.ping(), () => s.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', fromMs: t0, toMs: t0 + 1 })]) {
        const error = await failure(attempt());
        expect(error.retryable).toBe(true);
        expect(error.message).toContain('ECONNREFUSED');
      }
      await influx.restart();
      await s.write([point('a', 2, t0 + 1)]);
      expect(await sumEntries(s)).toBe(3);
    } finally {
      await influx.stop();
    }
  });

  it('maps a server that never answers to a retryable timeout', async () => {
    const sockets: Socket[] = [];
    const server = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const s = new InfluxStore({ url: `http://127.0.0.1:${port}`, db: 'x', timeoutMs: 200 }, silent);
      const error = await failure(s.write([point('a', 1)]));
      expect(error.retryable).toBe(true);
      expect(error.message).toContain('no answer within 200 ms');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('maps nothing listening to a retryable error', async () => {
    const s = new InfluxStore({ url: `http://127.0.0.1:${await freePort()}`, db: 'x' }, silent);
    expect((await failure(s.ping())).retryable).toBe(true);
  });
});

describe('InfluxStore requests (seen by a plain HTTP server standing in for a proxy in front of InfluxDB)', () => {
  let server: Server;
  let url: string;
  let status = 204;
  const seen: { method: string; url: string; headers: IncomingMessage['headers']; body: Buffer }[] = [];

  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status === 204 ? undefined : '{"error":"upstream unavailable"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/influx`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the token header, the rp and precision, keeps the path prefix, and gzips above the threshold', async () => {
    seen.length = 0;
    status = 204;
    const s = new InfluxStore({ url, db: 'plaza', rp: 'r1', token: 'tok-123', gzipAboveBytes: 10 }, silent);
    await s.write([point('a', 1), { ...point('b', 2), tsNsOffset: 5 }]);
    const request = seen[0];
    expect(request?.method).toBe('POST');
    expect(request?.url).toBe('/influx/write?db=plaza&precision=ns&rp=r1');
    expect(request?.headers.authorization).toBe('Token tok-123');
    expect(request?.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(request?.body ?? Buffer.alloc(0)).toString('utf8')).toBe(
      `footfall,mall=m1,store=a entries=1i ${t0}000000\nfootfall,mall=m1,store=b entries=2i ${t0}000005`,
    );
  });

  it('sends user and password as basic auth, never in the URL, and never puts them in errors', async () => {
    seen.length = 0;
    status = 503;
    const s = new InfluxStore({ url: url.replace('http://', 'http://urluser:url%40pass@'), db: 'plaza' }, silent);
    const error = await failure(s.write([point('a', 1)]));
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('HTTP 503: upstream unavailable');
    expect(error.message).not.toContain('url@pass');
    expect(seen[0]?.url).toBe('/influx/write?db=plaza&precision=ms');
    expect(seen[0]?.headers.authorization).toBe(`Basic ${Buffer.from('urluser:url@pass').toString('base64')}`);
    expect(seen[0]?.headers['content-encoding']).toBeUndefined();
  });

  it('retries 429 but not other 4xx', async () => {
    const s = new InfluxStore({ url, db: 'plaza' }, silent);
    status = 429;
    expect((await failure(s.write([point('a', 1)]))).retryable).toBe(true);
    status = 413;
    expect((await failure(s.write([point('a', 1)]))).retryable).toBe(false);
  });
});

describe('InfluxStore with auth-enabled influxd', () => {
  let influx: InfluxHandle;
  beforeAll(async () => {
    influx = await startInfluxd({ auth: true });
  });
  afterAll(async () => {
    await influx.stop();
  });

  it('works with user and password and refuses wrong ones without leaking them', async () => {
    const admin = influx.admin;
    if (admin === undefined) throw new Error('the auth fixture did not return an admin user');
    const s = new InfluxStore({ url: influx.url, db: 'authdb', username: admin.username, password: admin.password }, silent);
    await s.open();
    await s.write([point('a', 3)]);
    expect(await sumEntries(s)).toBe(3);

    const wrong = new InfluxStore({ url: influx.url, db: 'authdb', username: admin.username, password: 'not-the-password' }, silent);
    for (const attempt of [() => wrong.open(), () => wrong.write([point('a', 1)]), () => wrong.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', fromMs: t0, toMs: t0 + 1 })]) {
      const error = await failure(attempt());
      expect(error.retryable).toBe(false);
      expect(error.message).toContain('HTTP 401');
      expect(error.message).not.toContain('not-the-password');
    }
    expect((await failure(new InfluxStore({ url: influx.url, db: 'authdb' }, silent).write([point('a', 1)]))).message).toContain('HTTP 401');
  });

  it('lets a non-admin user with rights on the database open (CREATE DATABASE refused, with a warning) and write', async () => {
    const admin = influx.admin;
    if (admin === undefined) throw new Error('the auth fixture did not return an admin user');
    await query(influx.url, '', 'CREATE DATABASE "shared"', { auth: admin });
    await query(influx.url, '', `CREATE USER "writer" WITH PASSWORD 'w-secret-1'`, { auth: admin });
    await query(influx.url, '', 'GRANT ALL ON "shared" TO "writer"', { auth: admin });
    const { logger, lines } = capturingLogger();
    const s = new InfluxStore({ url: influx.url, db: 'shared', username: 'writer', password: 'w-secret-1' }, logger);
    await s.open();
    expect(lines().some((line) => line.level === 40 && /create database/.test(String(line.msg)))).toBe(true);
    expect(JSON.stringify(lines())).not.toContain('w-secret-1');
    await s.write([point('a', 8)]);
    expect(await sumEntries(s)).toBe(8);
  });
});
