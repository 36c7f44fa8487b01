import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OptimisticLockError, QueryTypes, type Transaction } from 'sequelize';
import { migrateUp, migrationStatus } from '../../src/db/migrator.js';
import { migrations } from '../../src/db/migrations/index.js';
import { initModels } from '../../src/db/models/index.js';
import { createSequelize } from '../../src/db/sequelize.js';
import { createTestDatabase, dialects, migratedDatabase } from '../support/db.js';
import { requireServer } from '../support/servers.js';
import { connectorRow } from '../support/rows.js';

const patchbayTables = [
  'pb_organizations',
  'pb_users',
  'pb_memberships',
  'pb_api_keys',
  'pb_agents',
  'pb_agent_tokens',
  'pb_connectors',
  'pb_connector_instances',
  'pb_connector_health_checks',
  'pb_audit_events',
  'pb_invitations',
  'pb_console_sessions',
];

for (const dialect of dialects) {
  describe(`migrations on ${dialect}`, () => {
    it('build every table from empty, record themselves, and find nothing pending the second time', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const tables = (await db.sequelize.getQueryInterface().showAllTables()).map((x) => (typeof x === 'string' ? x : (x as { tableName: string }).tableName));
      for (const table of [...patchbayTables, 'ps_agent_registries', 'ps_agent_classes', 'ps_agent_connector_classes', 'AgentRegistryAgents', 'AgentRegistryConnectors', 'pb_migrations']) {
        assert.ok(tables.includes(table), `${table} exists`);
      }
      assert.ok(!tables.includes('SequelizeMeta'), "a host application's SequelizeMeta is never created");
      assert.deepEqual(await migrateUp(db.sequelize), []);
      assert.deepEqual(
        (await migrationStatus(db.sequelize)).map((m) => m.applied),
        migrations.map(() => true),
      );
    });

    it('uses optimistic locking on connectors', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const models = initModels(db.sequelize);
      const org = await models.Organization.create({ slug: 'o', name: 'o' });
      const created = await connectorRow(models, org.id);
      const a = await models.Connector.findByPk(created.id);
      const b = await models.Connector.findByPk(created.id);
      assert.ok(a && b);
      await a.update({ name: 'first' });
      assert.equal(a.version, 2);
      await assert.rejects(b.update({ name: 'second' }), OptimisticLockError);
    });

    it('cascades an organisation delete to its rows', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const models = initModels(db.sequelize);
      const org = await models.Organization.create({ slug: 'gone', name: 'gone' });
      const user = await models.User.create({ email: 'u@example.test', name: null });
      await models.Membership.create({ user_id: user.id, organization_id: org.id, role: 'admin' });
      await org.destroy();
      assert.equal(await models.Membership.count(), 0);
    });
  });
}

describe('migrations on PostgreSQL under concurrency', () => {
  it('take turns under the advisory lock when several processes start together', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const db = await createTestDatabase('postgres');
    const instances = [1, 2, 3].map(() => createSequelize(db.settings));
    t.after(async () => {
      await Promise.all(instances.map((s) => s.close()));
      await db.drop();
    });
    const results = await Promise.all(instances.map((s) => migrateUp(s)));
    const applied = results.flat();
    assert.deepEqual(applied.sort(), migrations.map((m) => m.name).sort(), 'each migration applied exactly once');
  });
});

describe('SQLite connection settings', () => {
  it('applies WAL, busy_timeout and foreign keys to every handle, transactions included', async (t) => {
    const db = await migratedDatabase(t, 'sqlite');
    if (!db) return;
    const pragma = async (name: string, transaction?: Transaction) =>
      Object.values(((await db.sequelize.query(`PRAGMA ${name}`, { type: QueryTypes.SELECT, transaction })) as Record<string, unknown>[])[0] ?? {})[0];
    assert.equal(await pragma('journal_mode'), 'wal');
    await db.sequelize.transaction(async (transaction) => {
      assert.equal(await pragma('busy_timeout', transaction), 5000);
      assert.equal(await pragma('foreign_keys', transaction), 1);
    });
  });
});
