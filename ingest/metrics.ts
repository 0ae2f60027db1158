import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Ingest's Prometheus metrics, registered once on the process registry. */
export function createIngestMetrics(registry: Registry) {
  const registers = [registry];
  return {
    received: new Counter({ name: 'plaza_ingest_messages_received_total', help: 'MQTT messages received', labelNames: ['channel'] as const, registers }),
    invalid: new Counter({ name: 'plaza_ingest_messages_invalid_total', help: 'Messages dead-lettered (invalid: failed the schema; rejected: unusable)', labelNames: ['channel', 'kind'] as const, registers }),
    pointsWritten: new Counter({ name: 'plaza_ingest_points_written_total', help: 'Points accepted by the store', registers }),
    pointsRejected: new Counter({ name: 'plaza_ingest_points_rejected_total', help: 'Points the store refused for good (moved aside)', registers }),
    storeErrors: new Counter({ name: 'plaza_ingest_store_errors_total', help: 'Failed store writes', labelNames: ['retryable'] as const, registers }),
    batchSeconds: new Histogram({ name: 'plaza_ingest_batch_write_seconds', help: 'Time to write one batch to the store', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers }),
    storedLatency: new Histogram({
      name: 'plaza_ingest_stored_latency_seconds',
      help: 'From a message being committed by ingest to its points being accepted by the store',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300],
      registers,
    }),
    commitMessages: new Histogram({
      name: 'plaza_ingest_commit_messages',
      help: 'Messages made durable by one state-database commit (one event-loop turn)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers,
    }),
    commitSeconds: new Histogram({ name: 'plaza_ingest_commit_seconds', help: 'Time of one state-database commit', buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers }),
    spoolPoints: new Gauge({ name: 'plaza_ingest_spool_points', help: 'Points waiting in the outbox (the durable spool)', registers }),
    lagSeconds: new Gauge({ name: 'plaza_ingest_consumer_lag_seconds', help: 'Receive time minus device time of the latest reading', registers }),
    prepared: new Counter({
      name: 'plaza_ingest_probe_prepared_total',
      help: 'Probe batches validated and pseudonymised, by where (thread: the prepare thread; event_loop: inline, incl. fallbacks)',
      labelNames: ['where'] as const,
      registers,
    }),
    prepareWaitSeconds: new Counter({
      name: 'plaza_ingest_prepare_wait_seconds_total',
      help: 'Time the event loop waited for the prepare thread (its work outran the thread, or a turn ended with batches in flight)',
      registers,
    }),
    prepareFallbacks: new Counter({ name: 'plaza_ingest_prepare_fallbacks_total', help: 'Probe batches the prepare thread failed to prepare, done on the event loop instead', registers }),
    durableFailures: new Counter({ name: 'plaza_ingest_state_failures_total', help: 'Messages that could not be made durable (not acknowledged; redelivered)', registers }),
  };
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;

/** Counters kept by processors, read when Prometheus scrapes (processors stay free of metric objects). */
export interface ProcessorStats {
  door?: { duplicates: number; skewCorrected: number; resets: number };
  probe?: Record<string, number>;
  portal?: Record<string, number>;
}

export function registerProcessorStats(registry: Registry, read: () => ProcessorStats): void {
  const registers = [registry];
  new Counter({
    name: 'plaza_ingest_duplicates_total',
    help: 'Door readings ignored as repeats of (device, boot, seq)',
    registers,
    collect() {
      this.reset();
      this.inc(read().door?.duplicates ?? 0);
    },
  });
  new Counter({
    name: 'plaza_ingest_clock_skew_corrected_total',
    help: 'Readings whose future device timestamp was replaced by receive time (door readings and probe sightings)',
    registers,
    collect() {
      const stats = read();
      this.reset();
      this.inc((stats.door?.skewCorrected ?? 0) + (stats.probe?.futureSkewCorrected ?? 0));
    },
  });
  new Counter({
    name: 'plaza_ingest_processor_events_total',
    help: 'Events counted by the probe and portal processors (sightings, visits closed, opted-out sightings, member links, …)',
    labelNames: ['processor', 'event'] as const,
    registers,
    collect() {
      const stats = read();
      this.reset();
      for (const processor of ['probe', 'portal'] as const) {
        for (const [event, value] of Object.entries(stats[processor] ?? {})) this.inc({ processor, event }, value);
      }
    },
  });
}

/** 1 while ingest's probe prepare thread runs; 0 when it is off, still loading, or waiting to restart after a failure. */
export function registerPrepareThreadGauge(registry: Registry, up: () => boolean): void {
  new Gauge({
    name: 'plaza_ingest_prepare_thread_up',
    help: '1 while the probe prepare thread runs (0: off, loading, or restarting after a failure)',
    registers: [registry],
    collect() {
      this.set(up() ? 1 : 0);
    },
  });
}
