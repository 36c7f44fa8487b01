import type { Command } from 'commander';
import { servicesFor, withContext } from './context.js';

export function register(program: Command): void {
  const orgs = program.command('orgs').description('manage organizations');
  orgs
    .command('create <slug>')
    .description('create an organization')
    .option('--name <name>', 'display name (default: the slug)')
    .action((slug: string, options: { name?: string }) =>
      withContext(async (context) => {
        const org = await servicesFor(context).accounts.createOrganization({ slug, name: options.name });
        console.log(`created organization ${org.slug} (${org.id})`);
      }),
    );
  orgs
    .command('list')
    .description('list organizations')
    .action(() =>
      withContext(async (context) => {
        for (const org of await servicesFor(context).accounts.listOrganizations()) {
          console.log(`${org.slug}\t${org.id}\t${org.name}`);
        }
      }),
    );
}
