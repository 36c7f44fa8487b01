import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { build, type TestApp } from '../support/app.js';
import { dialects } from '../support/db.js';
import { client, ok, problem } from '../support/http.js';
import { targetDatabase } from '../support/pg.js';
import { requireServer } from '../support/servers.js';

interface AgentBody {
  id: string;
  name: string | null;
}
interface TokenBody {
  id: string;
  token: string;
  prefix: string;
  agent_id: string;
}

const developerOf = async (ctx: TestApp) => {
  const admin = await ctx.user('admin');
  const developer = await ctx.user('developer', { org: admin.orgSlug });
  const member = await ctx.user('member', { org: admin.orgSlug });
  return { admin, developer, member, asDeveloper: client(ctx.app, developer.key), asMember: client(ctx.app, member.key) };
};

for (const dialect of dialects) {
  describe(`agents routes (${dialect})`, () => {
    const setup = (t: TestContext) => build(t, { dialect });

    it('creates, lists, reads and deletes agents', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const { asDeveloper, asMember, developer } = await developerOf(ctx);

      const created = ok<AgentBody & { created_by: string }>(await asDeveloper('POST', '/agents', { id: 'agent-123', name: 'Sales bot' }), 201);
      assert.equal(created.id, 'agent-123');
      assert.equal(created.name, 'Sales bot');
      assert.equal(created.created_by, developer.userId);
      const generated = ok<AgentBody>(await asDeveloper('POST', '/agents', {}), 201);
      assert.match(generated.id, /^agt_/);

      problem(await asDeveloper('POST', '/agents', { id: 'agent-123' }), 409, 'conflict');
      const invalid = problem(await asDeveloper('POST', '/agents', { id: '-bad id', surprise: 1 }), 422, 'validation_failed');
      const paths = invalid.errors?.map((e) => e.path) ?? [];
      assert.ok(paths.includes('id'), JSON.stringify(paths));
      problem(await asMember('POST', '/agents', { id: 'agent-999' }), 403, 'forbidden');
      problem(await ctx.app.inject({ method: 'POST', url: '/api/v1/agents', payload: {} }), 401, 'unauthenticated');

      assert.equal(ok<AgentBody>(await asMember('GET', '/agents/agent-123')).id, 'agent-123');
      const first = ok<{ data: AgentBody[]; next_cursor: string | null }>(await asMember('GET', '/agents?limit=1'));
      assert.equal(first.data.length, 1);
      assert.ok(first.next_cursor);
      const second = ok<{ data: AgentBody[]; next_cursor: string | null }>(await asMember('GET', `/agents?limit=1&cursor=${first.next_cursor}`));
      assert.deepEqual([...first.data, ...second.data].map((a) => a.id).sort(), [created.id, generated.id].sort());
      assert.equal(second.next_cursor, null);
      problem(await asMember('GET', '/agents?limit=201'), 422, 'validation_failed');
      problem(await asMember('GET', '/agents?cursor=nonsense'), 422, 'validation_failed');

      problem(await asMember('DELETE', '/agents/agent-123'), 403, 'forbidden');
      assert.equal((await asDeveloper('DELETE', '/agents/agent-123')).statusCode, 204);
      problem(await asMember('GET', '/agents/agent-123'), 404, 'not_found');
      problem(await asDeveloper('DELETE', '/agents/agent-123'), 404, 'not_found');
    });

    it("answers 404 for another organisation's agent, and lets X-Organization-Id choose for a user in two", async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const { asDeveloper, developer } = await developerOf(ctx);
      ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
      const stranger = await ctx.user('admin');
      const asStranger = client(ctx.app, stranger.key);
      problem(await asStranger('GET', '/agents/agent-1'), 404, 'not_found');
      problem(await asStranger('DELETE', '/agents/agent-1'), 404, 'not_found');
      problem(await asStranger('POST', '/agents/agent-1/tokens', { name: 'x' }), 404, 'not_found');
      // The same id is free in another organisation.
      ok(await asStranger('POST', '/agents', { id: 'agent-1' }), 201);

      // The developer joins a second organisation: without the header they still act in their default (the first
      // they joined); the header chooses, and must name one of theirs.
      const email = (await ctx.models.User.findByPk(developer.userId))?.email ?? '';
      await ctx.accounts.addMember({ organization: stranger.orgSlug, email, role: 'member' });
      assert.deepEqual(ok<{ data: AgentBody[] }>(await asDeveloper('GET', '/agents')).data.map((a) => a.id), ['agent-1']);
      ok(await asDeveloper('POST', '/agents', { id: 'agent-2' }), 201);
      const inFirst = ok<{ data: AgentBody[] }>(await client(ctx.app, developer.key, developer.orgSlug)('GET', '/agents'));
      assert.deepEqual(inFirst.data.map((a) => a.id), ['agent-1', 'agent-2']);
      const inSecond = ok<{ data: AgentBody[] }>(await client(ctx.app, developer.key, stranger.orgId)('GET', '/agents'));
      assert.deepEqual(inSecond.data.map((a) => a.id), ['agent-1']);
      const elsewhere = await ctx.user('admin');
      problem(await client(ctx.app, developer.key, elsewhere.orgSlug)('GET', '/agents'), 404, 'not_found');
      problem(await client(ctx.app, developer.key, 'no-such-org')('GET', '/agents'), 404, 'not_found');
    });

    it('issues, lists and revokes agent tokens, each shown once', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const { asDeveloper, asMember } = await developerOf(ctx);
      ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
      ok(await asDeveloper('POST', '/agents', { id: 'agent-2' }), 201);

      const issued = ok<TokenBody>(await asDeveloper('POST', '/agents/agent-1/tokens', { name: 'prod' }), 201);
      assert.match(issued.token, /^pbt_/);
      assert.equal(issued.agent_id, 'agent-1');
      const listed = await asDeveloper('GET', '/agents/agent-1/tokens');
      const tokens = ok<{ data: { id: string; prefix: string; last_used_at: string | null }[] }>(listed).data;
      assert.deepEqual(tokens.map((k) => k.id), [issued.id]);
      assert.ok(issued.token.startsWith(tokens[0]?.prefix ?? '-'));
      assert.ok(!listed.body.includes(issued.token), 'a listed token never shows the token itself');
      assert.deepEqual(ok<{ data: unknown[] }>(await asDeveloper('GET', '/agents/agent-2/tokens')).data, []);

      problem(await asMember('POST', '/agents/agent-1/tokens', {}), 403, 'forbidden');
      problem(await asMember('GET', '/agents/agent-1/tokens'), 403, 'forbidden');
      const past = problem(await asDeveloper('POST', '/agents/agent-1/tokens', { expires_at: '2000-01-01T00:00:00Z' }), 422, 'validation_failed');
      assert.deepEqual(past.errors?.map((e) => e.path), ['expires_at']);
      problem(await asDeveloper('POST', '/agents/agent-1/tokens', { expires_at: 'tomorrow' }), 422, 'validation_failed');
      // 404 for a missing agent comes before 422 for a bad body.
      problem(await asDeveloper('POST', '/agents/nobody/tokens', { expires_at: 'tomorrow' }), 404, 'not_found');

      const asAgent = client(ctx.app, issued.token);
      ok(await asAgent('GET', '/agents/agent-1/connectors'));
      assert.ok(ok<{ data: { last_used_at: string | null }[] }>(await asDeveloper('GET', '/agents/agent-1/tokens')).data[0]?.last_used_at);

      problem(await asDeveloper('DELETE', `/agents/agent-2/tokens/${issued.id}`), 404, 'not_found');
      problem(await asMember('DELETE', `/agents/agent-1/tokens/${issued.id}`), 403, 'forbidden');
      assert.equal((await asDeveloper('DELETE', `/agents/agent-1/tokens/${issued.id}`)).statusCode, 204);
      assert.equal((await asDeveloper('DELETE', `/agents/agent-1/tokens/${issued.id}`)).statusCode, 204);
      problem(await asAgent('GET', '/agents/agent-1/connectors'), 401, 'unauthenticated');
      const revoked = ok<{ data: { revoked_at: string | null }[] }>(await asDeveloper('GET', '/agents/agent-1/tokens')).data;
      assert.ok(revoked[0]?.revoked_at);
    });

    it('lets a token call only its own agent run-time endpoints', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const { asDeveloper, asMember } = await developerOf(ctx);
      ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
      ok(await asDeveloper('POST', '/agents', { id: 'agent-2' }), 201);
      const { token } = ok<TokenBody>(await asDeveloper('POST', '/agents/agent-1/tokens', {}), 201);
      const asAgent = client(ctx.app, token);

      assert.deepEqual(ok<{ data: unknown[] }>(await asAgent('GET', '/agents/agent-1/connectors')).data, []);
      ok(await asMember('GET', '/agents/agent-1/connectors'));
      problem(await asAgent('GET', '/agents/agent-2/connectors'), 404, 'not_found');
      problem(await asAgent('POST', '/agents/agent-2/connectors/db/execute', { query: 'SELECT 1' }), 404, 'not_found');
      problem(await asAgent('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 1' }), 404, 'not_found');
      for (const [method, url] of [
        ['GET', '/agents'],
        ['GET', '/agents/agent-1'],
        ['GET', '/agents/agent-1/tokens'],
        ['POST', '/agents/agent-1/tokens'],
        ['DELETE', '/agents/agent-1'],
        ['GET', '/members'],
        ['GET', '/registry'],
      ] as const) {
        problem(await asAgent(method, url, method === 'POST' ? {} : undefined), 403, 'forbidden');
      }
      // The token names its organisation; naming another one is "not found".
      const stranger = await ctx.user('admin');
      problem(await client(ctx.app, token, stranger.orgSlug)('GET', '/agents/agent-1/connectors'), 404, 'not_found');

      problem(await asMember('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 1' }), 403, 'forbidden');
      problem(await client(ctx.app, stranger.key)('POST', '/agents/agent-1/connectors/db/execute', {}), 404, 'not_found');
      problem(await client(ctx.app, stranger.key)('GET', '/agents/agent-1/connectors'), 404, 'not_found');
    });

    it('deletes an agent with its tokens and attachments, and runs operations through an attachment', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const { admin, asDeveloper } = await developerOf(ctx);
      ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
      const { token } = ok<TokenBody>(await asDeveloper('POST', '/agents/agent-1/tokens', {}), 201);
      const services = ctx.app.services;
      const context = { organizationId: admin.orgId, actor: { type: 'user' as const, id: admin.userId }, role: 'admin' as const };
      const connector = await services.connectors.create(context, {
        name: 'warehouse',
        connector_type: 'database',
        provider: 'postgresql',
        config: { host: '127.0.0.1', port: 5432, username: 'postgres', password: 'hunter2-secret', database: 'test' },
      });
      await services.attachments.attach(context, connector.id, { agent_id: 'agent-1', alias: 'db' });
      const asAgent = client(ctx.app, token);

      const listed = await asAgent('GET', '/agents/agent-1/connectors');
      const [attachment] = ok<{ data: { alias: string; mode: string; config: Record<string, unknown> }[] }>(listed).data;
      assert.equal(attachment?.alias, 'db');
      assert.equal(attachment?.mode, 'read');
      assert.equal(attachment?.config.password, '********');
      assert.ok(!listed.body.includes('hunter2-secret'));

      problem(await asAgent('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 1', mode: 'read_write' }), 422, 'validation_failed');
      problem(await asAgent('POST', '/agents/agent-1/connectors/db/execute', ['not', 'an', 'object']), 422, 'validation_failed');
      if (await requireServer(t, 'postgresql')) {
        const result = ok<{ ok: boolean; data: { rows: { one: number }[] }; latency_ms: number; truncated: boolean }>(
          await asAgent('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 1 AS one' }),
        );
        assert.equal(result.ok, true);
        assert.deepEqual(result.data.rows, [{ one: 1 }]);
        assert.equal(result.truncated, false);
        ok(await asDeveloper('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 2 AS two' }));
        problem(await asAgent('POST', '/agents/agent-1/connectors/db/execute', { query: 'DELETE FROM pg_class' }), 403, 'read_only');
      }

      assert.equal((await asDeveloper('DELETE', '/agents/agent-1')).statusCode, 204);
      assert.equal(await ctx.models.AgentToken.count(), 0);
      assert.equal(await ctx.models.ConnectorInstance.count(), 0);
      problem(await asAgent('GET', '/agents/agent-1/connectors'), 401, 'unauthenticated');
      assert.ok(!ctx.logs.text.includes('hunter2-secret'));
    });
  });
}

interface InstanceView {
  id: string;
  alias: string;
  mode: string;
  config_override: Record<string, unknown>;
  limits: Record<string, unknown>;
}

describe('a developer may only narrow an attachment', () => {
  const world = async (t: TestContext) => {
    const ctx = await build(t);
    if (!ctx) return undefined;
    const { admin, asDeveloper } = await developerOf(ctx);
    const asAdmin = client(ctx.app, admin.key);
    ok(await asAdmin('POST', '/agents', { id: 'agent-1' }), 201);
    // Nothing listens on port 9: changing attachments never connects.
    const files = ok<{ id: string }>(
      await asAdmin('POST', '/connectors', {
        name: 'files',
        connector_type: 'storage',
        provider: 's3',
        config: { bucket: 'b', endpoint: 'http://127.0.0.1:9', prefix: 'team/' },
      }),
      201,
    ).id;
    const warehouse = ok<{ id: string }>(
      await asAdmin('POST', '/connectors', {
        name: 'warehouse',
        connector_type: 'database',
        provider: 'postgresql',
        config: { host: '127.0.0.1', port: 9, username: 'u', password: 'pw-narrowing' },
      }),
      201,
    ).id;
    const attach = async (connectorId: string, body: Record<string, unknown>) =>
      ok<InstanceView>(await asAdmin('POST', `/connectors/${connectorId}/attach`, { agent_id: 'agent-1', ...body }), 201);
    return { ctx, asAdmin, asDeveloper, files, warehouse, attach };
  };

  it('never clears an override, never moves a boundary outward, never removes or raises a limit', async (t) => {
    const w = await world(t);
    if (!w) return;
    const { asAdmin, asDeveloper } = w;
    const instance = await w.attach(w.files, {
      alias: 'files',
      config_override: { prefix: 'team/a/' },
      limits: { max_rows: 5000, rate_per_minute: 10 },
    });
    const path = `/connectors/instances/${instance.id}`;
    for (const body of [
      { config_override: null, limits: {} },
      { config_override: null },
      { config_override: {} },
      { config_override: { prefix: 'team/' } },
      { config_override: { prefix: 'team/b/' } },
      { limits: {} },
      { limits: { max_rows: 5000 } },
      { limits: { max_rows: 5001, rate_per_minute: 10 } },
      { limits: { max_rows: 5000, rate_per_minute: 11 } },
    ]) {
      problem(await asDeveloper('PATCH', path, body), 403, 'forbidden');
    }
    const unchanged = ok<{ data: InstanceView[] }>(await asAdmin('GET', '/agents/agent-1/connectors')).data[0];
    assert.deepEqual(unchanged?.config_override, { prefix: 'team/a/' });
    assert.deepEqual(unchanged?.limits, { max_rows: 5000, rate_per_minute: 10 });

    // Narrowing is allowed: a prefix inside the current one, lower limits, an added limit, a new alias.
    const narrowed = ok<InstanceView>(
      await asDeveloper('PATCH', path, {
        alias: 'reports',
        config_override: { prefix: 'team/a/reports/' },
        limits: { max_rows: 4000, rate_per_minute: 5, timeout_ms: 2000 },
      }),
    );
    assert.equal(narrowed.alias, 'reports');
    assert.deepEqual(narrowed.config_override, { prefix: 'team/a/reports/' });
    assert.deepEqual(narrowed.limits, { max_rows: 4000, rate_per_minute: 5, timeout_ms: 2000 });
    // An admin may widen again.
    const cleared = ok<InstanceView>(await asAdmin('PATCH', path, { config_override: null, limits: {} }));
    assert.deepEqual(cleared.config_override, {});
    assert.deepEqual(cleared.limits, {});
  });

  it('keeps a database or schema the override already sets; adding one is allowed, as at attach', async (t) => {
    const w = await world(t);
    if (!w) return;
    const instance = await w.attach(w.warehouse, { alias: 'db', config_override: { database: 'reports' } });
    const path = `/connectors/instances/${instance.id}`;
    problem(await w.asDeveloper('PATCH', path, { config_override: { database: 'payroll' } }), 403, 'forbidden');
    problem(await w.asDeveloper('PATCH', path, { config_override: { schema: 'public' } }), 403, 'forbidden');
    const added = ok<InstanceView>(await w.asDeveloper('PATCH', path, { config_override: { database: 'reports', schema: 'sales' } }));
    assert.deepEqual(added.config_override, { database: 'reports', schema: 'sales' });
  });

  it('never touches a read_write attachment: no change, no detach', async (t) => {
    const w = await world(t);
    if (!w) return;
    const instance = await w.attach(w.files, { alias: 'files', mode: 'read_write' });
    const path = `/connectors/instances/${instance.id}`;
    problem(await w.asDeveloper('PATCH', path, { alias: 'renamed' }), 403, 'forbidden');
    problem(await w.asDeveloper('PATCH', path, { mode: 'read' }), 403, 'forbidden');
    problem(await w.asDeveloper('PATCH', path, { config_override: { prefix: 'team/narrower/' } }), 403, 'forbidden');
    problem(await w.asDeveloper('DELETE', path), 403, 'forbidden');
    assert.equal(ok<{ data: InstanceView[] }>(await w.asAdmin('GET', '/agents/agent-1/connectors')).data[0]?.alias, 'files');
    assert.equal((await w.asAdmin('DELETE', path)).statusCode, 204);
  });

  it('lets only an admin key or the agent token act on a read_write attachment over the run-time path', async (t) => {
    const target = await targetDatabase(t, 'CREATE TABLE notes (body text)');
    if (!target) return;
    const ctx = await build(t);
    if (!ctx) return;
    const { admin, developer, asDeveloper } = await developerOf(ctx);
    const asAdmin = client(ctx.app, admin.key);
    ok(await asAdmin('POST', '/agents', { id: 'agent-1' }), 201);
    const { token } = ok<TokenBody>(await asAdmin('POST', '/agents/agent-1/tokens', {}), 201);
    const { id } = ok<{ id: string }>(
      await asAdmin('POST', '/connectors', {
        name: 'notes',
        connector_type: 'database',
        provider: 'postgresql',
        config: { host: '127.0.0.1', port: 5432, username: 'postgres', database: target.name },
      }),
      201,
    );
    ok(await asAdmin('POST', `/connectors/${id}/attach`, { agent_id: 'agent-1', alias: 'rw', mode: 'read_write' }), 201);
    ok(await asAdmin('POST', `/connectors/${id}/attach`, { agent_id: 'agent-1', alias: 'ro' }), 201);
    const insert = { query: "INSERT INTO notes VALUES ('x')" };

    problem(await asDeveloper('POST', '/agents/agent-1/connectors/rw/execute', insert), 403, 'forbidden');
    problem(await asDeveloper('POST', '/agents/agent-1/connectors/rw/execute', { query: 'SELECT 1' }), 403, 'forbidden');
    // The same through MCP: the tool call answers forbidden.
    const mcp = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/agents/agent-1/mcp',
      headers: { authorization: `Bearer ${developer.key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      payload: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'rw__query', arguments: insert } },
    });
    assert.equal(mcp.statusCode, 200, mcp.body);
    const answer = mcp.json() as { result?: { isError?: boolean; structuredContent?: { error?: { code?: string } } } };
    assert.equal(answer.result?.isError, true, mcp.body);
    assert.equal(answer.result?.structuredContent?.error?.code, 'forbidden', mcp.body);
    assert.equal(Number((await target.query('SELECT count(*) AS n FROM notes')).rows[0].n), 0, 'nothing written by the developer key');

    ok(await asDeveloper('POST', '/agents/agent-1/connectors/ro/execute', { query: 'SELECT 1' }));
    ok(await client(ctx.app, token)('POST', '/agents/agent-1/connectors/rw/execute', insert));
    ok(await asAdmin('POST', '/agents/agent-1/connectors/rw/execute', insert));
    assert.equal(Number((await target.query('SELECT count(*) AS n FROM notes')).rows[0].n), 2);
  });
});
