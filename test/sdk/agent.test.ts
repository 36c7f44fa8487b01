import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PatchbayAgent, PatchbayError } from '../../packages/sdk/src/index.js';
import { RATE_WINDOW_MS } from '../../src/services/runtime/rate-limit-service.js';
import { client, ok } from '../support/http.js';
import { closedPort } from '../support/listeners.js';
import { recordingFetch, sdkWorld } from './support.js';
import { inOrganization } from '../support/contexts.js';

interface Rows {
  rows: Record<string, unknown>[];
}

/** Asserts that `promise` fails with a PatchbayError of this code and status, and returns the error. */
async function failure(promise: Promise<unknown>, code: string, status: number): Promise<PatchbayError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, the call succeeded`),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof PatchbayError, String(error));
  assert.equal(error.code, code, error.message);
  assert.equal(error.status, status);
  return error;
}

const paths = (calls: { method: string; url: string }[]) => calls.map((call) => `${call.method} ${new URL(call.url).pathname}`);

describe('@patchbay/sdk against a running server', () => {
  it('learns the agent id once, lists the attachments and runs operations', async (t) => {
    const w = await sdkWorld(t);
    if (!w) return;
    const recorder = recordingFetch();
    const agent = new PatchbayAgent({ baseUrl: w.base, token: w.token, fetch: recorder.fetch });

    const attachments = await agent.listAttachments();
    assert.deepEqual(attachments.map((attachment) => [attachment.alias, attachment.mode, attachment.connector.provider]).sort(), [
      ['db', 'read', 'postgresql'],
      ['rw', 'read_write', 'postgresql'],
    ]);
    assert.equal(attachments[0]?.agent_id, w.agentId);

    const result = await agent.execute('db', {
      query: 'SELECT id, note FROM orders WHERE tenant_id = :tenant ORDER BY id',
      params: { tenant: 1 },
    });
    assert.equal(result.ok, true);
    assert.equal(result.truncated, false);
    assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0);
    assert.deepEqual((result.data as Rows).rows, [
      { id: 1, note: 'first' },
      { id: 2, note: 'second' },
    ]);
    const described = await agent.execute('db', { operation: 'describe' });
    assert.deepEqual(
      (described.data as { tables: { name: string }[] }).tables.map((table) => table.name),
      ['orders'],
    );

    assert.deepEqual(paths(recorder.calls), [
      'GET /api/v1/whoami',
      'GET /api/v1/agents/agent-1/connectors',
      'POST /api/v1/agents/agent-1/connectors/db/execute',
      'POST /api/v1/agents/agent-1/connectors/db/execute',
    ]);

    // A developer's API key acts for the agent it names; without one it cannot tell which.
    const developer = await w.ctx.user('developer', { org: w.admin.orgSlug });
    const asDeveloper = new PatchbayAgent({ baseUrl: w.base, token: developer.key, agentId: w.agentId });
    assert.deepEqual((await asDeveloper.execute('db', { query: 'SELECT count(*)::int AS n FROM orders' })).data, {
      columns: [{ name: 'n', type: 'integer' }],
      rows: [{ n: 3 }],
      row_count: 1,
    });
    // A read_write attachment is the agent token's (or an admin's), not a developer key's.
    await failure(asDeveloper.execute('rw', { query: 'SELECT 1' }), 'forbidden', 403);
    await failure(new PatchbayAgent({ baseUrl: w.base, token: developer.key }).listAttachments(), 'bad_request', 0);
  });

  it('throws PatchbayError with the code, status, request id and field errors of the problem, without retrying', async (t) => {
    const w = await sdkWorld(t);
    if (!w) return;
    const recorder = recordingFetch();
    const agent = new PatchbayAgent({ baseUrl: w.base, token: w.token, agentId: w.agentId, fetch: recorder.fetch });

    const readOnly = await failure(agent.execute('db', { query: 'DELETE FROM orders' }), 'read_only', 403);
    assert.equal(readOnly.retryable, false);
    assert.match(readOnly.requestId ?? '', /.+/);
    assert.equal(readOnly.message, readOnly.detail);
    assert.equal(recorder.calls.length, 1, 'a refused call is not sent again');
    assert.equal((await w.target.query('SELECT count(*)::int AS n FROM orders')).rows[0]?.n, 3);

    await failure(agent.execute('nobody', { query: 'SELECT 1' }), 'not_found', 404);
    const invalid = await failure(agent.execute('db', {}), 'validation_failed', 422);
    assert.deepEqual(
      invalid.errors?.map((error) => error.path),
      ['query'],
    );
    const failed = await failure(agent.execute('db', { query: 'SELECT * FROM no_such_table' }), 'query_failed', 422);
    assert.equal(failed.retryable, false);

    // A revoked token: unauthenticated, and the agent id is asked again on the next call (nothing cached).
    const services = w.ctx.app.services;
    const owner = await services.agents.require(w.admin.orgId, w.agentId);
    const revoked = await services.agents.issueToken(inOrganization(owner.organization_id, w.admin.userId), owner, {});
    await services.agents.revokeToken(inOrganization(owner.organization_id), owner, revoked.id);
    const whoamiRecorder = recordingFetch();
    const revokedAgent = new PatchbayAgent({ baseUrl: w.base, token: revoked.token, fetch: whoamiRecorder.fetch });
    const unauthenticated = await failure(revokedAgent.listAttachments(), 'unauthenticated', 401);
    assert.equal(unauthenticated.retryable, false);
    await failure(revokedAgent.listAttachments(), 'unauthenticated', 401);
    assert.deepEqual(paths(whoamiRecorder.calls), ['GET /api/v1/whoami', 'GET /api/v1/whoami']);
  });

  it('tells failures that are not Patchbay problems apart, and retries only reads after them', async (t) => {
    const w = await sdkWorld(t);
    if (!w) return;
    // An HTTP server in Patchbay's place: a gateway failing, a server that is not Patchbay, a page that is not JSON.
    const impostor = http.createServer((request, response) => {
      if (request.url?.startsWith('/gateway/'))
        response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
      else if (request.url?.startsWith('/html/'))
        response.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Welcome</h1>');
      else response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    });
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise((resolve) => impostor.close(resolve)));
    const origin = `http://127.0.0.1:${(impostor.address() as AddressInfo).port}`;
    const agentAt = (baseUrl: string) => {
      const recorder = recordingFetch();
      return {
        recorder,
        agent: new PatchbayAgent({ baseUrl, token: w.token, agentId: w.agentId, fetch: recorder.fetch, maxRetries: 2 }),
      };
    };

    const gateway = agentAt(`${origin}/gateway`);
    const badGateway = await failure(gateway.agent.listAttachments(), 'upstream_error', 502);
    assert.equal(badGateway.retryable, true);
    assert.equal(gateway.recorder.calls.length, 3, 'a read is tried again, maxRetries times');
    await failure(gateway.agent.execute('db', { query: 'SELECT 1' }), 'upstream_error', 502);
    assert.equal(gateway.recorder.calls.length, 4, 'an operation is not: it may have run');

    const elsewhere = agentAt(`${origin}/elsewhere`);
    assert.equal((await failure(elsewhere.agent.listAttachments(), 'upstream_error', 404)).retryable, false);
    assert.equal(elsewhere.recorder.calls.length, 1);
    const html = agentAt(`${origin}/html`);
    assert.equal((await failure(html.agent.listAttachments(), 'upstream_error', 200)).retryable, false);

    const unreachable = agentAt(`http://127.0.0.1:${await closedPort()}`);
    const refused = await failure(unreachable.agent.listAttachments(), 'upstream_error', 0);
    assert.equal(refused.retryable, true);
    assert.equal(unreachable.recorder.calls.length, 3);
    await failure(unreachable.agent.execute('db', { query: 'SELECT 1' }), 'upstream_error', 0);
    assert.equal(unreachable.recorder.calls.length, 4);
  });

  it('retries a rate-limited call after the wait the server names, up to maxRetries', async (t) => {
    const w = await sdkWorld(t);
    if (!w) return;
    const limitedId = await w.attach(w.pg, 'limited', { limits: { rate_per_minute: 1 } });
    const asAdmin = client(w.ctx.app, w.admin.key);
    const setRate = async (perMinute: number) => {
      ok(await asAdmin('PATCH', `/connectors/instances/${limitedId}`, { limits: { rate_per_minute: perMinute } }));
    };
    // The server asks for the rest of its minute; the tests shorten that wait (in the body or the Retry-After
    // header), and may lift the limit while the SDK waits, so that the retry passes.
    const refusals: { retryAfterMs: unknown; retryAfter: string | null; handedBackAt: number }[] = [];
    let shorten: (body: Record<string, unknown>, headers: Headers) => void = () => undefined;
    let duringWait: () => Promise<void> = async () => undefined;
    const recorder = recordingFetch(async (response) => {
      if (response.status !== 429) return response;
      const body = (await response.json()) as Record<string, unknown>;
      const headers = new Headers(response.headers);
      headers.delete('content-length');
      const refusal = { retryAfterMs: body.retry_after_ms, retryAfter: headers.get('retry-after'), handedBackAt: 0 };
      shorten(body, headers);
      await duringWait();
      refusals.push({ ...refusal, handedBackAt: performance.now() });
      return new Response(JSON.stringify(body), { status: 429, headers });
    });
    const agentWith = (maxRetries?: number) =>
      new PatchbayAgent({ baseUrl: w.base, token: w.token, agentId: w.agentId, fetch: recorder.fetch, maxRetries });
    const query = { query: 'SELECT 1 AS one' };
    // How long the SDK waited after each refusal from the `from`th on, until it sent the call again.
    const waitsMs = (from: number) =>
      refusals.slice(from).flatMap((refusal) =>
        recorder.calls
          .filter((call) => call.at > refusal.handedBackAt)
          .slice(0, 1)
          .map((call) => call.at - refusal.handedBackAt),
      );

    // Calls are counted per fixed window: start where the rest of this test cannot cross into the next one.
    const leftMs = RATE_WINDOW_MS - (Date.now() % RATE_WINDOW_MS);
    if (leftMs < 10_000) await new Promise((resolve) => setTimeout(resolve, leftMs + 100));
    await agentWith().execute('limited', query);
    // retry_after_ms in the body.
    shorten = (body) => {
      body.retry_after_ms = 300;
    };
    duringWait = () => setRate(1000);
    let from = recorder.calls.length;
    assert.deepEqual((await agentWith().execute('limited', query)).data, {
      columns: [{ name: 'one', type: 'integer' }],
      rows: [{ one: 1 }],
      row_count: 1,
    });
    assert.equal(recorder.calls.length - from, 2);
    assert.deepEqual(
      // A timer may fire a fraction of a millisecond early against performance.now(): allow a little slack.
      waitsMs(0).map((ms) => ms >= 295 && ms < 5000),
      [true],
      `waited ${waitsMs(0)} ms`,
    );
    // What the server asked for: the rest of its minute, in the body and in whole seconds in Retry-After.
    const [asked] = refusals;
    assert.ok(typeof asked?.retryAfterMs === 'number' && asked.retryAfterMs > 0 && asked.retryAfterMs <= RATE_WINDOW_MS);
    assert.equal(asked.retryAfter, String(Math.ceil(asked.retryAfterMs / 1000)));

    // Retry-After alone (seconds).
    await setRate(1);
    shorten = (body, headers) => {
      delete body.retry_after_ms;
      headers.set('retry-after', '1');
    };
    await agentWith().execute('limited', query);
    assert.deepEqual(
      waitsMs(1).map((ms) => ms >= 995 && ms < 6000),
      [true],
      `waited ${waitsMs(1)} ms`,
    );

    // A limit that stays: maxRetries more tries, then the last refusal.
    await setRate(1);
    shorten = (body) => {
      body.retry_after_ms = 50;
    };
    duringWait = async () => undefined;
    from = recorder.calls.length;
    const limited = await failure(agentWith(2).execute('limited', query), 'rate_limited', 429);
    assert.equal(limited.retryable, true);
    assert.equal(limited.retryAfterMs, 50);
    assert.equal(recorder.calls.length - from, 3);
    // Node's timers may fire up to a millisecond before performance.now() says the delay is over.
    assert.deepEqual(
      waitsMs(2).map((ms) => ms >= 49),
      [true, true],
      `waited ${waitsMs(2)} ms`,
    );
    from = recorder.calls.length;
    await failure(agentWith(0).execute('limited', query), 'rate_limited', 429);
    assert.equal(recorder.calls.length - from, 1);
  });

  it('lists the tools as the server defines them, and dispatches calls to them', async (t) => {
    const w = await sdkWorld(t);
    if (!w) return;
    const recorder = recordingFetch();
    const agent = new PatchbayAgent({ baseUrl: w.base, token: w.token, fetch: recorder.fetch });
    const tools = await agent.tools();
    assert.deepEqual(tools.definitions.map((tool) => tool.name).sort(), [
      'db__describe',
      'db__query',
      'rw__describe',
      'rw__query',
    ]);
    const served = ok<{ data: unknown[] }>(await client(w.ctx.app, w.token)('GET', `/agents/${w.agentId}/tools`));
    assert.deepEqual(tools.definitions, served.data);
    const query = tools.definitions.find((tool) => tool.name === 'db__query');
    assert.equal(query?.inputSchema.type, 'object');
    assert.deepEqual(query?.inputSchema.required, ['query']);
    assert.deepEqual([query?.alias, query?.operation, query?.annotations.readOnlyHint], ['db', 'query', true]);
    assert.equal(tools.definitions.find((tool) => tool.name === 'rw__query')?.annotations.readOnlyHint, false);

    const counted = await tools.call('db__query', {
      query: 'SELECT count(*)::int AS n FROM orders WHERE tenant_id = :tenant',
      params: { tenant: 1 },
    });
    assert.deepEqual((counted.data as Rows).rows, [{ n: 2 }]);
    const described = await tools.call('rw__describe');
    assert.deepEqual(
      (described.data as { tables: { name: string }[] }).tables.map((table) => table.name),
      ['orders'],
    );
    // The tool names the operation: an `operation` among the arguments does not change it.
    const notDescribed = await tools.call('db__query', { operation: 'describe', query: 'SELECT 1 AS one' });
    assert.deepEqual((notDescribed.data as Rows).rows, [{ one: 1 }]);
    await failure(tools.call('db__query', { query: 'DELETE FROM orders' }), 'read_only', 403);

    const sent = recorder.calls.length;
    const unknown = await failure(tools.call('nonsense', {}), 'not_found', 0);
    assert.equal(unknown.retryable, false);
    assert.equal(recorder.calls.length, sent, 'an unknown tool sends nothing');

    const narrowed = await agent.tools({ aliases: ['db'] });
    assert.deepEqual(narrowed.definitions.map((tool) => tool.name).sort(), ['db__describe', 'db__query']);
    await failure(narrowed.call('rw__query', { query: 'SELECT 1' }), 'not_found', 0);
  });

  it("gives MCP clients the agent's endpoint and credential, and never shows the token", async (t) => {
    const w = await sdkWorld(t);
    if (!w) return;
    const agent = new PatchbayAgent({ baseUrl: `${w.base}/`, token: w.token });
    assert.equal(await agent.mcpUrl(), `${w.base}/api/v1/agents/${w.agentId}/mcp`);
    assert.equal(await agent.mcpUrl({ aliases: ['db', 'rw'] }), `${w.base}/api/v1/agents/${w.agentId}/mcp?aliases=db%2Crw`);
    assert.deepEqual(agent.mcpHeaders(), { Authorization: `Bearer ${w.token}` });

    const mcp = new Client({ name: 'sdk-test', version: '1.0.0' });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(await agent.mcpUrl({ aliases: ['db'] })), {
        requestInit: { headers: agent.mcpHeaders() },
      }),
    );
    t.after(() => mcp.close());
    assert.deepEqual((await mcp.listTools()).tools.map((tool) => tool.name).sort(), ['db__describe', 'db__query']);

    assert.ok(!inspect(agent, { showHidden: true }).includes(w.token));
    assert.ok(!JSON.stringify(agent).includes(w.token));
  });
});

// Compile-time checks (npm run typecheck): an alias map types each alias's requests.
function typedRequests(agent: PatchbayAgent<{ db: 'postgresql'; files: 's3' }>) {
  void agent.execute('db', { query: 'SELECT * FROM orders WHERE id = :id', params: { id: 1 } });
  void agent.execute('db', { operation: 'describe' });
  void agent.execute('files', {});
  void agent.execute('files', { operation: 'put', key: 'a.txt', body: 'aGk=', encoding: 'base64' });
  // @ts-expect-error: an alias the map does not declare
  void agent.execute('cache', { command: ['GET', 'key'] });
  // @ts-expect-error: s3's get needs a key
  void agent.execute('files', { operation: 'get' });
  // @ts-expect-error: a field PostgreSQL's query does not take
  void agent.execute('db', { query: 'SELECT 1', key: 'a.txt' });
  // @ts-expect-error: PostgreSQL has no such operation
  void agent.execute('db', { operation: 'get', key: 'a.txt' });
}
void typedRequests;
