import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { UniqueConstraintError } from 'sequelize';
import { initPolicySynthModels } from '../../src/db/models/policysynth.js';
import { dialects, migratedDatabase, type Dialect } from '../support/db.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function setup(t: TestContext, dialect: Dialect) {
  const ctx = await migratedDatabase(t, dialect);
  if (!ctx) return undefined;
  const models = initPolicySynthModels(ctx.sequelize);
  const registry = await models.PsAgentRegistry.create({ user_id: 7, configuration: { supportedAgents: [] } });
  const agentClass = await models.PsAgentClass.create({
    user_id: 7,
    name: 'Summariser',
    version: 1,
    configuration: { category: 'analysis', capabilities: ['summarise'] },
    available: true,
  });
  const connectorClass = await models.PsAgentConnectorClass.create({
    user_id: 7,
    name: 'Google Docs',
    version: 2,
    configuration: { classType: 'docs', questions: [] },
    available: false,
  });
  return { models, registry, agentClass, connectorClass };
}

for (const dialect of dialects) {
  describe(`PolicySynth registry models (${dialect})`, () => {
    test('uuid and class_base_id default to fresh UUIDs; configuration round-trips as JSON', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, registry, agentClass } = ctx;
      assert.match(registry.uuid, UUID);
      assert.match(agentClass.uuid, UUID);
      assert.match(agentClass.class_base_id, UUID);
      assert.notEqual(agentClass.uuid, agentClass.class_base_id);

      const configuration = { nested: { list: [1, 'two', null, true], text: 'naïve — ☃' }, empty: {} };
      await models.PsAgentConnectorClass.create({ user_id: 1, name: 'json', version: 1, configuration, available: true });
      const reloaded = await models.PsAgentConnectorClass.findOne({ where: { name: 'json' } });
      assert.deepEqual(reloaded?.configuration, configuration);
      assert.deepEqual((await models.PsAgentRegistry.findByPk(registry.id))?.configuration, { supportedAgents: [] });
    });

    test('created_at and updated_at are the only timestamp attributes, and save() moves updated_at', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, agentClass } = ctx;
      assert.deepEqual(
        Object.keys(models.PsAgentClass.getAttributes()).filter((a) => /created|updated/i.test(a)),
        ['created_at', 'updated_at'],
      );
      const before = agentClass.updated_at.getTime();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await agentClass.update({ available: false });
      const reloaded = await models.PsAgentClass.findByPk(agentClass.id);
      assert.ok(reloaded!.updated_at.getTime() > before);
      assert.equal(reloaded!.created_at.getTime(), agentClass.created_at.getTime());
    });

    test('a registry uuid is unique', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      await assert.rejects(
        ctx.models.PsAgentRegistry.create({ uuid: ctx.registry.uuid, user_id: 1, configuration: {} }),
        UniqueConstraintError,
      );
    });

    test('classes are added, listed and removed through the association mixins', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, registry, agentClass, connectorClass } = ctx;
      await registry.addAgent(agentClass);
      await registry.addAgent(agentClass); // a second add changes nothing
      await registry.addConnector(connectorClass);

      assert.deepEqual(
        (await registry.getAgents()).map((a) => a.uuid),
        [agentClass.uuid],
      );
      assert.deepEqual(
        (await registry.getConnectors()).map((c) => c.uuid),
        [connectorClass.uuid],
      );
      assert.equal(await registry.hasAgent(agentClass), true);
      assert.deepEqual(
        (await agentClass.getRegistry()).map((r) => r.uuid),
        [registry.uuid],
      );
      assert.deepEqual(
        (await connectorClass.getRegistry()).map((r) => r.uuid),
        [registry.uuid],
      );
      const joinRow = await models.AgentRegistryAgents.findOne();
      assert.equal(joinRow?.ps_agent_registry_id, registry.id);
      assert.equal(joinRow?.ps_agent_class_id, agentClass.id);
      assert.ok(joinRow?.created_at instanceof Date);

      const withClasses = await models.PsAgentRegistry.findByPk(registry.id, { include: ['Agents', 'Connectors'] });
      assert.deepEqual(
        withClasses?.Agents?.map((a) => a.name),
        ['Summariser'],
      );
      assert.deepEqual(
        withClasses?.Connectors?.map((c) => c.name),
        ['Google Docs'],
      );

      await registry.removeAgent(agentClass);
      await registry.removeConnector(connectorClass);
      assert.deepEqual(await registry.getAgents(), []);
      assert.deepEqual(await registry.getConnectors(), []);
      assert.equal(await models.PsAgentClass.count(), 1, 'removing from the registry keeps the class');
    });

    test('the unique (registry, class) pair rejects a duplicate join row', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, registry, agentClass, connectorClass } = ctx;
      await registry.addAgent(agentClass);
      await registry.addConnector(connectorClass);
      await assert.rejects(
        models.AgentRegistryAgents.create({ ps_agent_registry_id: registry.id, ps_agent_class_id: agentClass.id }),
        UniqueConstraintError,
      );
      await assert.rejects(
        models.AgentRegistryConnectors.create({
          ps_agent_registry_id: registry.id,
          ps_agent_connector_class_id: connectorClass.id,
        }),
        UniqueConstraintError,
      );
    });

    test('deleting a class or a registry deletes its join rows', async (t) => {
      const ctx = await setup(t, dialect);
      if (!ctx) return;
      const { models, registry, agentClass, connectorClass } = ctx;
      const other = await models.PsAgentRegistry.create({ user_id: 7, configuration: {} });
      await registry.addAgent(agentClass);
      await other.addAgent(agentClass);
      await registry.addConnector(connectorClass);
      await other.addConnector(connectorClass);

      await agentClass.destroy();
      assert.equal(await models.AgentRegistryAgents.count(), 0);

      await registry.destroy();
      assert.deepEqual(
        (await models.AgentRegistryConnectors.findAll()).map((row) => row.ps_agent_registry_id),
        [other.id],
      );
      await connectorClass.destroy();
      assert.equal(await models.AgentRegistryConnectors.count(), 0);
      assert.equal(await models.PsAgentRegistry.count(), 1);
    });
  });
}
