import type { Command } from 'commander';
import { ComponentRunner, stopOnSignals } from '../../core/component.ts';
import type { MallConfig } from '../../firmware-sim/mall-config.ts';
import type { Plan } from '../assemble.ts';
import { type CliContext, createContext } from '../context.ts';

async function run(ctx: CliContext, plan: Plan, extras: { portal?: boolean; demoMall?: MallConfig } = {}): Promise<void> {
  const runner = new ComponentRunner(ctx.logger);
  stopOnSignals(runner, ctx.logger, () => process.exit(0));
  // Loaded on demand so `plaza devices …` and other small commands start quickly.
  const { assemble } = await import('../assemble.ts');
  const assembly = await assemble(ctx, plan);
  const components = [...assembly.components];
  if (extras.portal === true) {
    const { createPortalComponent } = await import('./portal.ts');
    components.push(await createPortalComponent(ctx, assembly, { demo: plan.demo }));
  }
  if (extras.demoMall !== undefined && assembly.hashSecret !== undefined) {
    const { demoSimulator } = await import('../demo.ts');
    const portalMqtt = await assembly.mqttFor('portal');
    components.push(
      demoSimulator({
        mall: extras.demoMall,
        brokerUrl: ctx.config.mqtt.url ?? `mqtt://127.0.0.1:${ctx.config.mqtt.port}`,
        portalMqtt,
        hashSecret: assembly.hashSecret,
        registry: assembly.registry,
        logger: ctx.logger.child({ component: 'sim' }),
      }),
    );
  }
  await runner.start(components);
}

export function registerRunCommands(program: Command): void {
  program
    .command('start')
    .description('run every component in one process')
    .option('--demo', 'demo mode: embedded defaults, ephemeral secrets and the simulated demo mall')
    .action(async (opts: { demo?: boolean }) => {
      if (opts.demo !== true) {
        await run(createContext(), { broker: true, ingest: true, ops: true, demo: false }, { portal: true });
        return;
      }
      // The demo: the simulated mall in real time, with platform settings that match it.
      const { demoConfigOverrides, loadDemoMall } = await import('../demo.ts');
      const mall = loadDemoMall();
      await run(createContext(demoConfigOverrides(mall)), { broker: true, ingest: true, ops: true, demo: true }, { portal: true, demoMall: mall });
    });

  program
    .command('broker')
    .description('run the embedded MQTT broker')
    .action(async () => run(createContext(), { broker: true, ingest: false, ops: false, demo: false }));

  program
    .command('ingest')
    .description('run ingest (and its ops server): MQTT readings → time series')
    .option('--malls <malls>', 'comma-separated malls this instance consumes (scale-out)')
    .option('--instance <name>', 'instance name; distinct per instance (names the persistent MQTT session)')
    .action(async (opts: { malls?: string; instance?: string }) => {
      const ingest: Record<string, unknown> = {};
      if (opts.malls !== undefined) ingest.malls = opts.malls.split(',').map((m) => m.trim());
      if (opts.instance !== undefined) ingest.instance = opts.instance;
      await run(createContext({ ingest }), { broker: false, ingest: true, ops: true, demo: false });
    });
}
