import type { Command } from 'commander';
import { migrateUp, migrationStatus } from '../db/migrator.js';
import { withContext } from './context.js';

export function register(program: Command): void {
  const migrate = program
    .command('migrate')
    .description('apply pending database migrations')
    .action(() =>
      withContext(
        async ({ sequelize }) => {
          const applied = await migrateUp(sequelize);
          console.log(
            applied.length ? applied.map((name) => `applied ${name}`).join('\n') : 'nothing to migrate: the schema is up to date',
          );
        },
        { allowPending: true },
      ),
    );
  migrate
    .command('status')
    .description('list migrations and whether each is applied')
    .action(() =>
      withContext(
        async ({ sequelize }) => {
          for (const m of await migrationStatus(sequelize)) console.log(`${m.applied ? 'applied' : 'pending'}  ${m.name}`);
        },
        { allowPending: true },
      ),
    );
}
