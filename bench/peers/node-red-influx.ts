/**
 * The do-it-yourself peer: what a Node-RED flow `mqtt in` → `influxdb out` does, written with the same
 * libraries' behaviour so the comparison is fair.
 *
 * - `mqtt in` (node-red's mqtt node, mqtt.js underneath): QoS 1 subscription, clean session (the broker
 *   config's default), the PUBACK sent as soon as the message is received, before anything is written.
 *   Payloads parsed as JSON ("auto-detect"); a payload that is not JSON is dropped with an error.
 * - `influxdb out` (node-red-contrib-influxdb, v1.x API): each message becomes one point written with its
 *   own HTTP POST /write; writes are not awaited in order, not limited in number, not retried; a failed
 *   write is logged and the point is gone.
 * - `--mode batched`: a `join` node (N messages or T ms, whichever comes first) in front of `influx batch`,
 *   one HTTP write per batch; otherwise the same.
 * No validation, no de-duplication, no durable spool: that is the point of the comparison.
 *
 * Reports counters as one JSON line per 250 ms on stdout.
 *   node --import tsx bench/peers/node-red-influx.ts --mqtt-url … --username … --password … \
 *     --client-id … --influx-url … --db … --mode per-message|batched [--batch-size 1000] [--batch-ms 1000]
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';

const { values: args } = parseArgs({
  options: {
    'mqtt-url': { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    'client-id': { type: 'string' },
    'influx-url': { type: 'string' },
    db: { type: 'string', default: 'peer' },
    topic: { type: 'string', default: 'plaza/v1/+/+/+/door' },
    mode: { type: 'string', default: 'per-message' },
    'batch-size': { type: 'string', default: '1000' },
    'batch-ms': { type: 'string', default: '1000' },
  },
});

function required(name: keyof typeof args): string {
  const value = args[name];
  if (typeof value !== 'string' || value === '') throw new Error(`--${name} is required`);
  return value;
}

const influx = new URL(required('influx-url'));
const writePath = `/write?${new URLSearchParams({ db: required('db'), precision: 'ms' }).toString()}`;
const batched = args.mode === 'batched';
const batchSize = Number(args['batch-size']);
const batchMs = Number(args['batch-ms']);
// node-influx uses Node's http module; Node 20's global agent keeps connections alive with no socket limit.
const agent = new http.Agent({ keepAlive: true });

const stats = { received: 0, parseErrors: 0, written: 0, failed: 0, writeRequests: 0, pendingWrites: 0, pendingPoints: 0, subscribed: false, failuresByCause: {} as Record<string, number> };

/** A tag value escaped for line protocol (commas, spaces, equals signs). */
function tag(value: string): string {
  return value.replace(/[, =]/g, (c) => `\\${c}`);
}

/** The function node of the flow: topic parts become tags, the reading's numbers become fields. */
function toLine(topic: string, payload: Record<string, unknown>): string | null {
  const [, , mall, store, device] = topic.split('/');
  if (mall === undefined || store === undefined || device === undefined) return null;
  const fields: string[] = [];
  for (const key of ['in', 'out', 'seq'] as const) {
    const value = payload[key];
    if (typeof value === 'number' && Number.isInteger(value)) fields.push(`${key}=${value}i`);
  }
  if (fields.length === 0) return null;
  const ts = typeof payload.ts === 'number' ? ` ${Math.trunc(payload.ts)}` : '';
  return `door,mall=${tag(mall)},store=${tag(store)},device=${tag(device)} ${fields.join(',')}${ts}`;
}

function write(lines: string[]): void {
  stats.pendingWrites += 1;
  stats.pendingPoints += lines.length;
  stats.writeRequests += 1;
  const body = lines.join('\n');
  const done = (cause: string | null): void => {
    stats.pendingWrites -= 1;
    stats.pendingPoints -= lines.length;
    if (cause === null) {
      stats.written += lines.length;
      return;
    }
    stats.failed += lines.length;
    stats.failuresByCause[cause] = (stats.failuresByCause[cause] ?? 0) + 1;
  };
  const request = http.request(
    { host: influx.hostname, port: influx.port, path: writePath, method: 'POST', agent, headers: { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) } },
    (response) => {
      response.resume();
      response.once('end', () => done(response.statusCode === 204 ? null : `HTTP ${response.statusCode}`));
    },
  );
  request.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? 'error'));
  request.end(body);
}

let batch: string[] = [];
let batchTimer: NodeJS.Timeout | undefined;
function flushBatch(): void {
  clearTimeout(batchTimer);
  batchTimer = undefined;
  if (batch.length === 0) return;
  const lines = batch;
  batch = [];
  write(lines);
}

const client = mqtt.connect(required('mqtt-url'), {
  clientId: required('client-id'),
  username: required('username'),
  password: required('password'),
  clean: true,
  protocolVersion: 4,
  keepalive: 60,
  reconnectPeriod: 1000,
});
client.on('connect', () => {
  client.subscribe(args.topic ?? '', { qos: 1 }, (error) => {
    if (error) process.stderr.write(`subscribe failed: ${error.message}\n`);
    else stats.subscribed = true;
  });
});
client.on('error', (error) => process.stderr.write(`mqtt error: ${error.message}\n`));
client.on('message', (topic, payload) => {
  stats.received += 1;
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    stats.parseErrors += 1;
    return;
  }
  if (typeof parsed !== 'object' || parsed === null) return;
  const line = toLine(topic, parsed as Record<string, unknown>);
  if (line === null) return;
  if (!batched) {
    write([line]);
    return;
  }
  batch.push(line);
  if (batch.length >= batchSize) flushBatch();
  else batchTimer ??= setTimeout(flushBatch, batchMs);
});

setInterval(() => process.stdout.write(`${JSON.stringify(stats)}\n`), 250);
process.once('SIGTERM', () => {
  flushBatch();
  client.end(true, {}, () => process.exit(0));
});
