import { DataTypes } from 'sequelize';
import type { Migration } from './types.js';

/**
 * `rate_per_minute` of an attachment, counted in the database so that several processes agree (DESIGN.md
 * section 7): one row per attachment and minute window, incremented atomically with
 * INSERT … ON CONFLICT … DO UPDATE … RETURNING (PostgreSQL, and SQLite from 3.35).
 */
export const migration: Migration = {
  name: '0004-rate-counters',
  async up({ queryInterface: q }) {
    await q.createTable('pb_rate_counters', {
      instance_id: {
        type: DataTypes.STRING(64),
        primaryKey: true,
        allowNull: false,
        references: { model: 'pb_connector_instances', key: 'id' },
        onDelete: 'CASCADE',
      },
      // Start of the minute window, in milliseconds since the epoch.
      window_start: { type: DataTypes.BIGINT, primaryKey: true, allowNull: false },
      count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    });
    // Pruning deletes every window older than the previous one.
    await q.addIndex('pb_rate_counters', ['window_start'], { name: 'pb_rate_counters_window' });
  },

  async down({ queryInterface: q }) {
    await q.dropTable('pb_rate_counters');
  },
};
