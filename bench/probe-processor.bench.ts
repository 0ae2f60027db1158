/**
 * The probe processor alone on a real state database: sightings/s with one transaction per message, as the
 * pipeline runs it: the messages of one event-loop turn share a transaction, each in its own savepoint.
 * `npx tsx bench/probe-processor.bench.ts [sightings] [batchSize] [messagesPerTransaction] [rotationChance]`
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../core/logger.ts';
import { ProbeProcessor } from '../ingest/probe/processor.ts';
import { Settings } from '../ingest/settings.ts';
import { openStateDb } from '../ingest/state-db.ts';
import type { ProbePayload, Sighting } from '../protocol/payloads/probe.ts';

const totalSightings = Number(process.argv[2] ?? 500_000);
const batchSize = Number(process.argv[3] ?? 200);
const messagesPerTransaction = Number(process.argv[4] ?? 5);
/** Chance per sighting that a randomized MAC rotates (the ingest bench's phones rotate every ~30 frames: 0.033). */
const rotationChance = Number(process.argv[5] ?? 0.01);
const stores = 50;
const devicesPerStore = 400;
const simulatedStepMs = 50; // simulated time per message

interface Phone {
  mac: string;
  kind: 'global' | 'clustered' | 'unclustered' | 'assoc';
  sn: number;
  rotations: number;
  rssi: number;
}

let seed = 42;
function random(): number {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return seed / 2_147_483_648;
}
function randomMac(randomized: boolean): string {
  const bytes = Array.from({ length: 6 }, () => Math.floor(random() * 256));
  bytes[0] = randomized ? ((bytes[0] ?? 0) | 0x02) & 0xfe : (bytes[0] ?? 0) & 0xfc;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const phones: Phone[][] = Array.from({ length: stores }, () =>
  Array.from({ length: devicesPerStore }, (): Phone => {
    const r = random();
    const kind = r < 0.2 ? 'global' : r < 0.7 ? 'clustered' : r < 0.85 ? 'unclustered' : 'assoc';
    return { mac: randomMac(kind !== 'global'), kind, sn: Math.floor(random() * 4096), rotations: 0, rssi: -50 - Math.floor(random() * 40) };
  }),
);

const dir = mkdtempSync(path.join(os.tmpdir(), 'probe-bench-'));
const db = openStateDb(dir);
const processor = new ProbeProcessor({ masterSecret: 'bench-master-secret-0123456789', settings: new Settings({}), logger: createLogger('silent') });
processor.migrate(db);
const processTx = db.transaction((store: number, payload: ProbePayload, nowMs: number) =>
  processor.process({ mall: 'm1', store: `s${store}`, device: `p${store}`, channel: 'probe' }, payload, nowMs),
);
const tickTx = db.transaction((nowMs: number) => processor.tick(nowMs));

let nowMs = Date.parse('2026-03-10T02:00:00Z');
let seq = 0;
let points = 0;
let sent = 0;
let lastTickMs = nowMs;
const writtenAtStart = bytesWritten();
const started = process.hrtime.bigint();
const cpuStarted = process.cpuUsage();
const chunks: number[] = [];
let nextChunkAt = totalSightings / 10;
let lastChunkCpuUs = 0;
let lastChunkSent = 0;
while (sent < totalSightings) {
  const store = seq % stores;
  const obs: Sighting[] = [];
  for (let i = 0; i < batchSize; i++) {
    const phone = phones[store]?.[Math.floor(random() * devicesPerStore)];
    if (phone === undefined) continue;
    phone.sn = (phone.sn + 1 + Math.floor(random() * 4)) % 4096;
    if (phone.kind !== 'global' && phone.kind !== 'assoc' && random() < rotationChance) {
      phone.mac = randomMac(true);
      phone.rotations += 1;
    }
    const sighting: Sighting = { mac: phone.mac, rssi: phone.rssi, ts: nowMs - Math.floor(random() * 1000) };
    if (phone.kind === 'clustered') Object.assign(sighting, { fp: 'a1b2c3d4e5f6a7b8', sn: phone.sn });
    if (phone.kind === 'assoc') sighting.assoc = true;
    obs.push(sighting);
  }
  if (seq % messagesPerTransaction === 0) {
    if (db.inTransaction) db.exec('COMMIT');
    db.exec('BEGIN');
  }
  seq += 1;
  points += processTx(store, { v: 1, boot: 'b', seq, ts: nowMs, obs }, nowMs).length;
  sent += obs.length;
  if (sent >= nextChunkAt) {
    // CPU per sighting for each tenth of the run: does it grow with the working state?
    const cpu = process.cpuUsage(cpuStarted);
    const cpuUs = cpu.user + cpu.system;
    chunks.push(Math.round(((cpuUs - lastChunkCpuUs) / (sent - lastChunkSent)) * 100) / 100);
    lastChunkCpuUs = cpuUs;
    lastChunkSent = sent;
    nextChunkAt += totalSightings / 10;
  }
  nowMs += simulatedStepMs;
  if (nowMs - lastTickMs >= 1000) {
    points += tickTx(nowMs).length;
    lastTickMs = nowMs;
  }
}
if (db.inTransaction) db.exec('COMMIT');
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// CPU time says more than wall time on a shared machine: other processes do not inflate it.
const cpu = process.cpuUsage(cpuStarted);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const memoryMb = process.memoryUsage().rss / 1024 / 1024;
console.log(
  JSON.stringify({
    sightings: sent,
    batchSize,
    messagesPerTransaction,
    rotationChance,
    messages: seq,
    seconds: Number(seconds.toFixed(2)),
    sightingsPerSecond: Math.round(sent / seconds),
    cpuSeconds: Number(cpuSeconds.toFixed(2)),
    sightingsPerCpuSecond: Math.round(sent / cpuSeconds),
    pointsPerSighting: Number((points / sent).toFixed(3)),
    simulatedMinutes: Math.round((nowMs - Date.parse('2026-03-10T02:00:00Z')) / 60_000),
    rssMb: Math.round(memoryMb),
    cpuUsPerSightingByTenth: chunks,
    stateDbMb: Math.round(stateDbBytes() / 1e6),
    // What the commits and WAL checkpoints passed to write(2) (pages of the rows they touched), per sighting.
    bytesWrittenPerSighting: Math.round((bytesWritten() - writtenAtStart) / sent),
    stats: processor.stats,
  }),
);
/** Bytes this process passed to write(2) (Linux /proc/self/io wchar; 0 elsewhere). */
function bytesWritten(): number {
  try {
    return Number(/^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}
function stateDbBytes(): number {
  return ['ingest.sqlite', 'ingest.sqlite-wal'].reduce((sum, name) => sum + (existsSync(path.join(dir, name)) ? statSync(path.join(dir, name)).size : 0), 0);
}
db.close();
rmSync(dir, { recursive: true, force: true });
