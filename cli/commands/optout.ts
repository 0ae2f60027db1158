import type { Command } from 'commander';
import { OptOuts } from '../../ingest/optouts.ts';
import { deriveLinkKey, linkHash } from '../../ingest/pseudonym.ts';
import { macSchema } from '../../protocol/mac.ts';
import { createContext } from '../context.ts';

/** `plaza optout add|remove --mac MAC`: exclude a shopper's device from anonymous counting. */
export function registerOptOutCommands(program: Command): void {
  const optout = program.command('optout').description('exclude a device from anonymous counting (a shopper asked not to be counted)');
  for (const action of ['add', 'remove'] as const) {
    optout
      .command(action)
      .description(action === 'add' ? 'stop counting a device' : 'count a device again')
      .requiredOption('--mac <mac>', "the device's Wi-Fi MAC address as shown in its settings")
      .action((opts: { mac: string }) => {
        const parsed = macSchema.safeParse(opts.mac);
        if (!parsed.success) throw new Error('--mac must be a MAC address such as 3c:22:fb:11:22:33');
        const { config } = createContext();
        const secret = config.ingest.hashSecret;
        if (secret === undefined) throw new Error('PLAZA_HASH_SECRET must be set (the same value ingest uses)');
        const optOuts = OptOuts.open(config.dataDir);
        try {
          // Only the keyed hash is stored; the MAC itself is neither stored nor printed back.
          const hash = linkHash(deriveLinkKey(secret), parsed.data);
          const changed = action === 'add' ? optOuts.add(hash) : optOuts.remove(hash);
          process.stdout.write(`${changed ? (action === 'add' ? 'opted out' : 'opt-out removed') : 'no change'} (applies to new readings within 10 s)\n`);
        } finally {
          optOuts.close();
        }
      });
  }
}
