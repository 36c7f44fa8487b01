import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import type { Sequelize } from 'sequelize';
import { initModels } from '../../src/db/models/index.js';
import { migrateUp, migrationStatus } from '../../src/db/migrator.js';
import { createSequelize } from '../../src/db/sequelize.js';
import { createTestDatabase, migratedDatabase } from '../support/db.js';
import { requireServer } from '../support/servers.js';
import {
  FIXTURE_PATH,
  POLICYSYNTH_TABLES,
  loadPublishedModels,
  fetchPublishedPackage,
  readSchema,
  type ExpectedDdl,
  type SchemaShape,
  type TableShape,
} from '../fixtures/policysynth/derive.mjs';

const expected = JSON.parse(readFileSync(FIXTURE_PATH, 'utf8')) as ExpectedDdl;

/** Index and constraint names may differ; what counts is each index's columns, uniqueness and kind. */
function comparable(table: TableShape) {
  const sorted = <T>(items: T[]) => items.map((i) => JSON.stringify(i)).sort();
  return {
    columns: table.columns,
    indexes: sorted(table.indexes.map(({ name: _name, ...rest }) => rest)),
    foreign_keys: sorted(table.foreign_keys.map(({ name: _name, ...rest }) => rest)),
  };
}

function assertMatchesFixture(actual: SchemaShape, tables: string[] = POLICYSYNTH_TABLES) {
  for (const table of tables) {
    const found = actual[table];
    assert.ok(found && found.columns.length > 0, `${table} exists`);
    assert.deepEqual(comparable(found), comparable(expected.tables[table]!), table);
  }
}

const TYPES: Record<string, (length: number | null) => string> = {
  int4: () => 'integer',
  uuid: () => 'uuid',
  timestamptz: () => 'timestamp with time zone',
  varchar: (length) => `varchar(${length})`,
  jsonb: () => 'jsonb',
  bool: () => 'boolean',
};

/**
 * Creates tables from the fixture, as a PolicySynth deployment would have them, for when the published package
 * is not unpacked. `uniquePairs: false` leaves out the join tables' unique pairs, as hand-written migrations may.
 */
async function createFromFixture(sequelize: Sequelize, tables: string[], options: { uniquePairs?: boolean } = {}) {
  const q = (name: string) => `"${name}"`;
  const list = (names: string[]) => names.map(q).join(', ');
  for (const table of tables) {
    const spec = expected.tables[table]!;
    const parts = spec.columns.map((c) => {
      if (c.column_default === 'autoincrement') return `${q(c.name)} serial`;
      const type = TYPES[c.udt_name]!(c.character_maximum_length);
      return `${q(c.name)} ${type}${c.is_nullable === 'NO' ? ' NOT NULL' : ''}${c.column_default ? ` DEFAULT ${c.column_default}` : ''}`;
    });
    const indexes: string[] = [];
    for (const index of spec.indexes) {
      if (index.primary) parts.push(`CONSTRAINT ${q(index.name)} PRIMARY KEY (${list(index.columns)})`);
      else if (index.constraint && index.columns.length > 1 && options.uniquePairs === false) continue;
      else if (index.constraint) parts.push(`CONSTRAINT ${q(index.name)} UNIQUE (${list(index.columns)})`);
      else indexes.push(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${q(index.name)} ON ${q(table)} (${list(index.columns)})`);
    }
    for (const fk of spec.foreign_keys) {
      parts.push(
        `CONSTRAINT ${q(fk.name)} FOREIGN KEY (${list(fk.columns)}) REFERENCES ${q(fk.foreign_table)} (${list(fk.foreign_columns)}) ` +
          `ON DELETE ${fk.delete_rule} ON UPDATE ${fk.update_rule}`,
      );
    }
    await sequelize.query(`CREATE TABLE ${q(table)} (${parts.join(', ')})`);
    for (const sql of indexes) await sequelize.query(sql);
  }
}

/** A fresh, unmigrated PostgreSQL database and a Sequelize instance on it, removed after the test. */
async function emptyPostgres(t: TestContext) {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const db = await createTestDatabase('postgres');
  const sequelize = createSequelize(db.settings);
  t.after(async () => {
    await sequelize.close();
    await db.drop();
  });
  return { db, sequelize };
}

describe('PolicySynth registry schema (postgres)', () => {
  test('a migrated empty database has exactly the tables of expected-ddl.json', async (t) => {
    const ctx = await migratedDatabase(t, 'postgres');
    if (!ctx) return;
    assertMatchesFixture(await readSchema(ctx.sequelize));
  });

  test('tables a PolicySynth deployment made are adopted unchanged', async (t) => {
    const ctx = await emptyPostgres(t);
    if (!ctx) return;
    const fetched = fetchPublishedPackage();
    if ('missing' in fetched && process.env.CI === 'true') throw new Error(fetched.missing);
    const packageDir = 'dir' in fetched ? fetched.dir : undefined;
    if (packageDir) {
      // The published models' own sync(), user_id foreign keys to a users table included.
      const published = await loadPublishedModels(packageDir, ctx.db.url);
      try {
        await published.sync();
      } finally {
        await published.close();
      }
    } else {
      t.diagnostic('published package not unpacked: the tables come from expected-ddl.json');
      await createFromFixture(ctx.sequelize, POLICYSYNTH_TABLES);
    }
    const before = await readSchema(ctx.sequelize);

    await migrateUp(ctx.sequelize);

    assert.deepEqual(await readSchema(ctx.sequelize), before);
    assert.ok((await migrationStatus(ctx.sequelize)).every((m) => m.applied));
  });

  test('a partial PolicySynth schema is adopted as it is and completed from the fixture', async (t) => {
    const ctx = await emptyPostgres(t);
    if (!ctx) return;
    const existing = ['ps_agent_registries', 'ps_agent_classes', 'AgentRegistryAgents'];
    await createFromFixture(ctx.sequelize, existing, { uniquePairs: false });
    const before = await readSchema(ctx.sequelize, existing);

    await migrateUp(ctx.sequelize);

    assert.deepEqual(await readSchema(ctx.sequelize, existing), before, 'adopted tables untouched');
    assert.ok(!before.AgentRegistryAgents!.indexes.some((i) => i.columns.length > 1), 'no unique pair was added');
    assertMatchesFixture(await readSchema(ctx.sequelize), ['ps_agent_connector_classes', 'AgentRegistryConnectors']);
  });

  test('the published PolicySynth models create, associate and cascade on a Patchbay-migrated database', async (t) => {
    // Fetched at test time (npm pack of the pinned version), so CI runs it; only a machine that cannot fetch skips.
    const fetched = fetchPublishedPackage();
    if ('missing' in fetched) {
      if (process.env.CI === 'true') throw new Error(fetched.missing);
      t.skip(`${fetched.missing}; unpack it as test/fixtures/policysynth/derive.mjs describes, or set POLICYSYNTH_PACKAGE_DIR`);
      return;
    }
    const packageDir = fetched.dir;
    const ctx = await migratedDatabase(t, 'postgres');
    if (!ctx) return;
    const published = await loadPublishedModels(packageDir, ctx.db.url);
    t.after(() => published.close());

    // PolicySynth runs sync() in development: on Patchbay's tables, whose index names are sync()'s own, it changes nothing.
    const migrated = await readSchema(ctx.sequelize);
    await published.sync();
    assert.deepEqual(await readSchema(ctx.sequelize), migrated);

    const { PsAgentRegistry, PsAgentClass, PsAgentConnectorClass, AgentRegistryAgents, AgentRegistryConnectors } =
      published.models;

    const registry = await PsAgentRegistry.create({ user_id: 1, configuration: { supportedAgents: [] } });
    const agentClass = await PsAgentClass.create({
      user_id: 1,
      name: 'Published agent',
      version: 1,
      configuration: { category: 'test', description: 'made by PolicySynth' },
      available: true,
    });
    const connectorClass = await PsAgentConnectorClass.create({
      user_id: 1,
      name: 'Published connector',
      version: 1,
      configuration: { name: 'Published connector', classType: 'test', description: 'made by PolicySynth' },
      available: true,
    });
    await registry.addAgent(agentClass);
    await registry.addConnector(connectorClass);
    assert.deepEqual(
      (await registry.getAgents()).map((a: { uuid: string }) => a.uuid),
      [agentClass.uuid],
    );
    assert.deepEqual(
      (await registry.getConnectors()).map((c: { uuid: string }) => c.uuid),
      [connectorClass.uuid],
    );
    await assert.rejects(AgentRegistryAgents.create({ ps_agent_registry_id: registry.id, ps_agent_class_id: agentClass.id }), {
      name: 'SequelizeUniqueConstraintError',
    });

    // Patchbay's models read the same rows through the same associations.
    const models = initModels(ctx.sequelize);
    const ours = await models.PsAgentRegistry.findOne({ where: { uuid: registry.uuid } });
    assert.deepEqual(
      (await ours!.getAgents()).map((a) => a.name),
      ['Published agent'],
    );
    assert.deepEqual(
      (await ours!.getConnectors()).map((c) => c.configuration),
      [connectorClass.configuration],
    );

    await agentClass.destroy();
    assert.equal(await AgentRegistryAgents.count({ where: { ps_agent_registry_id: registry.id } }), 0);
    await registry.destroy();
    assert.equal(await AgentRegistryConnectors.count(), 0);
    assert.equal(await models.PsAgentConnectorClass.count(), 1, 'the class outlives the registry');
  });
});
