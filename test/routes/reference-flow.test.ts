import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, build } from '../support/app.js';
import { targetDatabase } from '../support/pg.js';

/** The flow of spec/connector-management.md, step by step, against the local PostgreSQL. */
describe('reference flow', () => {
  it('lists types, creates, reads, rotates, tests, attaches, executes through the alias, detaches and deletes', async (t) => {
    const target = await targetDatabase(t, "CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users VALUES (123, 'Ada'), (124, 'Grace');");
    if (!target) return;
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const developer = await ctx.user('developer', { org: admin.orgSlug });
    const call = (key: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      ctx.app.inject({ method, url, headers: bearer(key), ...(payload ? { payload } : {}) });

    const types = await call(developer.key, 'GET', '/api/v1/connectors/types');
    assert.equal(types.statusCode, 200);
    const database = (types.json() as { data: { type: string; providers: { provider: string; fields: { name: string; secret: boolean }[] }[] }[] }).data.find(
      (entry) => entry.type === 'database',
    );
    const postgresql = database?.providers.find((p) => p.provider === 'postgresql');
    assert.ok(postgresql?.fields.find((f) => f.name === 'password')?.secret, 'password is a secret field');

    const agent = await call(developer.key, 'POST', '/api/v1/agents', { id: 'agent-123' });
    assert.equal(agent.statusCode, 201, agent.body);

    const created = await call(admin.key, 'POST', '/api/v1/connectors', {
      name: 'Production Database',
      connector_type: 'database',
      provider: 'postgresql',
      config: { host: '127.0.0.1', port: 5432, database: 'postgres', username: 'postgres', password: 'secret123', ssl: false },
    });
    assert.equal(created.statusCode, 201, created.body);
    const connector = created.json() as { id: string; config: Record<string, unknown>; status: string; version: number };
    assert.equal(connector.config.password, '********');
    assert.equal(connector.status, 'untested');
    assert.ok(!created.body.includes('secret123'));

    const listed = await call(developer.key, 'GET', '/api/v1/connectors?connector_type=database');
    assert.equal(listed.statusCode, 200);
    assert.deepEqual((listed.json() as { data: { id: string }[] }).data.map((c) => c.id), [connector.id]);
    const otherType = await call(developer.key, 'GET', '/api/v1/connectors?connector_type=storage');
    assert.deepEqual((otherType.json() as { data: unknown[] }).data, []);

    const got = await call(developer.key, 'GET', `/api/v1/connectors/${connector.id}`);
    assert.equal(got.statusCode, 200);
    assert.equal((got.json() as { config: Record<string, unknown> }).config.password, '********');
    assert.equal(got.headers.etag, `"${connector.version}"`);

    const rotated = await call(admin.key, 'PUT', `/api/v1/connectors/${connector.id}`, { config: { password: 'new_password' } });
    assert.equal(rotated.statusCode, 200, rotated.body);
    const stored = await ctx.models.Connector.findByPk(connector.id);
    assert.ok(stored);
    const decrypted = ctx.app.services.connectors.decrypt(stored);
    assert.equal(decrypted.password, 'new_password');
    assert.equal(decrypted.host, '127.0.0.1', 'the other fields are kept');
    assert.ok(!stored.config_encrypted.includes('new_password'));

    const tested = await call(developer.key, 'POST', `/api/v1/connectors/${connector.id}/test`);
    assert.equal(tested.statusCode, 200);
    const result = tested.json() as { success: boolean; message: string; latency_ms: number };
    assert.equal(result.success, true, result.message);
    assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0);
    const afterTest = (await call(developer.key, 'GET', `/api/v1/connectors/${connector.id}`)).json() as Record<string, unknown>;
    assert.equal(afterTest.status, 'healthy');
    assert.equal(afterTest.last_test_result, 'success');
    const health = (await call(developer.key, 'GET', `/api/v1/connectors/${connector.id}/health`)).json() as { data: { success: boolean; source: string }[] };
    assert.deepEqual(health.data.map((h) => [h.success, h.source]), [[true, 'manual']]);

    const attached = await call(developer.key, 'POST', `/api/v1/connectors/${connector.id}/attach`, {
      agent_id: 'agent-123',
      alias: 'main_db',
      config_override: { database: target.name },
    });
    assert.equal(attached.statusCode, 201, attached.body);
    const instance = attached.json() as { id: string; mode: string; config: Record<string, unknown> };
    assert.equal(instance.mode, 'read');
    assert.equal(instance.config.database, target.name);
    assert.equal(instance.config.password, '********');

    const agentConnectors = await call(developer.key, 'GET', '/api/v1/agents/agent-123/connectors');
    assert.equal(agentConnectors.statusCode, 200, agentConnectors.body);
    const attachments = (agentConnectors.json() as { data: { alias: string; connector: { id: string }; config: Record<string, unknown> }[] }).data;
    assert.deepEqual(attachments.map((a) => [a.alias, a.connector.id]), [['main_db', connector.id]]);
    assert.ok(!agentConnectors.body.includes('new_password'));

    const issued = await call(developer.key, 'POST', '/api/v1/agents/agent-123/tokens', { name: 'runtime' });
    assert.equal(issued.statusCode, 201, issued.body);
    const token = (issued.json() as { token: string }).token;

    const executed = await call(token, 'POST', '/api/v1/agents/agent-123/connectors/main_db/execute', {
      query: 'SELECT * FROM users WHERE id = :id',
      params: { id: 123 },
    });
    assert.equal(executed.statusCode, 200, executed.body);
    const envelope = executed.json() as { ok: boolean; data: { rows: Record<string, unknown>[]; row_count: number }; truncated: boolean; latency_ms: number };
    assert.equal(envelope.ok, true);
    assert.deepEqual(envelope.data.rows, [{ id: 123, name: 'Ada' }]);
    assert.equal(envelope.truncated, false);

    // The agent's token reaches only its own agent's aliases, and nothing else.
    assert.equal((await call(token, 'GET', '/api/v1/connectors')).statusCode, 403);

    const detached = await call(developer.key, 'DELETE', `/api/v1/connectors/instances/${instance.id}`);
    assert.equal(detached.statusCode, 204);
    const deleted = await call(admin.key, 'DELETE', `/api/v1/connectors/${connector.id}`);
    assert.equal(deleted.statusCode, 204);
    assert.equal((await call(developer.key, 'GET', `/api/v1/connectors/${connector.id}`)).statusCode, 404);

    const actions = (await ctx.models.AuditEvent.findAll({ where: { organization_id: admin.orgId } })).map((e) => e.action);
    for (const action of ['connector.create', 'connector.update', 'connector.test', 'connector.attach', 'connector.execute', 'connector.detach', 'connector.delete']) {
      assert.ok(actions.includes(action), `audit has ${action}`);
    }
    assert.ok(!ctx.logs.text.includes('new_password') && !ctx.logs.text.includes('secret123'), 'no secret in any log line');
  });
});
