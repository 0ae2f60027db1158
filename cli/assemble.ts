import { randomBytes } from 'node:crypto';
import type { DeviceRegistry, ServiceRole } from '../broker/registry.ts';
import { Broker } from '../broker/server.ts';
import type { Component } from '../core/component.ts';
import { createCampaigns } from '../dashboards/campaigns/index.ts';
import { LiveView } from '../dashboards/live/live-view.ts';
import { Ingest } from '../ingest/index.ts';
import { ProbeProcessor } from '../ingest/probe/processor.ts';
import { createStore } from '../ingest/store/index.ts';
import type { TimeSeriesStore } from '../ingest/store/types.ts';
import { type HealthCheck, OpsServer } from '../ops/server.ts';
import type { CliContext } from './context.ts';
import { openRegistry } from './context.ts';

export interface Plan {
  broker: boolean;
  ingest: boolean;
  ops: boolean;
  /** Demo mode: ephemeral secrets where none are configured. */
  demo: boolean;
}

/** What later components (portal, simulator, dashboards) need from the assembled core. */
export interface Assembly {
  components: Component[];
  registry: DeviceRegistry;
  store: TimeSeriesStore | undefined;
  health: Record<string, () => HealthCheck>;
  /** MQTT URL and credentials for an in-process component with the given role. */
  mqttFor(role: ServiceRole): Promise<{ url: string; username: string; password: string }>;
  hashSecret: string | undefined;
  opsToken: string | undefined;
}

/** Builds the components of one process in start order: registry, broker, ingest, ops. */
export async function assemble(ctx: CliContext, plan: Plan): Promise<Assembly> {
  const { config, logger } = ctx;
  const registry = openRegistry(config);
  const components: Component[] = [{ name: 'registry', start: async () => {}, stop: async () => registry.close() }];
  const health: Record<string, () => HealthCheck> = {};

  const embedded = plan.broker && config.mqtt.url === undefined;
  if (embedded) components.push(new Broker(config.mqtt, registry, logger.child({ component: 'broker' }), ctx.metrics));
  const url = config.mqtt.url ?? `mqtt://127.0.0.1:${config.mqtt.port}`;

  const mqttFor = async (role: ServiceRole): Promise<{ url: string; username: string; password: string }> => {
    if (embedded) return { url, ...(await registry.addEphemeralService(role)) };
    if (config.mqtt.username === undefined || config.mqtt.password === undefined) {
      throw new Error('PLAZA_MQTT_USERNAME and PLAZA_MQTT_PASSWORD are required to connect to an external broker (create them with `plaza services add`)');
    }
    return { url, username: config.mqtt.username, password: config.mqtt.password };
  };

  let hashSecret = config.ingest.hashSecret;
  if (hashSecret === undefined && plan.demo) {
    // Demo only: a per-run key held in memory. Pseudonyms then change on every restart, which is fine for a demo.
    hashSecret = randomBytes(32).toString('base64url');
  }
  let opsToken = config.ops.token;
  if (opsToken === undefined && plan.demo) {
    opsToken = randomBytes(18).toString('base64url');
    // Shown once on the terminal for the demo, like device credentials; never through the logger.
    process.stderr.write(`\nDemo ops API token for this run: ${opsToken}\n(set PLAZA_OPS_TOKEN to choose your own)\n\n`);
  }

  let store: TimeSeriesStore | undefined;
  let live: LiveView | undefined;
  if (plan.ingest) {
    if (hashSecret === undefined) throw new Error('PLAZA_HASH_SECRET is required for ingest (at least 16 characters; the same value on every ingest instance and the portal)');
    const secret = hashSecret;
    store = createStore(config, logger);
    const ingest = new Ingest({
      config,
      logger: logger.child({ component: 'ingest' }),
      metrics: ctx.metrics,
      store,
      directory: { lookup: (id) => registry.getDevice(id) },
      probe: (settings, members, optOuts) => new ProbeProcessor({ masterSecret: secret, settings, logger: logger.child({ component: 'probe' }), members, optOuts }),
      mqtt: await mqttFor('ingest'),
    });
    components.push(ingest);
    health.ingest = () => ingest.health();
    // The live view and alerts: fed by every committed point, published as the ingest service.
    const view = new LiveView({ config, store, registry, logger: logger.child({ component: 'live' }), mqtt: await mqttFor('ingest') });
    ingest.onCommitted((points) => view.accept(points));
    components.push(view);
    live = view;
  } else if (plan.ops) {
    store = createStore(config, logger);
    const readOnly = store;
    components.push({ name: 'store', start: () => readOnly.open(), stop: () => readOnly.close() });
  }

  if (plan.ops) {
    const campaigns = createCampaigns(config, store, logger.child({ component: 'campaigns' }));
    components.push(campaigns.component);
    components.push(
      new OpsServer({ host: config.ops.host, port: config.ops.port, token: opsToken, tokens: config.ops.tokens, metrics: ctx.metrics, logger: logger.child({ component: 'ops' }), health, store, live, campaigns: campaigns.service }),
    );
  }
  return { components, registry, store, health, mqttFor, hashSecret, opsToken };
}
