import { DataTypes } from 'sequelize';
import type { Migration } from './types.js';

/** The tables whose rows a provisioning file may own (docs/provisioning.md). */
const tables = ['pb_connectors', 'pb_connector_instances', 'pb_agents', 'pb_webhooks'] as const;

/**
 * `managed_by`: "file" on a row that `patchbay apply` created or changed, null otherwise. The API refuses to
 * change or delete a managed row (409 conflict) unless the request opts in, so hand edits do not silently drift
 * from the file that will overwrite them.
 */
export const migration: Migration = {
  name: '0007-managed-by',
  async up({ queryInterface: q }) {
    for (const table of tables) await q.addColumn(table, 'managed_by', { type: DataTypes.STRING(16), allowNull: true, defaultValue: null });
  },

  async down({ queryInterface: q }) {
    for (const table of tables) await q.removeColumn(table, 'managed_by');
  },
};
