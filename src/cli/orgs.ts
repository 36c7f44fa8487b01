import type { Command } from 'commander';
import { AccountService } from '../services/account-service.js';
import { withContext } from './context.js';

export function register(program: Command): void {
  const orgs = program.command('orgs').description('manage organizations');
  orgs
    .command('create <slug>')
    .description('create an organization')
    .option('--name <name>', 'display name (default: the slug)')
    .action((slug: string, options: { name?: string }) =>
      withContext(async (context) => {
        const org = await new AccountService(context.models, context.sequelize).createOrganization({ slug, name: options.name });
        console.log(`created organization ${org.slug} (${org.id})`);
      }),
    );
  orgs
    .command('list')
    .description('list organizations')
    .action(() =>
      withContext(async (context) => {
        for (const org of await new AccountService(context.models, context.sequelize).listOrganizations()) {
          console.log(`${org.slug}\t${org.id}\t${org.name}`);
        }
      }),
    );
}
