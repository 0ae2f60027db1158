import { Command } from 'commander';
import { registerCampaignCommands } from './commands/campaigns.ts';
import { registerDeviceCommands } from './commands/devices.ts';
import { registerOptOutCommands } from './commands/optout.ts';
import { registerPortalCommand } from './commands/portal.ts';
import { registerRunCommands } from './commands/run.ts';
import { registerSimCommands } from './commands/sim.ts';
import { registerTokenCommands } from './commands/tokens.ts';

const program = new Command('plaza').description('PlazaPulse: mall footfall analytics and guest Wi-Fi portal').showHelpAfterError();
registerRunCommands(program);
registerDeviceCommands(program);
registerPortalCommand(program);
registerSimCommands(program);
registerTokenCommands(program);
registerOptOutCommands(program);
registerCampaignCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`plaza: ${(error as Error).message}\n`);
  process.exit(1);
}
