import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { build, type TestApp } from '../support/app.js';
import { dialects } from '../support/db.js';
import { client, ok, problem } from '../support/http.js';
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
