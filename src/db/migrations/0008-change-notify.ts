import type { Migration } from './types.js';

/**
 * What every run-time cache keeps (credentials, memberships, attachments and their connectors) announces its
 * changes on PostgreSQL: a row trigger sends `NOTIFY patchbay_changes, '<table>:<id>[:<id>]'` inside the very
 * transaction that changes the row, so every other process hears of it once, and only once, it commits; a change
 * that rolls back is never heard. Whoever writes (a route, the CLI, reencrypt, plain SQL) is covered.
 * Updates that change nothing a cache keeps (last_used_at, health columns) notify nobody. SQLite has no
 * NOTIFY: processes there watch `PRAGMA data_version` (services/runtime/change-feed.ts).
 */
const CHANNEL = 'patchbay_changes';

/** Each table: the columns its notice carries (the row's own id first), and when an UPDATE is worth a notice. */
const tables: { table: string; columns: string[]; updateWhen?: string[] }[] = [
  { table: 'pb_api_keys', columns: ['id'], updateWhen: ['revoked_at', 'expires_at', 'user_id', 'key_hash'] },
  { table: 'pb_agent_tokens', columns: ['id'], updateWhen: ['revoked_at', 'expires_at', 'agent_id', 'token_hash'] },
  { table: 'pb_users', columns: ['id'] },
  { table: 'pb_memberships', columns: ['user_id'] },
  { table: 'pb_organizations', columns: ['id'] },
  { table: 'pb_agents', columns: ['id'] },
  { table: 'pb_connector_instances', columns: ['id', 'agent_id'] },
  {
    table: 'pb_connectors',
    columns: ['id'],
    updateWhen: ['enabled', 'config_encrypted', 'key_id', 'status', 'name', 'provider', 'connector_type', 'organization_id'],
  },
];

export const migration: Migration = {
  name: '0008-change-notify',
  async up({ sequelize }) {
    if (sequelize.getDialect() !== 'postgres') return;
    await sequelize.query(`
      CREATE OR REPLACE FUNCTION pb_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        item jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
        payload text := TG_TABLE_NAME;
        i int;
      BEGIN
        FOR i IN 0 .. TG_NARGS - 1 LOOP
          payload := payload || ':' || coalesce(item ->> TG_ARGV[i], '');
        END LOOP;
        PERFORM pg_notify('${CHANNEL}', payload);
        RETURN NULL;
      END
      $$`);
    for (const { table, columns, updateWhen } of tables) {
      const args = columns.map((column) => `'${column}'`).join(', ');
      if (!updateWhen) {
        await sequelize.query(
          `CREATE TRIGGER ${table}_notify AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION pb_notify_change(${args})`,
        );
        continue;
      }
      const changed = updateWhen.map((column) => `OLD.${column} IS DISTINCT FROM NEW.${column}`).join(' OR ');
      await sequelize.query(
        `CREATE TRIGGER ${table}_notify AFTER INSERT OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION pb_notify_change(${args})`,
      );
      await sequelize.query(
        `CREATE TRIGGER ${table}_notify_update AFTER UPDATE ON ${table} FOR EACH ROW WHEN (${changed}) EXECUTE FUNCTION pb_notify_change(${args})`,
      );
    }
  },

  async down({ sequelize }) {
    if (sequelize.getDialect() !== 'postgres') return;
    for (const { table } of tables) {
      await sequelize.query(`DROP TRIGGER IF EXISTS ${table}_notify ON ${table}`);
      await sequelize.query(`DROP TRIGGER IF EXISTS ${table}_notify_update ON ${table}`);
    }
    await sequelize.query('DROP FUNCTION IF EXISTS pb_notify_change()');
  },
};

export const CHANGE_CHANNEL = CHANNEL;
