import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { type OpsRole, opsRoles, sha256Hex } from '../../ops/auth.ts';
import { createContext } from '../context.ts';

/** `plaza tokens …`: role tokens for the ops API and the live page (viewer, marketer, admin). */
export function registerTokenCommands(program: Command): void {
  const tokens = program.command('tokens').description('bearer tokens with roles for the ops API and the live page');

  tokens
    .command('add')
    .description('create a token and print it once, with the config entry that enables it')
    .requiredOption('--role <role>', `role: ${opsRoles.join(' | ')}`)
    .option('--name <name>', 'a name for the token (who or what uses it), e.g. control-room-wall')
    .option('--json', 'print JSON')
    .action((opts: { role: string; name?: string; json?: boolean }) => {
      if (!opsRoles.includes(opts.role as OpsRole)) throw new Error(`--role must be one of ${opsRoles.join(', ')}`);
      const name = opts.name ?? `${opts.role}-${randomBytes(3).toString('hex')}`;
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error('--name must be 1-64 characters [A-Za-z0-9._-]');
      const token = randomBytes(32).toString('base64url');
      const entry = { name, role: opts.role as OpsRole, tokenSha256: sha256Hex(token) };
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify({ token, entry })}\n`);
        return;
      }
      process.stdout.write(
        [
          `token  ${token}`,
          `role   ${entry.role}`,
          '',
          'Add this entry under ops.tokens in the config file (PLAZA_CONFIG_FILE) and restart the ops server:',
          '',
          'ops:',
          '  tokens:',
          `    - { name: ${entry.name}, role: ${entry.role}, tokenSha256: ${entry.tokenSha256} }`,
          '',
          'The token is shown only this once; the config file holds only its SHA-256.',
          '',
        ].join('\n'),
      );
    });

  tokens
    .command('list')
    .description('list the role tokens the configuration accepts (names and roles, never tokens)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const { config } = createContext();
      const list = [
        ...(config.ops.token === undefined ? [] : [{ name: 'admin (PLAZA_OPS_TOKEN)', role: 'admin' as const }]),
        ...config.ops.tokens.map((t) => ({ name: t.name, role: t.role })),
      ];
      if (opts.json === true) {
        process.stdout.write(`${JSON.stringify(list)}\n`);
        return;
      }
      process.stdout.write(list.length === 0 ? 'no tokens: the ops API is disabled\n' : `${list.map((t) => `${t.name.padEnd(32)} ${t.role}`).join('\n')}\n`);
    });
}
