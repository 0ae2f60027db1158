import type { Command } from 'commander';
import { Broker } from '../../broker/server.ts';
import { type Component, ComponentRunner, stopOnSignals } from '../../core/component.ts';
import { type CliContext, createContext, openRegistry } from '../context.ts';

export type ComponentName = 'broker';

/** Builds the components to run in this process, in start order. Later components add themselves here. */
async function buildComponents(ctx: CliContext, names: readonly ComponentName[]): Promise<Component[]> {
  const components: Component[] = [];
  const registry = openRegistry(ctx.config);
  components.push({ name: 'registry', start: async () => {}, stop: async () => registry.close() });
  for (const name of names) {
    switch (name) {
      case 'broker':
        components.push(new Broker(ctx.config.mqtt, registry, ctx.logger.child({ component: 'broker' }), ctx.metrics));
        break;
    }
  }
  return components;
}

async function run(ctx: CliContext, names: readonly ComponentName[]): Promise<void> {
  const runner = new ComponentRunner(ctx.logger);
  stopOnSignals(runner, ctx.logger, () => process.exit(0));
  await runner.start(await buildComponents(ctx, names));
}

export function registerRunCommands(program: Command): void {
  program
    .command('start')
    .description('run every component in one process')
    .option('--demo', 'demo mode: embedded defaults and the simulated demo mall')
    .action(async (_opts: { demo?: boolean }) => {
      const ctx = createContext();
      await run(ctx, ctx.config.mqtt.url === undefined ? ['broker'] : []);
    });

  program
    .command('broker')
    .description('run the embedded MQTT broker')
    .action(async () => run(createContext(), ['broker']));
}
