import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { initModels } from '../../../src/db/models/index.js';
import { PatchbayError, type ErrorCode } from '../../../src/errors.js';
import {
  AgentRegistryService,
  REGISTRY_UUID,
  providerClassBaseId,
  type CatalogueProvider,
} from '../../../src/services/connectors/agent-registry-service.js';
import { dialects, migratedDatabase, type Dialect } from '../../support/db.js';
import { installation } from '../../support/contexts.js';

const USER_ID = 42;

const providers: CatalogueProvider[] = [
  {
    id: 'postgresql',
    type: 'database',
    description: 'PostgreSQL database',
    fields: [{ name: 'host', type: 'string', required: true, secret: false }],
  },
  { id: 'redis', type: 'database', description: 'Redis', fields: [{ name: 'password', type: 'string', secret: true }] },
];

async function setup(t: TestContext, dialect: Dialect) {
  const ctx = await migratedDatabase(t, dialect);
  if (!ctx) return undefined;
  const models = initModels(ctx.sequelize);
  const newService = () => new AgentRegistryService({ models, sequelize: ctx.sequelize, policysynthUserId: USER_ID });
  return { models, service: newService(), newService };
}

const hasCode = (code: ErrorCode) => (error: unknown) => {
  assert.ok(error instanceof PatchbayError);
  assert.equal(error.code, code);
  return true;
};

test('providerClassBaseId is a fixed name-based (v5) UUID per provider', () => {
  const id = providerClassBaseId('postgresql');
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(providerClassBaseId('postgresql'), id);
  assert.notEqual(providerClassBaseId('redis'), id);
});

for (const dialect of dialects) {
  describe(`AgentRegistryService (${dialect})`, () => {
    test('ensureRegistry makes one row with the fixed uuid, also when called concurrently', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const rows = await Promise.all([
        ctx.service.ensureRegistry(),
        ctx.newService().ensureRegistry(),
        ctx.service.ensureRegistry(),
      ]);
      const again = await ctx.service.ensureRegistry();
      assert.deepEqual(new Set([...rows, again].map((r) => r.id)).size, 1);
      assert.equal(again.uuid, REGISTRY_UUID);
      assert.equal(again.user_id, USER_ID);
      assert.equal(await ctx.models.PsAgentRegistry.count(), 1);
    });

    test('mirrorProviders is idempotent and leaves PolicySynth connector classes alone', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, service } = ctx;
      const registry = await service.ensureRegistry();
      const theirs = await models.PsAgentConnectorClass.create({
        user_id: 1,
        name: 'Google Docs',
        version: 3,
        configuration: { classType: 'docs', description: 'PolicySynth own' },
        available: true,
      });
      await registry.addConnector(theirs);

      const first = await service.mirrorProviders(providers);
      await Promise.all([service.mirrorProviders(providers), ctx.newService().mirrorProviders(providers)]);

      assert.equal(await models.PsAgentConnectorClass.count(), 3);
      assert.equal(await models.AgentRegistryConnectors.count(), 3);
      const row = await models.PsAgentConnectorClass.findOne({ where: { class_base_id: providerClassBaseId('postgresql') } });
      assert.equal(row?.uuid, first[0]?.uuid);
      assert.equal(row?.name, 'postgresql');
      assert.equal(row?.version, 1);
      assert.equal(row?.available, true);
      assert.equal(row?.user_id, USER_ID);
      assert.deepEqual(row?.configuration, {
        description: 'PostgreSQL database',
        type: 'database',
        provider: 'postgresql',
        fields: providers[0]!.fields,
        managed_by: 'patchbay',
      });

      const untouched = await models.PsAgentConnectorClass.findByPk(theirs.id);
      assert.deepEqual(untouched?.configuration, theirs.configuration);
      assert.equal(untouched?.user_id, 1);
      assert.equal(untouched?.updated_at.getTime(), theirs.updated_at.getTime());
    });

    test('a changed provider updates its class in place', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const [before] = await ctx.service.mirrorProviders(providers.slice(0, 1));
      const [after] = await ctx.service.mirrorProviders([{ ...providers[0]!, description: 'PostgreSQL 13 and later' }]);
      assert.equal(after?.uuid, before?.uuid);
      assert.equal(after?.configuration.description, 'PostgreSQL 13 and later');
      assert.equal(await ctx.models.PsAgentConnectorClass.count(), 1);
    });

    test('getRegistry returns the registry with its classes', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { service } = ctx;
      await service.mirrorProviders(providers);
      const agentClass = await service.createAgentClass(installation, {
        name: 'Summariser',
        version: 2,
        configuration: { description: 'summarises' },
        available: true,
      });
      await service.addAgentClass(installation, agentClass.uuid);

      const registry = await service.getRegistry();
      assert.deepEqual(Object.keys(registry).sort(), ['agent_classes', 'configuration', 'connector_classes', 'uuid']);
      assert.equal(registry.uuid, REGISTRY_UUID);
      assert.deepEqual(registry.configuration, { supportedAgents: [] });
      assert.deepEqual(registry.agent_classes, [agentClass]);
      assert.deepEqual(Object.keys(agentClass).sort(), [
        'available',
        'class_base_id',
        'configuration',
        'name',
        'uuid',
        'version',
      ]);
      assert.deepEqual(
        registry.connector_classes.map((c) => [c.name, c.class_base_id]),
        providers.map((p) => [p.id, providerClassBaseId(p.id)]),
      );
      assert.deepEqual(Object.keys(registry.connector_classes[0]!).sort(), Object.keys(agentClass).sort());
    });

    test('agent classes are created, listed, added and removed idempotently', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, service } = ctx;
      const created = await service.createAgentClass(installation, { name: 'Planner', version: 1, configuration: { a: 1 }, available: false });
      assert.deepEqual(await service.listAgentClasses(), [created]);
      assert.equal((await models.PsAgentClass.findOne({ where: { uuid: created.uuid } }))?.user_id, USER_ID);

      await service.addAgentClass(installation, created.uuid);
      await service.addAgentClass(installation, created.uuid);
      assert.deepEqual(
        (await service.getRegistry()).agent_classes.map((c) => c.uuid),
        [created.uuid],
      );
      assert.equal(await models.AgentRegistryAgents.count(), 1);

      await service.removeAgentClass(installation, created.uuid);
      await service.removeAgentClass(installation, created.uuid);
      assert.deepEqual((await service.getRegistry()).agent_classes, []);
      assert.deepEqual(await service.listAgentClasses(), [created], 'the class itself stays');
    });

    test('PolicySynth connector classes are added and removed idempotently', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, service } = ctx;
      const theirs = await models.PsAgentConnectorClass.create({
        user_id: 1,
        name: 'Google Docs',
        version: 1,
        configuration: { classType: 'docs' },
        available: true,
      });
      await service.addConnectorClass(installation, theirs.uuid);
      await service.addConnectorClass(installation, theirs.uuid);
      assert.deepEqual(
        (await service.getRegistry()).connector_classes.map((c) => c.uuid),
        [theirs.uuid],
      );
      await service.removeConnectorClass(installation, theirs.uuid);
      await service.removeConnectorClass(installation, theirs.uuid);
      assert.deepEqual((await service.getRegistry()).connector_classes, []);
    });

    test('removing a provider connector class is a conflict', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const [mirrored] = await ctx.service.mirrorProviders(providers);
      await assert.rejects(ctx.service.removeConnectorClass(installation, mirrored!.uuid), hasCode('conflict'));
      // A process that has not mirrored yet knows the class by its configuration.
      await assert.rejects(ctx.newService().removeConnectorClass(installation, mirrored!.uuid), hasCode('conflict'));
      assert.equal((await ctx.service.getRegistry()).connector_classes.length, providers.length);
    });

    test('an unknown or malformed uuid is not_found', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { service } = ctx;
      for (const uuid of [randomUUID(), 'not-a-uuid']) {
        await assert.rejects(service.addAgentClass(installation, uuid), hasCode('not_found'));
        await assert.rejects(service.removeAgentClass(installation, uuid), hasCode('not_found'));
        await assert.rejects(service.addConnectorClass(installation, uuid), hasCode('not_found'));
        await assert.rejects(service.removeConnectorClass(installation, uuid), hasCode('not_found'));
      }
      // An agent class uuid is not a connector class.
      const agentClass = await service.createAgentClass(installation, { name: 'x', version: 1, configuration: {}, available: true });
      await assert.rejects(service.addConnectorClass(installation, agentClass.uuid), hasCode('not_found'));
    });
  });
}
