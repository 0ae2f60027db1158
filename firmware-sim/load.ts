import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceRegistry } from '../broker/registry.ts';
import type { Logger } from '../core/logger.ts';
import { encodePayload } from '../protocol/topics.ts';
import { provisionDevices } from './provision.ts';
import { Random } from './random.ts';

export interface LoadOptions {
  url: string;
  devices: number;
  /** Target publishes per second across all devices. */
  ratePerS: number;
  durationMs: number;
  /** New connections per second while ramping up (a broker authenticates each with scrypt once). */
  connectPerS: number;
  /** Mall id the load devices belong to. */
  mall: string;
  /** Seeds the run id, so device ids do not collide with an earlier run's. */
  seed: number;
  /** Unacknowledged publishes per client before it is skipped for a turn. */
  inflightMax: number;
}

export const loadDefaults = { durationMs: 30_000, connectPerS: 500, mall: 'load', inflightMax: 100 } as const;

export interface LoadReport {
  devices: number;
  connected: number;
  provisionMs: number;
  rampUpMs: number;
  targetRatePerS: number;
  achievedRatePerS: number;
  published: number;
  acked: number;
  failed: number;
  /** Turns a device was skipped because it had inflightMax publishes outstanding. */
  throttled: number;
  disconnects: number;
  latencyMs: { p50: number | null; p99: number | null; max: number | null };
}

interface LoadClient {
  id: string;
  client: MqttClient;
  topic: string;
  seq: number;
  inflight: number;
  online: boolean;
}

/**
 * Drives many door counters from one process at a target message rate (QoS 1) and measures the rate the
 * broker acknowledges and the publish → PUBACK latency. Devices are provisioned in the registry with their own
 * credentials (held in memory) and revoked afterwards.
 */
export async function runLoad(registry: DeviceRegistry, options: LoadOptions, logger: Logger): Promise<LoadReport> {
  const runId = new Random(options.seed).hex(3);
  const width = String(options.devices).length;
  const specs = Array.from({ length: options.devices }, (_, i) => ({
    id: `load-${runId}-${String(i).padStart(width, '0')}`,
    mall: options.mall,
    store: `store-${i % 50}`,
    kind: 'door' as const,
  }));
  const provisionStart = Date.now();
  const credentials = await provisionDevices(registry, specs);
  const provisionMs = Date.now() - provisionStart;
  logger.info({ devices: specs.length, provisionMs }, 'load devices provisioned');

  const clients: LoadClient[] = [];
  let disconnects = 0;
  const rampStart = Date.now();
  try {
    await Promise.all(
      specs.map(async (spec, i) => {
        // Spread connects at connectPerS so the broker's authentication pool is not swamped.
        await sleep((i / options.connectPerS) * 1000);
        const creds = credentials.get(spec.id);
        if (creds === undefined) return;
        const client = mqtt.connect(options.url, {
          clientId: spec.id,
          username: creds.username,
          password: creds.password,
          reconnectPeriod: 0,
          connectTimeout: 60_000,
          keepalive: 60,
          clean: true,
        });
        const entry: LoadClient = { id: spec.id, client, topic: creds.topic, seq: 0, inflight: 0, online: false };
        clients.push(entry);
        client.on('error', () => undefined);
        client.on('close', () => {
          if (entry.online) disconnects += 1;
          entry.online = false;
        });
        await new Promise<void>((resolve) => {
          client.once('connect', () => {
            entry.online = true;
            resolve();
          });
          client.once('close', () => resolve());
        });
      }),
    );
    const rampUpMs = Date.now() - rampStart;
    const online = clients.filter((c) => c.online);
    logger.info({ connected: online.length, rampUpMs }, 'load clients connected');
    if (online.length === 0) throw new Error('no load client could connect');

    const latencies: number[] = [];
    let published = 0;
    let acked = 0;
    let failed = 0;
    let throttled = 0;
    let cursor = 0;
    const start = Date.now();
    const deadline = start + options.durationMs;
    const ts = Date.now();
    while (Date.now() < deadline) {
      const due = Math.floor(((Date.now() - start) / 1000) * options.ratePerS) - published;
      for (let n = 0; n < due; n += 1) {
        const c = online[cursor++ % online.length] as LoadClient;
        if (!c.online) continue;
        if (c.inflight >= options.inflightMax) {
          throttled += 1;
          continue;
        }
        const seq = c.seq++;
        const payload = encodePayload('door', { v: 1, boot: `load${runId}`, seq, ts: ts + seq, in: seq, out: seq });
        const sentAt = performance.now();
        c.inflight += 1;
        published += 1;
        c.client.publish(c.topic, payload, { qos: 1 }, (error) => {
          c.inflight -= 1;
          if (error) failed += 1;
          else {
            acked += 1;
            latencies.push(performance.now() - sentAt);
          }
        });
      }
      await sleep(5);
    }
    // Let outstanding acknowledgements arrive (bounded), so the latency tail is measured, not cut off.
    const settleUntil = Date.now() + 5000;
    while (Date.now() < settleUntil && online.some((c) => c.online && c.inflight > 0)) await sleep(10);
    const elapsedMs = Date.now() - start;
    latencies.sort((a, b) => a - b);
    return {
      devices: specs.length,
      connected: online.length,
      provisionMs,
      rampUpMs,
      targetRatePerS: options.ratePerS,
      achievedRatePerS: Math.round((acked / elapsedMs) * 1000),
      published,
      acked,
      failed,
      throttled,
      disconnects,
      latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? null },
    };
  } finally {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => c.client.end(true, {}, () => resolve()))));
    for (const spec of specs) {
      try {
        registry.revokeDevice(spec.id);
      } catch {
        // never provisioned (provisioning failed part-way) or already revoked
      }
    }
  }
}

function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const value = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return Math.round(value * 100) / 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function formatLoadReport(r: LoadReport): string {
  return [
    `devices      ${r.connected}/${r.devices} connected (provisioned in ${r.provisionMs} ms, ramp-up ${r.rampUpMs} ms, ${r.disconnects} dropped)`,
    `rate         ${r.achievedRatePerS} msg/s acknowledged (target ${r.targetRatePerS})`,
    `messages     ${r.published} published, ${r.acked} acknowledged, ${r.failed} failed, ${r.throttled} throttled turns`,
    `latency      p50 ${r.latencyMs.p50 ?? '-'} ms, p99 ${r.latencyMs.p99 ?? '-'} ms, max ${r.latencyMs.max === null ? '-' : r.latencyMs.max.toFixed(1)} ms (publish → PUBACK)`,
  ].join('\n');
}
