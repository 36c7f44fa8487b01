import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { startRestPeer } from '../support/http-peers.js';
import { client, ok, problem } from '../support/http.js';
import { targetDatabase } from '../support/pg.js';
import { redisCommand } from '../support/redis.js';
import { uniqueIdentifier } from '../support/names.js';
import { requireServer } from '../support/servers.js';
import { agentWorld, mcpOutcome, restOutcome, type AgentWorld } from './support.js';
import { inOrganization } from '../support/contexts.js';

const peer = await startRestPeer();
after(() => peer.stop());

const ORDERS = `CREATE TABLE orders (id int PRIMARY KEY, tenant_id int NOT NULL, note text);
INSERT INTO orders VALUES (1, 1, 'first'), (2, 1, 'second'), (3, 2, 'third');`;

/** The world of these tests: postgresql read (`db`) and read_write (`rw`), redis (`cache`), pub/sub (`events`), rest (`api`). */
async function world(t: TestContext, env: Record<string, string> = {}) {
  if (!(await requireServer(t, 'postgresql')) || !(await requireServer(t, 'redis'))) return undefined;
  const w = await agentWorld(t, { env });
  const target = await targetDatabase(t, ORDERS);
  if (!w || !target) return undefined;
  const pg = await w.connector('postgresql', { host: '127.0.0.1', port: 5432, username: 'postgres', database: target.name });
  await w.attach(pg, 'db');
  await w.attach(pg, 'rw', { mode: 'read_write' });
  await w.attach(await w.connector('redis', { host: '127.0.0.1', port: 6379 }), 'cache');
  await w.attach(await w.connector('redis_pubsub', { host: '127.0.0.1', port: 6379 }), 'events');
  await w.attach(await w.connector('rest', { base_url: peer.baseUrl }), 'api');
  return { ...w, target };
}

const EXPECTED_TOOLS = ['api__request', 'cache__command', 'db__describe', 'db__query', 'events__consume', 'rw__describe', 'rw__query'];

/** POST a JSON-RPC message to the MCP endpoint with fetch, as any HTTP client would. */
function post(w: AgentWorld, body: unknown, headers: Record<string, string> = {}, path = `/agents/${w.agentId}/mcp`) {
  return fetch(`${w.base}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
const listRequest = { jsonrpc: '2.0', id: 1, method: 'tools/list' };

describe('the MCP endpoint of an agent', () => {
  it('lists exactly the attachments as tools, without write tools in read mode, as GET /tools does', async (t) => {
    const w = await world(t);
    if (!w) return;
    const mcp = await w.mcp();
    const { tools } = await mcp.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), EXPECTED_TOOLS);
    const byName = new Map(tools.map((tool) => [tool.name, tool]));

    // A read attachment offers reads only; the same connector in read_write mode is not read-only.
    assert.equal(byName.get('db__query')?.annotations?.readOnlyHint, true);
    assert.equal(byName.get('rw__query')?.annotations?.readOnlyHint, false);
    assert.equal(byName.get('rw__query')?.annotations?.destructiveHint, true);
    assert.equal(byName.get('api__request')?.annotations?.openWorldHint, true);
    assert.equal(byName.get('db__query')?.annotations?.openWorldHint, false);
    for (const tool of tools) {
      assert.ok(tool.name.length <= 64 && tool.name === tool.name.toLowerCase(), tool.name);
      assert.equal(tool.inputSchema.type, 'object');
      assert.equal(tool.outputSchema?.type, 'object');
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        assert.equal(typeof tool.annotations?.[hint], 'boolean', `${tool.name} ${hint}`);
      }
    }
    // The input schema is the provider operation's own: the SQL query needs `query`, the pub/sub consume takes max_messages.
    assert.deepEqual(byName.get('db__query')?.inputSchema.required, ['query']);
    assert.ok('max_messages' in (byName.get('events__consume')?.inputSchema.properties ?? {}));
    // The description comes from the provider, mode and limits; never from the config.
    const description = byName.get('db__query')?.description ?? '';
    assert.match(description, /postgresql/);
    assert.match(description, /Read-only/);
    assert.match(description, /1000 rows/);
    assert.ok(!tools.some((tool) => JSON.stringify(tool).includes(w.target.name)), 'no config value (the database name) in any tool');

    // GET /tools gives the same definitions, to the agent's token and to a member.
    const member = await w.ctx.user('member', { org: w.admin.orgSlug });
    for (const key of [w.token, member.key]) {
      const listed: { data: (Tool & { alias: string; operation: string })[] } = ok(await client(w.ctx.app, key)('GET', `/agents/${w.agentId}/tools`));
      assert.deepEqual(listed.data.map((tool) => tool.name).sort(), EXPECTED_TOOLS);
      for (const tool of listed.data) {
        const mcpTool = byName.get(tool.name);
        assert.equal(`${tool.alias}__${tool.operation}`, tool.name);
        assert.deepEqual(
          { description: tool.description, inputSchema: tool.inputSchema, outputSchema: tool.outputSchema, annotations: tool.annotations },
          { description: mcpTool?.description, inputSchema: mcpTool?.inputSchema, outputSchema: mcpTool?.outputSchema, annotations: mcpTool?.annotations },
        );
      }
    }
    const narrowed = ok<{ data: Tool[] }>(await client(w.ctx.app, w.token)('GET', `/agents/${w.agentId}/tools?aliases=db,nobody`));
    assert.deepEqual(narrowed.data.map((tool) => tool.name).sort(), ['db__describe', 'db__query']);
  });

  it('narrows the tools to ?aliases=, for listing and calling', async (t) => {
    const w = await world(t);
    if (!w) return;
    const mcp = await w.mcp({ aliases: 'db,cache' });
    assert.deepEqual((await mcp.listTools()).tools.map((tool) => tool.name).sort(), ['cache__command', 'db__describe', 'db__query']);
    const outside = mcpOutcome((await mcp.callTool({ name: 'rw__query', arguments: { query: 'SELECT 1' } })) as CallToolResult);
    assert.equal(outside.ok ? 'ok' : outside.code, 'not_found');
    const unknown = mcpOutcome((await mcp.callTool({ name: 'nonsense', arguments: {} })) as CallToolResult);
    assert.equal(unknown.ok ? 'ok' : unknown.code, 'not_found');
  });

  it('calls each family of tool and answers what REST answers; refuses a write tool called anyway in read mode', async (t) => {
    const w = await world(t);
    if (!w) return;
    const key = uniqueIdentifier('mcp_key');
    await redisCommand(['SET', key, 'cached value']);
    t.after(() => redisCommand(['DEL', key]));
    const mcp = await w.mcp();
    const cases: [alias: string, operation: string, input: Record<string, unknown>][] = [
      ['db', 'query', { query: 'SELECT id, note FROM orders WHERE tenant_id = :tenant ORDER BY id', params: { tenant: 1 } }],
      ['db', 'describe', {}],
      ['rw', 'query', { query: "UPDATE orders SET note = 'first' WHERE id = 1" }],
      ['cache', 'command', { command: ['GET', key] }],
      ['events', 'consume', { channel: uniqueIdentifier('quiet'), max_messages: 1, wait_ms: 50 }],
      ['api', 'request', { path: '/health' }],
    ];
    for (const [alias, operation, input] of cases) {
      const viaMcp = mcpOutcome((await mcp.callTool({ name: `${alias}__${operation}`, arguments: input })) as CallToolResult);
      const viaRest = restOutcome(await w.rest(alias, { operation, ...input }));
      assert.deepEqual(viaMcp, viaRest, `${alias}__${operation}`);
      assert.equal(viaMcp.ok, true, `${alias}__${operation}: ${JSON.stringify(viaMcp)}`);
    }
    const described = mcpOutcome((await mcp.callTool({ name: 'db__describe', arguments: {} })) as CallToolResult);
    assert.deepEqual(described.ok && described.data, {
      tables: [
        {
          name: 'orders',
          columns: [
            { name: 'id', type: 'integer', nullable: false },
            { name: 'tenant_id', type: 'integer', nullable: false },
            { name: 'note', type: 'text', nullable: true },
          ],
        },
      ],
    });
    const cached = mcpOutcome((await mcp.callTool({ name: 'cache__command', arguments: { command: ['GET', key] } })) as CallToolResult);
    assert.deepEqual(cached.ok && cached.data, 'cached value');

    // Not listed in read mode, and refused when called anyway; a writing input of a listed tool is refused too.
    for (const [name, input] of [
      ['events__publish', { channel: uniqueIdentifier('never'), message: 'x' }],
      ['cache__command', { command: ['SET', key, 'changed'] }],
      ['db__query', { query: 'DELETE FROM orders' }],
    ] as const) {
      const refused = mcpOutcome((await mcp.callTool({ name, arguments: input })) as CallToolResult);
      assert.equal(refused.ok ? 'ok' : refused.code, 'read_only', name);
    }
    assert.equal(await redisCommand(['GET', key]), 'cached value');
    assert.equal((await w.target.query('SELECT count(*)::int AS n FROM orders')).rows[0]?.n, 3);
    // The agent's token never reaches a connector.
    assert.ok(!JSON.stringify(peer.requests).includes(w.token));
  });

  it('authenticates every request before any JSON-RPC, and refuses what it does not serve', async (t) => {
    const w = await world(t, { PATCHBAY_ALLOWED_ORIGINS: 'https://allowed.example', PATCHBAY_BODY_LIMIT_BYTES: '4096' });
    if (!w) return;
    const answer = async (response: Response, status: number, code: string) => {
      assert.equal(response.status, status);
      const body = (await response.json()) as { code?: string; jsonrpc?: string };
      assert.equal(body.code, code);
      assert.equal(body.jsonrpc, undefined, 'a problem, not JSON-RPC');
      return response;
    };
    const unauthenticated = await answer(await post(w, listRequest), 401, 'unauthenticated');
    assert.match(unauthenticated.headers.get('www-authenticate') ?? '', /^Bearer/);
    await answer(await post(w, listRequest, { authorization: 'Bearer pbt_not-a-real-token' }), 401, 'unauthenticated');

    const services = w.ctx.app.services;
    const agent1 = await services.agents.require(w.admin.orgId, w.agentId);
    const revoked = await services.agents.issueToken(inOrganization(agent1.organization_id, w.admin.userId), agent1, {});
    await services.agents.revokeToken(inOrganization(agent1.organization_id), agent1, revoked.id);
    await answer(await post(w, listRequest, { authorization: `Bearer ${revoked.token}` }), 401, 'unauthenticated');

    // Another agent's endpoint, or another organisation's: "not found".
    const agent2 = await services.agents.create(inOrganization(w.admin.orgId, w.admin.userId), { id: 'agent-2' });
    const other = await services.agents.issueToken(inOrganization(agent2.organization_id, w.admin.userId), agent2, {});
    const auth = { authorization: `Bearer ${w.token}` };
    await answer(await post(w, listRequest, auth, '/agents/agent-2/mcp'), 404, 'not_found');
    await answer(await post(w, listRequest, { authorization: `Bearer ${other.token}` }), 404, 'not_found');
    const stranger = await w.ctx.user('admin');
    await answer(await post(w, listRequest, { authorization: `Bearer ${stranger.key}`, 'x-organization-id': w.admin.orgId }), 404, 'not_found');
    // Users: as on the REST run-time path, a developer may, a member may not.
    const member = await w.ctx.user('member', { org: w.admin.orgSlug });
    await answer(await post(w, listRequest, { authorization: `Bearer ${member.key}` }), 403, 'forbidden');
    const developer = await w.ctx.user('developer', { org: w.admin.orgSlug });
    assert.equal((await post(w, listRequest, { authorization: `Bearer ${developer.key}` })).status, 200);

    // Stateless: no event stream, no session to delete.
    for (const method of ['GET', 'DELETE']) {
      const response: Response = await fetch(`${w.base}/api/v1/agents/${w.agentId}/mcp`, { method, headers: { ...auth, accept: 'text/event-stream' } });
      await answer(response, 405, 'method_not_allowed');
      assert.equal(response.headers.get('allow'), 'POST');
    }
    // A browser Origin must be on PATCHBAY_ALLOWED_ORIGINS.
    await answer(await post(w, listRequest, { ...auth, origin: 'https://evil.example' }), 403, 'forbidden');
    assert.equal((await post(w, listRequest, { ...auth, origin: 'https://allowed.example' })).status, 200);
    // Fastify's own limits and parsing apply.
    const big = { ...listRequest, params: { padding: 'x'.repeat(8192) } };
    await answer(await post(w, big, auth), 413, 'payload_too_large');
    await answer(await post(w, '{"jsonrpc": ', auth), 400, 'bad_request');
    await answer(await post(w, ['not', 'json-rpc'], auth), 422, 'validation_failed');

    // JSON responses, no session id; a client without an Accept header (curl) is answered too.
    const listed = await post(w, listRequest, auth);
    assert.equal(listed.status, 200);
    assert.match(listed.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(listed.headers.get('mcp-session-id'), null);
    const bare = await fetch(`${w.base}/api/v1/agents/${w.agentId}/mcp`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify(listRequest),
    });
    const body = (await bare.json()) as { result: { tools: Tool[] } };
    assert.deepEqual(body.result.tools.map((tool) => tool.name).sort(), EXPECTED_TOOLS);
    // Notifications only: 202, no body.
    const notified = await post(w, { jsonrpc: '2.0', method: 'notifications/initialized' }, auth);
    assert.equal(notified.status, 202);
  });

  it('audits every call with its token, statement class and fingerprint (never a literal), size and client', async (t) => {
    const w = await world(t);
    if (!w) return;
    const auth = { authorization: `Bearer ${w.token}` };
    const initialize = {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'audit-client', version: '9.8.7' } },
    };
    assert.equal((await post(w, initialize, auth)).status, 200);
    const call = (query: string) => ({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'db__query', arguments: { query } } });
    const literal = uniqueIdentifier('zebra_literal');
    const first = await post(w, call(`SELECT id, note FROM orders WHERE note <> '${literal}' AND id < 98765`), { ...auth, 'user-agent': 'agent-runner/2.5.0 (linux)' });
    assert.equal(first.status, 200);
    assert.equal(((await first.json()) as { result: CallToolResult }).result.isError, undefined);
    await post(w, call("SELECT id, note FROM orders WHERE note <> 'other' AND id < 3"), auth);
    await post(w, call('DELETE FROM orders'), auth);
    ok(await w.rest('db', { query: 'SELECT 1 AS one' }, { 'user-agent': 'rest-caller/1.0' }));

    const events = await w.ctx.models.AuditEvent.findAll({ where: { organization_id: w.admin.orgId }, order: [['created_at', 'ASC']] });
    const initialized = events.find((event) => event.action === 'agent.mcp_initialize');
    assert.deepEqual(initialized?.detail, { client_name: 'audit-client', client_version: '9.8.7' });
    const executes = events.filter((event) => event.action === 'connector.execute');
    assert.equal(executes.length, 4);
    const details: Record<string, unknown>[] = executes.map((event) => ({ ...event.detail, outcome: event.outcome, actor: event.actor_id }));
    const [selected, again, deleted, viaRest] = details;
    const tokenId = (await w.ctx.models.AgentToken.findOne({ where: { prefix: w.token.slice(0, 12) } }))?.id;
    assert.ok(tokenId);
    assert.deepEqual(
      {
        outcome: selected?.outcome,
        actor: selected?.actor,
        token_id: selected?.token_id,
        agent_id: selected?.agent_id,
        alias: selected?.alias,
        operation: selected?.operation,
        statement_class: selected?.statement_class,
        rows: selected?.rows,
        truncated: selected?.truncated,
        client_name: selected?.client_name,
        client_version: selected?.client_version,
      },
      {
        outcome: 'success',
        actor: tokenId,
        token_id: tokenId,
        agent_id: 'agent-1',
        alias: 'db',
        operation: 'query',
        statement_class: 'select',
        rows: 3,
        truncated: false,
        client_name: 'agent-runner',
        client_version: '2.5.0',
      },
    );
    assert.equal(typeof selected?.bytes, 'number');
    assert.equal(typeof selected?.latency_ms, 'number');
    assert.match(String(selected?.statement_fingerprint), /^[0-9a-f]{16}$/);
    assert.equal(again?.statement_fingerprint, selected?.statement_fingerprint, 'other literals, same fingerprint');
    assert.deepEqual([deleted?.outcome, deleted?.statement_class, deleted?.error_code], ['failure', 'delete', 'read_only']);
    assert.notEqual(deleted?.statement_fingerprint, selected?.statement_fingerprint);
    assert.deepEqual([viaRest?.client_name, viaRest?.client_version, viaRest?.token_id], ['rest-caller', '1.0', tokenId]);
    const logged = JSON.stringify(events.map((event) => event.detail));
    assert.ok(!logged.includes(literal) && !logged.includes('98765'), 'no literal value in the audit log');
  });

  it('says in the description that a connector is failing or has bound parameters, and still calls it', async (t) => {
    const w = await world(t);
    if (!w) return;
    const instance = await w.ctx.models.ConnectorInstance.findOne({ where: { alias: 'db' } });
    assert.ok(instance);
    await w.ctx.models.Connector.update({ status: 'failing' }, { where: { id: instance.connector_id } });
    await w.ctx.app.services.attachments.patch(
      { organizationId: w.admin.orgId, actor: { type: 'user', id: w.admin.userId }, role: 'admin' },
      instance.id,
      { bound_params: { tenant_id: 2 } },
    );
    const mcp = await w.mcp({ aliases: 'db' });
    const query = (await mcp.listTools()).tools.find((tool) => tool.name === 'db__query');
    assert.match(query?.description ?? '', /failing/);
    assert.match(query?.description ?? '', /:tenant_id/);
    const params = (query?.inputSchema.properties as { params: { propertyNames: { not: { enum: string[] } } } }).params;
    assert.deepEqual(params.propertyNames.not.enum, ['tenant_id']);
    const result = mcpOutcome(
      (await mcp.callTool({ name: 'db__query', arguments: { query: 'SELECT id FROM orders WHERE tenant_id = :tenant_id' } })) as CallToolResult,
    );
    assert.deepEqual(result.ok && result.data, { columns: [{ name: 'id', type: 'integer' }], rows: [{ id: 3 }], row_count: 1 });
  });
});

describe('GET /api/v1/whoami', () => {
  it("answers a user's and an agent token's own identity", async (t) => {
    const w = await agentWorld(t);
    if (!w) return;
    const me = ok<Record<string, unknown>>(await client(w.ctx.app, w.admin.key)('GET', '/whoami'));
    const user = await w.ctx.models.User.findByPk(w.admin.userId);
    assert.deepEqual(me, {
      type: 'user',
      user: { id: w.admin.userId, email: user?.email },
      organizations: [{ id: w.admin.orgId, slug: w.admin.orgSlug, role: 'admin' }],
    });
    const agent = ok<Record<string, unknown>>(await client(w.ctx.app, w.token)('GET', '/whoami'));
    const token = await w.ctx.models.AgentToken.findOne({ where: { prefix: w.token.slice(0, 12) } });
    assert.deepEqual(agent, { type: 'agent', agent_id: 'agent-1', organization: { id: w.admin.orgId, slug: w.admin.orgSlug }, token_id: token?.id });
    problem(await client(w.ctx.app, undefined)('GET', '/whoami'), 401, 'unauthenticated');
  });
});
