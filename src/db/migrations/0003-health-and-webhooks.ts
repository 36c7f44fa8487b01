import { DataTypes } from 'sequelize';
import type { Migration } from './types.js';

const timestamps = {
  created_at: { type: DataTypes.DATE, allowNull: false },
  updated_at: { type: DataTypes.DATE, allowNull: false },
};

/**
 * The health scheduler's columns on pb_connectors, and the organisation webhooks with their deliveries
 * (DESIGN.md section 9).
 */
export const migration: Migration = {
  name: '0003-health-and-webhooks',
  async up({ queryInterface: q, sequelize }) {
    const json = sequelize.getDialect() === 'postgres' ? DataTypes.JSONB : DataTypes.JSON;

    // The due time every scheduler claims on (FOR UPDATE SKIP LOCKED on PostgreSQL). NULL means "not scheduled":
    // disabled, interval 0, or not yet given its first, spread-out due time (the scheduler assigns one).
    await q.addColumn('pb_connectors', 'next_check_at', { type: DataTypes.DATE, allowNull: true });
    // Consecutive results of the same kind, so that scheduled checks move healthy <-> failing only after
    // PATCHBAY_HEALTH_FAILURE_THRESHOLD of them; one of the two is always 0.
    await q.addColumn('pb_connectors', 'consecutive_successes', { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 });
    await q.addColumn('pb_connectors', 'consecutive_failures', { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 });
    await q.addIndex('pb_connectors', ['next_check_at'], { name: 'pb_connectors_next_check' });

    await q.createTable('pb_webhooks', {
      id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
      organization_id: {
        type: DataTypes.STRING(64),
        allowNull: false,
        references: { model: 'pb_organizations', key: 'id' },
        onDelete: 'CASCADE',
      },
      url: { type: DataTypes.STRING(2048), allowNull: false },
      events: { type: json, allowNull: false },
      description: { type: DataTypes.TEXT, allowNull: true },
      // The signing secret, one Fernet token bound to {organization_id, webhook_id}, like a connector config.
      secret_encrypted: { type: DataTypes.TEXT, allowNull: false },
      key_id: { type: DataTypes.STRING(8), allowNull: false },
      // Optimistic locking, and what `patchbay reencrypt` checks before it writes a row.
      version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
      // Deliveries that ended failed, in a row; at the limit the webhook is disabled (disabled_reason 'failing').
      consecutive_failures: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      disabled_reason: { type: DataTypes.STRING(32), allowNull: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      ...timestamps,
    });
    await q.addIndex('pb_webhooks', ['organization_id', 'created_at', 'id'], { name: 'pb_webhooks_org_page' });
    await q.addIndex('pb_webhooks', ['key_id'], { name: 'pb_webhooks_key_id' });

    // One row per event and webhook: the body exactly as signed and sent, and where its attempts stand.
    await q.createTable('pb_webhook_deliveries', {
      id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
      webhook_id: {
        type: DataTypes.STRING(64),
        allowNull: false,
        references: { model: 'pb_webhooks', key: 'id' },
        onDelete: 'CASCADE',
      },
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      event_id: { type: DataTypes.STRING(64), allowNull: false },
      event: { type: DataTypes.STRING(64), allowNull: false },
      payload: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
      attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      next_attempt_at: { type: DataTypes.DATE, allowNull: true },
      last_attempt_at: { type: DataTypes.DATE, allowNull: true },
      last_status_code: { type: DataTypes.INTEGER, allowNull: true },
      last_error: { type: DataTypes.TEXT, allowNull: true },
      ...timestamps,
    });
    await q.addIndex('pb_webhook_deliveries', ['status', 'next_attempt_at'], { name: 'pb_deliveries_due' });
    await q.addIndex('pb_webhook_deliveries', ['webhook_id', 'created_at', 'id'], { name: 'pb_deliveries_webhook_page' });
    await q.addIndex('pb_webhook_deliveries', ['created_at'], { name: 'pb_deliveries_time' });
  },

  async down({ queryInterface: q, sequelize }) {
    await q.dropTable('pb_webhook_deliveries');
    await q.dropTable('pb_webhooks');
    await q.removeIndex('pb_connectors', 'pb_connectors_next_check');
    // Plain DROP COLUMN (SQLite has it since 3.35): Sequelize's removeColumn rebuilds a SQLite table and loses
    // its other indexes, the unique (organization, name) among them.
    for (const column of ['consecutive_failures', 'consecutive_successes', 'next_check_at']) {
      await sequelize.query(`ALTER TABLE pb_connectors DROP COLUMN ${column}`);
    }
  },
};
