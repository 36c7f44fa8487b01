import { DataTypes } from 'sequelize';
import type { Migration } from './types.js';

/**
 * Web console sessions: a browser trades an API key once for an HttpOnly cookie (POST /api/v1/sessions). The row
 * keeps only the SHA-256 of the cookie's random value; the API key it came from is referenced so that revoking
 * the key ends its sessions (authentication checks the key on every request).
 */
export const migration: Migration = {
  name: '0006-console-sessions',
  async up({ queryInterface: q }) {
    await q.createTable('pb_console_sessions', {
      id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
      token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      user_id: {
        type: DataTypes.STRING(64),
        allowNull: false,
        references: { model: 'pb_users', key: 'id' },
        onDelete: 'CASCADE',
      },
      api_key_id: {
        type: DataTypes.STRING(64),
        allowNull: false,
        references: { model: 'pb_api_keys', key: 'id' },
        onDelete: 'CASCADE',
      },
      idle_expires_at: { type: DataTypes.DATE, allowNull: false },
      absolute_expires_at: { type: DataTypes.DATE, allowNull: false },
      created_at: { type: DataTypes.DATE, allowNull: false },
      updated_at: { type: DataTypes.DATE, allowNull: false },
    });
    await q.addIndex('pb_console_sessions', ['api_key_id'], { name: 'pb_console_sessions_api_key' });
    await q.addIndex('pb_console_sessions', ['absolute_expires_at'], { name: 'pb_console_sessions_expiry' });
  },

  async down({ queryInterface: q }) {
    await q.dropTable('pb_console_sessions');
  },
};
