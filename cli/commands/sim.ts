import type { Command } from 'commander';
import { ComponentRunner, stopOnSignals } from '../../core/component.ts';
import type { Config } from '../../core/config.ts';
import { parseDurationMs } from '../../firmware-sim/duration.ts';
import { selectFaults } from '../../firmware-sim/faults.ts';
import { formatLoadReport, loadDefaults, runLoad } from '../../firmware-sim/load.ts';
import { demoMallFile, loadMallConfig, MallConfigError } from '../../firmware-sim/mall-config.ts';
import { createContext, openRegistry } from '../context.ts';

/** Where simulated devices connect: the configured external broker, else the embedded one on this machine. */
export function simBrokerUrl(config: Config): string {
  return config.mqtt.url ?? `mqtt://127.0.0.1:${config.mqtt.port}`;
}

function number(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new Error(`${name} must be a number ≥ ${min}`);
    return n;
  };
}

interface RunOpts {
  config?: string;
  seed: number;
  speed?: string;
  realtime?: boolean;
  duration?: string;
  truth?: string;
  faults?: string;
  end?: string;
}

/** `plaza sim run | verify | load`. */
export function registerSimCommands(program: Command): void {
  const sim = program.command('sim').description('simulated mall with ground truth, verification against the store, load generator');

  sim
    .command('run')
    .description('run a simulated mall: real time (demo) or accelerated over a window that ends now')
    .option('--config <file>', 'mall config (YAML or JSON)', demoMallFile)
    .option('--seed <n>', 'random seed (same seed and window: same truth)', number('--seed', 0), 1)
    .option('--speed <x>', "accelerated: multiple of real time, or 'max'")
    .option('--realtime', 'real time (default unless --speed is given)')
    .option('--duration <d>', 'simulated span, e.g. 90m, 1d (accelerated default: 1d)')
    .option('--end <iso>', 'end of an accelerated window (default: now)')
    .option('--truth <file>', 'write ground truth (JSON lines) here')
    .option('--faults <list>', "faults to inject: 'all', 'none' or e.g. disconnect,reboot (default: as in the config)")
    .action(async (opts: RunOpts) => {
      if (opts.speed !== undefined && opts.realtime === true) throw new Error('give either --speed or --realtime');
      let mall;
      try {
        mall = loadMallConfig(opts.config ?? demoMallFile);
      } catch (error) {
        if (error instanceof MallConfigError) {
          process.stderr.write(`${error.message}\n`);
          process.exit(2);
        }
        throw error;
      }
      if (opts.faults !== undefined) mall = { ...mall, faults: selectFaults(mall.faults, opts.faults) };
      const speed = opts.speed === undefined ? undefined : opts.speed === 'max' ? ('max' as const) : number('--speed', 0.001)(opts.speed);
      const durationMs = opts.duration === undefined ? (speed === undefined ? undefined : 86_400_000) : parseDurationMs(opts.duration);
      const endMs = opts.end === undefined ? undefined : Date.parse(opts.end);
      if (endMs !== undefined && (Number.isNaN(endMs) || endMs > Date.now())) throw new Error('--end must be an ISO time that is not in the future');
      const ctx = createContext();
      const registry = openRegistry(ctx.config);
      const { Simulator } = await import('../../firmware-sim/simulator.ts');
      const simulator = new Simulator(
        {
          mall,
          seed: opts.seed,
          pace: speed === undefined ? { realtime: true } : { realtime: false, speed },
          ...(durationMs === undefined ? {} : { durationMs }),
          ...(endMs === undefined ? {} : { endMs }),
          ...(opts.truth === undefined ? {} : { truthFile: opts.truth }),
          brokerUrl: simBrokerUrl(ctx.config),
        },
        registry,
        ctx.logger.child({ component: 'sim' }),
      );
      const runner = new ComponentRunner(ctx.logger);
      stopOnSignals(runner, ctx.logger, () => {
        registry.close();
        process.exit(0);
      });
      await runner.start([simulator]);
      if (durationMs === undefined) return; // open-ended real-time run: until a signal
      await simulator.whenFinished();
      await runner.stop();
      registry.close();
      const s = simulator.stats();
      process.stdout.write(`simulated until ${new Date(s.simTimeMs).toISOString()}: ${s.delivered} readings acknowledged, ${s.dropped} dropped, ${s.backlog} unacknowledged\n`);
    });

  sim
    .command('verify')
    .description('compare what the platform stored with a run\'s ground truth; exit 1 outside the tolerances')
    .requiredOption('--truth <file>', 'truth file written by `plaza sim run --truth`')
    .option('--footfall-tolerance <pct>', 'accepted |error| of door entries and exits, in %', number('--footfall-tolerance', 0), 0)
    .option('--visitors-tolerance <pct>', 'accepted |error| of probe visitor and unique-shopper estimates, in % (default: report only)', number('--visitors-tolerance', 0))
    .action(async (opts: { truth: string; footfallTolerance: number; visitorsTolerance?: number }) => {
      const ctx = createContext();
      // Loaded on demand so other commands start quickly.
      const [{ readTruth }, { createStore }, { Settings }, { formatReport, verifyRun }] = await Promise.all([
        import('../../firmware-sim/truth.ts'),
        import('../../ingest/store/index.ts'),
        import('../../ingest/settings.ts'),
        import('../../firmware-sim/verify.ts'),
      ]);
      const records = await readTruth(opts.truth);
      const store = createStore(ctx.config, ctx.logger);
      await store.open();
      try {
        const settings = new Settings(ctx.config.malls);
        const mall = records.find((r) => r.type === 'run')?.mall ?? '';
        const report = await verifyRun(records, store, {
          footfallTolerancePct: opts.footfallTolerance,
          ...(opts.visitorsTolerance === undefined ? {} : { visitorsTolerancePct: opts.visitorsTolerance }),
          visitorMinDwellS: (s) => settings.storeOf(mall, s).visitorMinDwellS,
        });
        process.stdout.write(`${formatReport(report)}\n`);
        process.exitCode = report.ok ? 0 : 1;
      } finally {
        await store.close();
      }
    });

  sim
    .command('load')
    .description('drive many devices at a target message rate; report achieved rate and publish latency')
    .requiredOption('--devices <n>', 'devices to connect', number('--devices', 1))
    .requiredOption('--rate <r>', 'target messages per second, all devices together', number('--rate', 1))
    .option('--duration <d>', 'how long to publish, e.g. 30s, 5m', '30s')
    .option('--connect-rate <n>', 'new connections per second during ramp-up', number('--connect-rate', 1), loadDefaults.connectPerS)
    .option('--seed <n>', 'seed for the run id', number('--seed', 0), Date.now() % 1_000_000)
    .option('--json', 'print JSON')
    .action(async (opts: { devices: number; rate: number; duration: string; connectRate: number; seed: number; json?: boolean }) => {
      const ctx = createContext();
      const registry = openRegistry(ctx.config);
      try {
        const report = await runLoad(
          registry,
          {
            url: simBrokerUrl(ctx.config),
            devices: Math.floor(opts.devices),
            ratePerS: opts.rate,
            durationMs: parseDurationMs(opts.duration),
            connectPerS: opts.connectRate,
            mall: loadDefaults.mall,
            seed: opts.seed,
            inflightMax: loadDefaults.inflightMax,
          },
          ctx.logger.child({ component: 'sim-load' }),
        );
        process.stdout.write(opts.json === true ? `${JSON.stringify(report)}\n` : `${formatLoadReport(report)}\n`);
      } finally {
        registry.close();
      }
    });
}
