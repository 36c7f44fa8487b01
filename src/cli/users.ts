import type { Command } from 'commander';
import { servicesFor, withContext } from './context.js';

export function register(program: Command): void {
  const users = program.command('users').description('manage users and memberships');
  users
    .command('create')
    .description('create a user (or add an existing one) in an organization; prints a new API key as the last line')
    .requiredOption('--org <slug>', 'organization slug or id')
    .requiredOption('--email <email>', "the user's email")
    .requiredOption('--role <role>', 'admin, developer or member')
    .option('--name <name>', 'display name')
    .option('--operator', 'also make the user an installation operator')
    .action((options: { org: string; email: string; role: string; name?: string; operator?: boolean }) =>
      withContext(async (context) => {
        const result = await servicesFor(context).accounts.addMember({
          organization: options.org,
          email: options.email,
          role: options.role,
          name: options.name,
          operator: options.operator,
        });
        console.log(
          `${result.created ? 'created user' : 'added existing user'} ${result.user.email} to ${result.organization.slug} as ${result.membership.role}` +
            (result.user.is_operator ? ' (operator)' : ''),
        );
        console.log(`API key ${result.apiKey.id}, shown once:`);
        console.log(result.apiKey.key);
      }),
    );
}
