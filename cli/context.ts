import { DeviceRegistry } from '../broker/registry.ts';
import { type Config, ConfigError, loadConfig } from '../core/config.ts';
import { createLogger, type Logger } from '../core/logger.ts';
import { createMetricsRegistry, type Registry } from '../core/metrics.ts';

/** What every command needs, built once from the one configuration. */
export interface CliContext {
  config: Config;
  logger: Logger;
  metrics: Registry;
}

export function createContext(overrides?: Record<string, unknown>): CliContext {
  let config: Config;
  try {
    config = loadConfig({ env: process.env, ...(overrides ? { overrides } : {}) });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  return { config, logger: createLogger(config.logLevel), metrics: createMetricsRegistry() };
}

export function openRegistry(config: Config): DeviceRegistry {
  return DeviceRegistry.open(config.dataDir);
}
