import { DataTypes } from 'sequelize';
import type { Migration } from './types.js';

const id = { type: DataTypes.STRING(64), primaryKey: true, allowNull: false };
const timestamps = {
  created_at: { type: DataTypes.DATE, allowNull: false },
  updated_at: { type: DataTypes.DATE, allowNull: false },
};
const fk = (table: string, onDelete: 'CASCADE' | 'SET NULL' = 'CASCADE', allowNull = false) => ({
  type: DataTypes.STRING(64),
  allowNull,
  references: { model: table, key: 'id' },
  onDelete,
});

/** Patchbay's own tables, all prefixed pb_ so they never clash with a host application's. */
export const migration: Migration = {
  name: '0001-patchbay-core',
  async up({ queryInterface: q, sequelize }) {
    const json = sequelize.getDialect() === 'postgres' ? DataTypes.JSONB : DataTypes.JSON;

    await q.createTable('pb_organizations', {
      id,
      slug: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      name: { type: DataTypes.STRING(200), allowNull: false },
      ...timestamps,
    });

    await q.createTable('pb_users', {
      id,
      email: { type: DataTypes.STRING(320), allowNull: false, unique: true },
      name: { type: DataTypes.STRING(200), allowNull: true },
      is_operator: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      ...timestamps,
    });

    await q.createTable('pb_memberships', {
      id,
      user_id: fk('pb_users'),
      organization_id: fk('pb_organizations'),
      role: { type: DataTypes.STRING(16), allowNull: false },
      ...timestamps,
    });
    await q.addIndex('pb_memberships', ['user_id', 'organization_id'], { unique: true, name: 'pb_memberships_user_org' });
    await q.addIndex('pb_memberships', ['organization_id'], { name: 'pb_memberships_org' });

    await q.createTable('pb_api_keys', {
      id,
      user_id: fk('pb_users'),
      name: { type: DataTypes.STRING(200), allowNull: true },
      prefix: { type: DataTypes.STRING(32), allowNull: false },
      key_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      last_used_at: { type: DataTypes.DATE, allowNull: true },
      expires_at: { type: DataTypes.DATE, allowNull: true },
      revoked_at: { type: DataTypes.DATE, allowNull: true },
      ...timestamps,
    });
    await q.addIndex('pb_api_keys', ['user_id'], { name: 'pb_api_keys_user' });

    await q.createTable('pb_agents', {
      id,
      organization_id: fk('pb_organizations'),
      agent_id: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: true },
      description: { type: DataTypes.TEXT, allowNull: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      ...timestamps,
    });
    await q.addIndex('pb_agents', ['organization_id', 'agent_id'], { unique: true, name: 'pb_agents_org_agent_id' });

    await q.createTable('pb_agent_tokens', {
      id,
      agent_id: fk('pb_agents'),
      organization_id: fk('pb_organizations'),
      name: { type: DataTypes.STRING(200), allowNull: true },
      prefix: { type: DataTypes.STRING(32), allowNull: false },
      token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      last_used_at: { type: DataTypes.DATE, allowNull: true },
      expires_at: { type: DataTypes.DATE, allowNull: true },
      revoked_at: { type: DataTypes.DATE, allowNull: true },
      ...timestamps,
    });
    await q.addIndex('pb_agent_tokens', ['agent_id'], { name: 'pb_agent_tokens_agent' });

    // The reference Connector model column for column, plus key_id, version (optimistic locking),
    // enabled, description and the health-check interval.
    await q.createTable('pb_connectors', {
      id,
      organization_id: fk('pb_organizations'),
      name: { type: DataTypes.STRING(200), allowNull: false },
      connector_type: { type: DataTypes.STRING(32), allowNull: false },
      provider: { type: DataTypes.STRING(32), allowNull: false },
      config_encrypted: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'untested' },
      last_tested_at: { type: DataTypes.DATE, allowNull: true },
      last_test_result: { type: DataTypes.STRING(16), allowNull: true },
      last_error: { type: DataTypes.TEXT, allowNull: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      ...timestamps,
      key_id: { type: DataTypes.STRING(8), allowNull: false },
      version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
      description: { type: DataTypes.TEXT, allowNull: true },
      health_check_interval_s: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 300 },
    });
    await q.addIndex('pb_connectors', ['organization_id', 'name'], { unique: true, name: 'pb_connectors_org_name' });
    // Cursor pagination walks (organization_id, created_at, id); the filters narrow the same walk.
    await q.addIndex('pb_connectors', ['organization_id', 'created_at', 'id'], { name: 'pb_connectors_org_page' });
    await q.addIndex('pb_connectors', ['organization_id', 'connector_type', 'created_at', 'id'], { name: 'pb_connectors_org_type_page' });
    await q.addIndex('pb_connectors', ['organization_id', 'provider', 'created_at', 'id'], { name: 'pb_connectors_org_provider_page' });
    await q.addIndex('pb_connectors', ['organization_id', 'status', 'created_at', 'id'], { name: 'pb_connectors_org_status_page' });
    await q.addIndex('pb_connectors', ['key_id'], { name: 'pb_connectors_key_id' });

    // The reference ConnectorInstance model plus mode, limits and bound_params.
    await q.createTable('pb_connector_instances', {
      id,
      connector_id: fk('pb_connectors'),
      agent_id: fk('pb_agents'),
      alias: { type: DataTypes.STRING(40), allowNull: false },
      config_override: { type: DataTypes.TEXT, allowNull: true },
      created_at: { type: DataTypes.DATE, allowNull: false },
      updated_at: { type: DataTypes.DATE, allowNull: false },
      mode: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'read' },
      limits: { type: json, allowNull: true },
      bound_params: { type: json, allowNull: true },
    });
    await q.addIndex('pb_connector_instances', ['agent_id', 'alias'], { unique: true, name: 'pb_instances_agent_alias' });
    await q.addIndex('pb_connector_instances', ['connector_id'], { name: 'pb_instances_connector' });

    await q.createTable('pb_connector_health_checks', {
      id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
      connector_id: fk('pb_connectors'),
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      checked_at: { type: DataTypes.DATE, allowNull: false },
      success: { type: DataTypes.BOOLEAN, allowNull: false },
      latency_ms: { type: DataTypes.INTEGER, allowNull: false },
      error_code: { type: DataTypes.STRING(32), allowNull: true },
      message: { type: DataTypes.TEXT, allowNull: true },
      source: { type: DataTypes.STRING(16), allowNull: false },
    });
    await q.addIndex('pb_connector_health_checks', ['connector_id', 'checked_at'], { name: 'pb_health_connector_time' });
    await q.addIndex('pb_connector_health_checks', ['checked_at'], { name: 'pb_health_time' });

    await q.createTable('pb_audit_events', {
      id,
      organization_id: { type: DataTypes.STRING(64), allowNull: true },
      actor_type: { type: DataTypes.STRING(16), allowNull: false },
      actor_id: { type: DataTypes.STRING(64), allowNull: true },
      action: { type: DataTypes.STRING(64), allowNull: false },
      target_type: { type: DataTypes.STRING(32), allowNull: true },
      target_id: { type: DataTypes.STRING(128), allowNull: true },
      outcome: { type: DataTypes.STRING(16), allowNull: false },
      detail: { type: json, allowNull: true },
      request_id: { type: DataTypes.STRING(64), allowNull: true },
      created_at: { type: DataTypes.DATE, allowNull: false },
    });
    await q.addIndex('pb_audit_events', ['organization_id', 'created_at'], { name: 'pb_audit_org_time' });
    await q.addIndex('pb_audit_events', ['created_at'], { name: 'pb_audit_time' });
  },

  async down({ queryInterface: q }) {
    for (const table of [
      'pb_audit_events',
      'pb_connector_health_checks',
      'pb_connector_instances',
      'pb_connectors',
      'pb_agent_tokens',
      'pb_agents',
      'pb_api_keys',
      'pb_memberships',
      'pb_users',
      'pb_organizations',
    ]) {
      await q.dropTable(table);
    }
  },
};
