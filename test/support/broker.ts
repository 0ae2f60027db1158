import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Broker, type BrokerOptions } from '../../broker/server.ts';
import { type DeviceCredentials, DeviceRegistry, type ServiceCredentials, type ServiceRole } from '../../broker/registry.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry, type Registry } from '../../core/metrics.ts';
import type { DeviceKind } from '../../protocol/topics.ts';
import { tempDir } from './tmp.ts';

export interface TestBroker {
  broker: Broker;
  registry: DeviceRegistry;
  /** mqtt://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The temp dir holding registry.sqlite. */
  dataDir: string;
  /** The broker's own prom-client registry. */
  metrics: Registry;
  /** Stops the broker and closes the registry. */
  stop(): Promise<void>;
}

export const testBrokerDefaults: BrokerOptions = {
  host: '127.0.0.1',
  port: 0,
  maxPacketBytes: 256 * 1024,
  authFailuresBeforeLockout: 5,
  lockoutMs: 15 * 60 * 1000, // 15 min
};

/** The project's own aedes broker on a free loopback port, with a device registry in a fresh temp dir. */
export async function startTestBroker(options: Partial<BrokerOptions> & { dataDir?: string } = {}): Promise<TestBroker> {
  const { dataDir = tempDir('plaza-broker'), ...overrides } = options;
  const registry = DeviceRegistry.open(dataDir);
  const metrics = createMetricsRegistry(false);
  const broker = new Broker({ ...testBrokerDefaults, ...overrides }, registry, createLogger('silent'), metrics);
  try {
    await broker.start();
  } catch (error) {
    registry.close();
    throw error;
  }
  const port = broker.ports.tcp;
  let stopped = false;
  return {
    broker,
    registry,
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dataDir,
    metrics,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await broker.stop();
      registry.close();
    },
  };
}

/** Registers a device (default: a door counter in mall-1/store-1) and returns its one-time credentials. */
export function addDevice(
  registry: DeviceRegistry,
  input: { mall?: string; store?: string; kind?: DeviceKind; id?: string } = {},
): Promise<DeviceCredentials> {
  const device: { mall: string; store: string; kind: DeviceKind; id?: string } = {
    mall: input.mall ?? 'mall-1',
    store: input.store ?? 'store-1',
    kind: input.kind ?? 'door',
  };
  if (input.id !== undefined) device.id = input.id;
  return registry.addDevice(device);
}

/** Registers a persistent service account (ingest, portal, sim, ops). */
export function addService(registry: DeviceRegistry, role: ServiceRole, name?: string): Promise<ServiceCredentials> {
  return registry.addService(role, name);
}

/** An error from connectClient; returnCode is the CONNACK code when the broker refused the connection. */
export class ConnectError extends Error {
  constructor(
    message: string,
    readonly returnCode: number | undefined,
  ) {
    super(message);
    this.name = 'ConnectError';
  }
}

/**
 * A connected mqtt.js client. Rejects with a ConnectError carrying the CONNACK return code when refused.
 * Reconnects are off unless opts.reconnectPeriod says otherwise, so a refusal is final.
 */
export function connectClient(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    const fail = (error: ConnectError): void => {
      cleanup();
      client.end(true);
      reject(error);
    };
    const onConnect = (): void => {
      cleanup();
      // Later errors (e.g. refused reconnects while a test has the broker down) must not crash the worker.
      client.on('error', () => undefined);
      resolve(client);
    };
    const onError = (error: Error & { code?: unknown }): void => {
      const code = typeof error.code === 'number' ? error.code : undefined;
      fail(new ConnectError(`MQTT connect to ${url} failed: ${error.message}`, code));
    };
    const onClose = (): void => fail(new ConnectError(`MQTT connection to ${url} closed before CONNACK`, undefined));
    const cleanup = (): void => {
      client.off('connect', onConnect);
      client.off('error', onError);
      client.off('close', onClose);
    };
    client.on('connect', onConnect);
    client.on('error', onError);
    client.on('close', onClose);
  });
}
