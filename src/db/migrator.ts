import { DataTypes, type Sequelize, type Transaction } from 'sequelize';
import { SequelizeStorage, Umzug } from 'umzug';
import { migrations } from './migrations/index.js';
import type { MigrationContext } from './migrations/types.js';

/** Patchbay's own ledger table: a host application's SequelizeMeta stays untouched. */
export const MIGRATIONS_TABLE = 'pb_migrations';

/** Any constant works, as long as every Patchbay process uses the same one. */
const ADVISORY_LOCK_KEY = 0x5042_6d67; // "PBmg"

function build(sequelize: Sequelize) {
  const context: MigrationContext = { queryInterface: sequelize.getQueryInterface(), sequelize };
  return new Umzug<MigrationContext>({
    migrations: migrations.map((m) => ({
      name: m.name,
      up: ({ context: c }) => m.up(c),
      down: async ({ context: c }) => {
        if (!m.down) throw new Error(`${m.name} cannot be reverted: it adopts tables Patchbay does not own`);
        await m.down(c);
      },
    })),
    context,
    storage: new SequelizeStorage({
      sequelize,
      tableName: MIGRATIONS_TABLE,
      // Sequelize's default column name is shared with the host's SequelizeMeta convention; keep it.
      columnName: 'name',
      columnType: new DataTypes.STRING(200),
    }),
    logger: undefined,
  });
}

/**
 * Applies pending migrations. On PostgreSQL, a transaction-scoped advisory lock makes several processes
 * starting together take turns: the second finds nothing pending.
 */
export async function migrateUp(sequelize: Sequelize): Promise<string[]> {
  const umzug = build(sequelize);
  if (sequelize.getDialect() !== 'postgres') return (await umzug.up()).map((m) => m.name);
  return sequelize.transaction(async (transaction) => {
    await takeMigrationLock(sequelize, transaction);
    return (await umzug.up()).map((m) => m.name);
  });
}

/**
 * Holds the migration lock until `transaction` ends (PostgreSQL; SQLite's write lock already serialises). Start-up
 * provisioning takes it too, so processes starting together apply a provisioning file one after the other.
 */
export async function takeMigrationLock(sequelize: Sequelize, transaction: Transaction): Promise<void> {
  if (sequelize.getDialect() !== 'postgres') return;
  await sequelize.query('SELECT pg_advisory_xact_lock(:key)', { replacements: { key: ADVISORY_LOCK_KEY }, transaction });
}

export async function migrateDown(sequelize: Sequelize, options: { to?: string | 0 } = {}): Promise<string[]> {
  const umzug = build(sequelize);
  return (await umzug.down(options.to === undefined ? undefined : { to: options.to })).map((m) => m.name);
}

export async function migrationStatus(sequelize: Sequelize): Promise<{ name: string; applied: boolean }[]> {
  const umzug = build(sequelize);
  const executed = new Set((await umzug.executed()).map((m) => m.name));
  return migrations.map((m) => ({ name: m.name, applied: executed.has(m.name) }));
}
