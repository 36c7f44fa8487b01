import {
  DataTypes,
  QueryTypes,
  type ModelAttributeColumnOptions,
  type QueryInterface,
  type Sequelize,
  type Transaction,
} from 'sequelize';
import type { Migration } from './types.js';

/*
 * The PolicySynth agent-registry tables, exactly as sync() makes them from the published
 * @policysynth/agents@1.3.172 models with their associations (test/fixtures/policysynth/expected-ddl.json),
 * less the user_id foreign keys: Patchbay has no `users` table. Index and constraint names are the ones
 * sync() picks, so a PolicySynth process that syncs later finds every index present and adds none.
 */

interface TableDefinition {
  name: string;
  columns: Record<string, ModelAttributeColumnOptions>;
  /** The (registry, class) pair that belongsToMany makes unique: a table constraint, as sync() creates it. */
  uniquePair?: [string, string];
  indexes: { name: string; fields: string[]; unique?: boolean }[];
}

function definitions(sequelize: Sequelize): TableDefinition[] {
  const json = sequelize.getDialect() === 'postgres' ? DataTypes.JSONB : DataTypes.JSON;
  // Factories, not shared objects: Sequelize may write into a column definition it is given.
  const id = () => ({ type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true, allowNull: false });
  const uuid = () => ({ type: DataTypes.UUID, allowNull: false });
  const userId = () => ({ type: DataTypes.INTEGER, allowNull: false });
  const timestamps = () => ({
    created_at: { type: DataTypes.DATE, allowNull: false },
    updated_at: { type: DataTypes.DATE, allowNull: false },
  });
  const classColumns = () => ({
    id: id(),
    uuid: uuid(),
    class_base_id: uuid(),
    user_id: userId(),
    ...timestamps(),
    name: { type: DataTypes.STRING(255), allowNull: false },
    version: { type: DataTypes.INTEGER, allowNull: false },
    configuration: { type: json, allowNull: false },
    available: { type: DataTypes.BOOLEAN, allowNull: false },
  });
  const references = (table: string) => ({
    type: DataTypes.INTEGER,
    allowNull: false,
    references: { model: table, key: 'id' },
    onDelete: 'CASCADE',
    onUpdate: 'CASCADE',
  });
  const classIndexes = (table: string) => [
    { name: `${table}_uuid`, fields: ['uuid'], unique: true },
    { name: `${table}_class_base_id`, fields: ['class_base_id'] },
    { name: `${table}_class_base_id_version`, fields: ['class_base_id', 'version'] },
    { name: `${table}_user_id`, fields: ['user_id'] },
  ];

  return [
    {
      name: 'ps_agent_registries',
      columns: { id: id(), uuid: uuid(), user_id: userId(), ...timestamps(), configuration: { type: json, allowNull: false } },
      indexes: [
        { name: 'ps_agent_registries_uuid', fields: ['uuid'], unique: true },
        { name: 'ps_agent_registries_user_id', fields: ['user_id'] },
      ],
    },
    { name: 'ps_agent_classes', columns: classColumns(), indexes: classIndexes('ps_agent_classes') },
    {
      name: 'ps_agent_connector_classes',
      // The published model marks uuid unique on the column as well as in an index: two unique indexes.
      columns: { ...classColumns(), uuid: { ...uuid(), unique: true } },
      indexes: [
        ...classIndexes('ps_agent_connector_classes'),
        { name: 'ps_agent_connector_classes_name', fields: ['name'] },
        { name: 'ps_agent_connector_classes_version', fields: ['version'] },
      ],
    },
    {
      name: 'AgentRegistryAgents',
      columns: {
        id: id(),
        ps_agent_registry_id: references('ps_agent_registries'),
        ps_agent_class_id: references('ps_agent_classes'),
        ...timestamps(),
      },
      uniquePair: ['ps_agent_registry_id', 'ps_agent_class_id'],
      // underscored: true makes sync() name these after agent_registry_agents, not the table's own spelling.
      indexes: [
        { name: 'agent_registry_agents_ps_agent_registry_id', fields: ['ps_agent_registry_id'] },
        { name: 'agent_registry_agents_ps_agent_class_id', fields: ['ps_agent_class_id'] },
      ],
    },
    {
      name: 'AgentRegistryConnectors',
      columns: {
        id: id(),
        ps_agent_registry_id: references('ps_agent_registries'),
        ps_agent_connector_class_id: references('ps_agent_connector_classes'),
        ...timestamps(),
      },
      uniquePair: ['ps_agent_registry_id', 'ps_agent_connector_class_id'],
      indexes: [
        { name: 'agent_registry_connectors_ps_agent_registry_id', fields: ['ps_agent_registry_id'] },
        { name: 'agent_registry_connectors_ps_agent_connector_class_id', fields: ['ps_agent_connector_class_id'] },
      ],
    },
  ];
}

/** On PostgreSQL, where CREATE TABLE would put the table: the first schema of the search path, not always public. */
async function tableExists(q: QueryInterface, sequelize: Sequelize, table: string, transaction: Transaction): Promise<boolean> {
  if (sequelize.getDialect() !== 'postgres') return q.tableExists(table, { transaction });
  const [row] = await sequelize.query<{ found: boolean }>('SELECT to_regclass(:name) IS NOT NULL AS found', {
    replacements: { name: q.quoteIdentifier(table) },
    type: QueryTypes.SELECT,
    transaction,
  });
  return row?.found === true;
}

/**
 * Creates the five registry tables that do not exist yet. A table a PolicySynth deployment already made is
 * adopted exactly as it is: no column, index or constraint is added, since one could reject PolicySynth's writes.
 * One transaction, so a failure part-way leaves nothing that a rerun would mistake for an adopted table.
 * No down: Patchbay never drops tables it shares.
 */
export const migration: Migration = {
  name: '0002-policysynth-registry',
  async up({ queryInterface: q, sequelize }) {
    await sequelize.transaction(async (transaction) => {
      for (const table of definitions(sequelize)) {
        if (await tableExists(q, sequelize, table.name, transaction)) continue;
        const uniqueKeys = table.uniquePair && { [`${table.name}_pair`]: { fields: table.uniquePair } };
        await q.createTable(table.name, table.columns, { transaction, ...(uniqueKeys && { uniqueKeys }) });
        for (const index of table.indexes) {
          await q.addIndex(table.name, { ...index, unique: index.unique ?? false, transaction });
        }
      }
    });
  },
};
