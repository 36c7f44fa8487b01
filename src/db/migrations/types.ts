import type { QueryInterface, Sequelize } from 'sequelize';

export interface MigrationContext {
  queryInterface: QueryInterface;
  sequelize: Sequelize;
}

export interface Migration {
  name: string;
  up(context: MigrationContext): Promise<void>;
  /** Only for Patchbay's own tables: PolicySynth's are never dropped. */
  down?(context: MigrationContext): Promise<void>;
}
