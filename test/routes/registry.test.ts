import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { catalogueForRegistry } from '../../src/providers/catalogue.js';
import { REGISTRY_UUID, providerClassBaseId } from '../../src/services/connectors/agent-registry-service.js';
import { build } from '../support/app.js';
import { client, ok, problem } from '../support/http.js';

interface RegistryClass {
  uuid: string;
  class_base_id: string;
  name: string;
  version: number;
  available: boolean;
  configuration: Record<string, unknown>;
}
interface Registry {
  uuid: string;
  agent_classes: RegistryClass[];
  connector_classes: RegistryClass[];
}

const newAgentClass = { name: 'Market research', version: 2, configuration: { description: 'Finds markets', inputs: ['topic'] }, available: true };

async function setup(t: TestContext) {
  const ctx = await build(t);
  if (!ctx) return undefined;
  // Two organisations for one user: installation-wide routes need no X-Organization-Id all the same.
  const operator = await ctx.user('admin', { operator: true });
  const user = await ctx.user('member');
  const email = (await ctx.models.User.findByPk(user.userId))?.email ?? '';
  await ctx.accounts.addMember({ organization: operator.orgSlug, email, role: 'admin' });
  return { ctx, operator, asOperator: client(ctx.app, operator.key), asUser: client(ctx.app, user.key) };
}

describe('registry routes', () => {
  it('lets any user read the registry and the agent classes, and only operators change them', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { ctx, asOperator, asUser } = setupResult;

    const empty = ok<Registry>(await asUser('GET', '/registry'));
    assert.equal(empty.uuid, REGISTRY_UUID);
    assert.deepEqual(empty.agent_classes, []);
    assert.deepEqual(ok<{ data: unknown[] }>(await asUser('GET', '/agent-classes')).data, []);
    problem(await ctx.app.inject({ method: 'GET', url: '/api/v1/registry' }), 401, 'unauthenticated');

    problem(await asUser('POST', '/agent-classes', newAgentClass), 403, 'forbidden');
    const created = ok<RegistryClass>(await asOperator('POST', '/agent-classes', newAgentClass), 201);
    assert.equal(created.name, newAgentClass.name);
    assert.equal(created.version, 2);
    assert.deepEqual(created.configuration, newAgentClass.configuration);
    const invalid = problem(await asOperator('POST', '/agent-classes', { ...newAgentClass, version: 'two', extra: 1 }), 422, 'validation_failed');
    assert.ok(invalid.errors?.some((e) => e.path === 'version'), JSON.stringify(invalid.errors));
    problem(await asOperator('POST', '/agent-classes', { name: 'x' }), 422, 'validation_failed');

    assert.deepEqual(ok<{ data: RegistryClass[] }>(await asUser('GET', '/agent-classes')).data.map((c) => c.uuid), [created.uuid]);
    // Created is not yet in the registry: adding is an explicit, idempotent step.
    assert.deepEqual(ok<Registry>(await asUser('GET', '/registry')).agent_classes, []);

    problem(await asUser('POST', `/registry/agent-classes/${created.uuid}`), 403, 'forbidden');
    for (let i = 0; i < 2; i++) assert.equal(ok<RegistryClass>(await asOperator('POST', `/registry/agent-classes/${created.uuid}`)).uuid, created.uuid);
    assert.deepEqual(ok<Registry>(await asUser('GET', '/registry')).agent_classes.map((c) => c.uuid), [created.uuid]);

    problem(await asUser('DELETE', `/registry/agent-classes/${created.uuid}`), 403, 'forbidden');
    for (let i = 0; i < 2; i++) assert.equal((await asOperator('DELETE', `/registry/agent-classes/${created.uuid}`)).statusCode, 204);
    assert.deepEqual(ok<Registry>(await asUser('GET', '/registry')).agent_classes, []);

    problem(await asOperator('POST', '/registry/agent-classes/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
    problem(await asOperator('DELETE', '/registry/agent-classes/not-a-uuid'), 404, 'not_found');

    const events = await ctx.models.AuditEvent.findAll({ where: { organization_id: null } });
    assert.deepEqual(events.map((e) => `${e.action} ${e.target_id}`).sort(), [
      `agent_class.create ${created.uuid}`,
      `registry.agent_class.add ${created.uuid}`,
      `registry.agent_class.add ${created.uuid}`,
      `registry.agent_class.remove ${created.uuid}`,
      `registry.agent_class.remove ${created.uuid}`,
    ]);
  });

  it("adds and removes connector classes, but never a Patchbay provider's", async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { ctx, asOperator, asUser } = setupResult;
    await ctx.app.services.registry.mirrorProviders(catalogueForRegistry());
    const theirs = await ctx.models.PsAgentConnectorClass.create({
      user_id: 1,
      name: 'Google Docs',
      version: 1,
      configuration: { description: "PolicySynth's own" },
      available: true,
    });

    const registry = ok<Registry>(await asUser('GET', '/registry'));
    const postgresql = registry.connector_classes.find((c) => c.class_base_id === providerClassBaseId('postgresql'));
    assert.ok(postgresql);
    assert.ok(!registry.connector_classes.some((c) => c.uuid === theirs.uuid));

    problem(await asUser('POST', `/registry/connector-classes/${theirs.uuid}`), 403, 'forbidden');
    for (let i = 0; i < 2; i++) assert.equal(ok<RegistryClass>(await asOperator('POST', `/registry/connector-classes/${theirs.uuid}`)).uuid, theirs.uuid);
    assert.ok(ok<Registry>(await asUser('GET', '/registry')).connector_classes.some((c) => c.uuid === theirs.uuid));
    problem(await asUser('DELETE', `/registry/connector-classes/${theirs.uuid}`), 403, 'forbidden');
    for (let i = 0; i < 2; i++) assert.equal((await asOperator('DELETE', `/registry/connector-classes/${theirs.uuid}`)).statusCode, 204);
    assert.ok(!ok<Registry>(await asUser('GET', '/registry')).connector_classes.some((c) => c.uuid === theirs.uuid));

    problem(await asOperator('DELETE', `/registry/connector-classes/${postgresql.uuid}`), 409, 'conflict');
    assert.ok(ok<Registry>(await asUser('GET', '/registry')).connector_classes.some((c) => c.uuid === postgresql.uuid));
    problem(await asOperator('DELETE', '/registry/connector-classes/00000000-0000-4000-8000-000000000000'), 404, 'not_found');
  });
});
