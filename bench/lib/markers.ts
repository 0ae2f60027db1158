import type { MqttClient } from 'mqtt';
import type { DeviceCredentials } from '../../broker/registry.ts';
import { connectDevice } from './load.ts';
import { sleep } from './processes.ts';

/** Finds which of the marker timestamps in [fromMs, toMs] are visible in the store. */
export type MarkerLookup = (fromMs: number, toMs: number) => Promise<number[]>;

interface Marker {
  tsMs: number;
  publishedAt: number;
  storedAt: number | null;
  /** Published inside the measurement window (warm-up markers are not reported). */
  measured: boolean;
}

/** Minute spacing of marker readings, so each lands in its own footfall minute (ms). */
export const markerSpacingMs = 60_000;

/**
 * End-to-end latency probe: a door counter publishes marker readings through the same broker and consumer as
 * the load, each in its own minute (days back, far from the load's minutes), and a poller queries the store
 * until each one is visible. Publish-to-stored latency = first poll that sees it − publish time.
 */
export class Markers {
  private client: MqttClient | undefined;
  private readonly markers: Marker[] = [];
  private measuring = false;
  private running = false;
  private publishing: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private seq = 0;

  constructor(
    private readonly url: string,
    private readonly creds: DeviceCredentials,
    /** First marker's timestamp (a whole minute). */
    private readonly baseMs: number,
    private readonly lookup: MarkerLookup,
    private readonly intervalMs = 100,
    private readonly pollIntervalMs = 20,
  ) {}

  async start(): Promise<void> {
    this.client = await connectDevice(this.url, this.creds);
    this.running = true;
    this.publishing = setInterval(() => this.publish(), this.intervalMs);
    this.polling = this.poll();
  }

  set measured(on: boolean) {
    this.measuring = on;
  }

  /** Stops publishing; keeps polling until every marker is seen or timeoutMs passes. */
  async finish(timeoutMs: number): Promise<void> {
    clearInterval(this.publishing);
    const deadline = Date.now() + timeoutMs;
    while (this.markers.some((m) => m.storedAt === null) && Date.now() < deadline) await sleep(50);
    this.running = false;
    await this.polling;
    await this.client?.endAsync(true);
  }

  /** Latencies (ms) of the measured markers that were stored, and how many measured markers never were. */
  results(): { latenciesMs: number[]; published: number; missing: number } {
    const measured = this.markers.filter((m) => m.measured);
    const latenciesMs = measured.filter((m) => m.storedAt !== null).map((m) => (m.storedAt as number) - m.publishedAt);
    return { latenciesMs, published: measured.length, missing: measured.length - latenciesMs.length };
  }

  /** Every marker published, measured or not (the store must hold exactly these). */
  get count(): number {
    return this.markers.length;
  }

  private publish(): void {
    const client = this.client;
    if (client === undefined) return;
    this.seq += 1;
    const tsMs = this.baseMs + (this.seq - 1) * markerSpacingMs;
    // Totals rise by one per marker, so each marker minute holds exactly one entry.
    const payload = `{"v":1,"boot":"marker","seq":${this.seq},"ts":${tsMs},"in":${this.seq},"out":0}`;
    this.markers.push({ tsMs, publishedAt: performance.now(), storedAt: null, measured: this.measuring });
    client.publish(this.creds.topic, payload, { qos: 1 });
  }

  private async poll(): Promise<void> {
    while (this.running) {
      const pending = this.markers.filter((m) => m.storedAt === null);
      const first = pending[0];
      const last = pending[pending.length - 1];
      if (first !== undefined && last !== undefined) {
        try {
          const seen = new Set(await this.lookup(first.tsMs, last.tsMs));
          const now = performance.now();
          for (const marker of pending) if (seen.has(marker.tsMs)) marker.storedAt = now;
        } catch {
          // A failed poll (store busy) just delays detection; the next one retries.
        }
      }
      await sleep(this.pollIntervalMs);
    }
  }
}

/** Nearest-rank percentile of a sample (null when empty). */
export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? null;
}
