import type { Command } from 'commander';
import type { ActorContext } from '../services/context.js';
import { servicesFor, withContext } from './context.js';

/**
 * A key made or revoked at the command line is an installation event (no organisation): operators list them at
 * GET /api/v1/installation/audit-events. The actor is the installation itself; the user is in the detail.
 */
const COMMAND_LINE: ActorContext = { actor: { type: 'system', id: null }, via: 'cli' };

export function register(program: Command): void {
  const keys = program.command('api-keys').description("manage a user's API keys");
  keys
    .command('create')
    .description('issue a new API key for a user; prints it as the last line')
    .requiredOption('--email <email>', "the user's email")
    .option('--name <name>', 'a label for the key')
    .action((options: { email: string; name?: string }) =>
      withContext(async (context) => {
        const { accounts } = servicesFor(context);
        const user = await accounts.requireUserByEmail(options.email);
        const key = await accounts.issueApiKey(COMMAND_LINE, user.id, { name: options.name ?? null });
        console.log(`API key ${key.id} for ${user.email}, shown once:`);
        console.log(key.key);
      }),
    );
  keys
    .command('list')
    .description("list a user's API keys (never the keys themselves)")
    .requiredOption('--email <email>', "the user's email")
    .action((options: { email: string }) =>
      withContext(async (context) => {
        const { accounts } = servicesFor(context);
        const user = await accounts.requireUserByEmail(options.email);
        for (const key of await accounts.listApiKeys(user.id)) {
          const state = key.revoked_at
            ? 'revoked'
            : key.expires_at && new Date(key.expires_at) <= new Date()
              ? 'expired'
              : 'active';
          console.log(`${key.id}\t${key.prefix}…\t${state}\tlast used ${key.last_used_at ?? 'never'}\t${key.name ?? ''}`);
        }
      }),
    );
  keys
    .command('revoke <keyId>')
    .description('revoke an API key by its id')
    .action((keyId: string) =>
      withContext(async (context) => {
        await servicesFor(context).accounts.revokeApiKey(COMMAND_LINE, keyId);
        console.log(`revoked API key ${keyId}`);
      }),
    );
}
