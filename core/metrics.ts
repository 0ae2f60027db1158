import { Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per process; components register their metrics on it. */
export function createMetricsRegistry(withDefaults = true): Registry {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry, prefix: 'plaza_process_' });
  return registry;
}

export type { Registry };
