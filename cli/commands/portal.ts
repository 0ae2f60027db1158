import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { ComponentRunner, stopOnSignals } from '../../core/component.ts';
import type { PortalServer } from '../../portal/server.ts';
import type { Assembly } from '../assemble.ts';
import { type CliContext, createContext } from '../context.ts';

/**
 * The portal component for this process. `plaza start` can call this with its assembly (the MQTT target then
 * comes from the in-process broker); `plaza portal` uses the configured external broker.
 */
export async function createPortalComponent(ctx: CliContext, assembly: Pick<Assembly, 'mqttFor' | 'hashSecret'>, options: { demo: boolean }): Promise<PortalServer> {
  const { config, logger } = ctx;
  let secret = config.portal.secret;
  let hashSecret = assembly.hashSecret ?? config.ingest.hashSecret;
  if (options.demo) {
    // Demo only: per-run keys in memory. Flow tokens and stored member phones do not survive a restart.
    secret ??= randomBytes(32).toString('base64url');
    hashSecret ??= randomBytes(32).toString('base64url');
  }
  if (secret === undefined) throw new Error('PLAZA_PORTAL_SECRET is required for the portal (at least 32 characters, kept stable)');
  if (hashSecret === undefined) throw new Error('PLAZA_HASH_SECRET is required for the portal (the same value as ingest)');
  let mqtt;
  try {
    mqtt = await assembly.mqttFor('portal');
  } catch (error) {
    // Without MQTT no login reaches ingest: acceptable for a demo of the pages only, never in production.
    if (!options.demo) throw error;
    logger.warn({ reason: (error as Error).message }, 'portal runs without MQTT: login events are not published');
  }
  const { PortalServer } = await import('../../portal/server.ts');
  return new PortalServer({ config, secret, hashSecret, mqtt, logger: logger.child({ component: 'portal' }) });
}

export function registerPortalCommand(program: Command): void {
  program
    .command('portal')
    .description('run the captive portal on PLAZA_PORTAL_PORT')
    .option('--demo', 'demo mode: ephemeral secrets where none are configured')
    .action(async (opts: { demo?: boolean }) => {
      const ctx = createContext();
      const runner = new ComponentRunner(ctx.logger);
      stopOnSignals(runner, ctx.logger, () => process.exit(0));
      const { assemble } = await import('../assemble.ts');
      const assembly = await assemble(ctx, { broker: false, ingest: false, ops: false, demo: opts.demo === true });
      const portal = await createPortalComponent(ctx, assembly, { demo: opts.demo === true });
      await runner.start([...assembly.components, portal]);
    });
}
