import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { jsonDepthExceeds, MAX_JSON_DEPTH } from '../../src/plugins/request-guard.js';
import { MASK, scrubDeep, scrubber } from '../../src/providers/scrub.js';
import { build } from '../support/app.js';
import { dialects } from '../support/db.js';
import { client, errorPaths, ok, problem, type Call } from '../support/http.js';
import { targetDatabase } from '../support/pg.js';

interface ConnectorBody {
  id: string;
  version: number;
  description: string | null;
  config: Record<string, unknown>;
}
interface SqlResult {
  data: { rows: Record<string, unknown>[]; row_count: number };
}

const BODY_LIMIT = 16_384;
const pgConfig = { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres', password: 'not-used-by-trust-auth' };
const newConnector = (name: string, config: Record<string, unknown> = pgConfig) => ({
  name,
  connector_type: 'database',
  provider: 'postgresql',
  config,
});

/** An app with a small body limit, an admin, a developer, a member and one agent; nothing is dialled. */
async function setup(t: TestContext) {
  const ctx = await build(t, { env: { PATCHBAY_BODY_LIMIT_BYTES: String(BODY_LIMIT) } });
  if (!ctx) return undefined;
  const admin = await ctx.user('admin');
  const developer = await ctx.user('developer', { org: admin.orgSlug });
  const member = await ctx.user('member', { org: admin.orgSlug });
  const asAdmin = client(ctx.app, admin.key);
  const asDeveloper = client(ctx.app, developer.key);
  ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
  return { ctx, asAdmin, asDeveloper, asMember: client(ctx.app, member.key), asNobody: client(ctx.app, undefined) };
}

const create = async (asAdmin: Call, name: string, config?: Record<string, unknown>) =>
  ok<ConnectorBody>(await asAdmin('POST', '/connectors', newConnector(name, config)), 201);

describe('bad input', () => {
  it('answers 400 for a body that is not JSON and 413 for one too large, after the credential and the role', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asMember, asNobody } = setupResult;
    const json = { 'content-type': 'application/json' };

    problem(await asAdmin('POST', '/connectors', '{"name": "x",', json), 400, 'bad_request');
    problem(await asAdmin('POST', '/connectors', '', json), 400, 'bad_request');
    problem(await asAdmin('POST', '/connectors', '<connector/>', { 'content-type': 'application/xml' }), 400, 'bad_request');
    problem(
      await asAdmin('POST', '/connectors', JSON.stringify(newConnector('plain')), { 'content-type': 'text/plain' }),
      400,
      'bad_request',
    );
    problem(
      await asAdmin('POST', '/connectors', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }),
      400,
      'bad_request',
    );
    const huge = newConnector('huge', { ...pgConfig, schema: 'x'.repeat(BODY_LIMIT) });
    problem(await asAdmin('POST', '/connectors', huge), 413, 'payload_too_large');
    const existing = ok<ConnectorBody>(await asAdmin('POST', '/connectors', newConnector('existing')), 201);
    problem(
      await asAdmin('PUT', `/connectors/${existing.id}`, { description: 'x'.repeat(BODY_LIMIT) }),
      413,
      'payload_too_large',
    );
    // The connector's existence is decided before the body is read.
    problem(await asAdmin('PUT', '/connectors/no-such-connector', { description: 'x'.repeat(BODY_LIMIT) }), 404, 'not_found');
    problem(await asAdmin('PUT', '/connectors/no-such-connector', '{"description": ', json), 404, 'not_found');

    // DESIGN.md section 5: the credential and the role are decided before the body is even read.
    problem(await asNobody('POST', '/connectors', '{"name": "x",', json), 401, 'unauthenticated');
    problem(await asNobody('POST', '/connectors', huge), 401, 'unauthenticated');
    problem(await asMember('POST', '/connectors', '{"name": "x",', json), 403, 'forbidden');
    problem(await asMember('POST', '/connectors', huge), 403, 'forbidden');
    problem(await asMember('POST', '/connectors', 'x', { 'content-type': 'text/plain' }), 403, 'forbidden');
  });

  it('answers 422 naming every wrong field: types, unknown fields, providers, intervals, pages', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asDeveloper } = setupResult;
    const invalid = async (call: Promise<Parameters<typeof problem>[0]>) =>
      errorPaths(problem(await call, 422, 'validation_failed'));

    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', newConnector('typed', { ...pgConfig, port: 'five' }))), [
      'config.port',
    ]);
    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', { ...newConnector('typed'), name: 42 })), ['name']);
    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', { ...newConnector('top'), surprise: true })), ['surprise']);
    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', newConnector('inner', { ...pgConfig, surprise: true }))), [
      'config.surprise',
    ]);
    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', { ...newConnector('type'), connector_type: 'quantum' })), [
      'connector_type',
    ]);
    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', { ...newConnector('provider'), provider: 'oracle' })), [
      'provider',
    ]);
    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', { ...newConnector('mismatch'), provider: 'rest' })), [
      'provider',
    ]);
    assert.deepEqual(
      await invalid(
        asAdmin(
          'POST',
          '/connectors',
          newConnector('both', { connection_string: 'postgres://postgres@127.0.0.1/test', host: '127.0.0.1' }),
        ),
      ),
      ['config.connection_string'],
    );
    assert.deepEqual(
      await invalid(asAdmin('POST', '/connectors', newConnector('scheme', { connection_string: 'mysql://u:p@127.0.0.1/db' }))),
      ['config.connection_string'],
    );
    assert.deepEqual(await invalid(asAdmin('POST', '/connectors', { ...newConnector('often'), health_check_interval_s: 5 })), [
      'health_check_interval_s',
    ]);
    assert.deepEqual(
      await invalid(asAdmin('POST', '/connectors', { ...newConnector('negative'), health_check_interval_s: -1 })),
      ['health_check_interval_s'],
    );
    ok(await asAdmin('POST', '/connectors', { ...newConnector('off'), health_check_interval_s: 0 }), 201);
    ok(await asAdmin('POST', '/connectors', { ...newConnector('minimum'), health_check_interval_s: 30 }), 201);

    // The same rules on update, where config is merged first and validated again.
    const connector = await create(asAdmin, 'updated');
    const url = `/connectors/${connector.id}`;
    assert.deepEqual(await invalid(asAdmin('PUT', url, { health_check_interval_s: 5 })), ['health_check_interval_s']);
    assert.deepEqual(await invalid(asAdmin('PUT', url, { config: { port: 0 } })), ['config.port']);
    assert.deepEqual(await invalid(asAdmin('PUT', url, { config: { surprise: 1 } })), ['config.surprise']);
    assert.deepEqual(await invalid(asAdmin('PUT', url, { surprise: 1 })), ['surprise']);
    assert.deepEqual(
      await invalid(asAdmin('PUT', url, { config: { connection_string: 'postgres://postgres@127.0.0.1/test' } })),
      ['config.connection_string'],
    );
    // null removes an optional field, and a required one cannot go.
    assert.equal(
      ok<ConnectorBody>(await asAdmin('PUT', url, { description: 'temp', config: { schema: 'public' } })).config.schema,
      'public',
    );
    const removed = ok<ConnectorBody>(await asAdmin('PUT', url, { description: null, config: { schema: null, password: null } }));
    assert.equal(removed.description, null);
    assert.ok(!('schema' in removed.config) && !('password' in removed.config), JSON.stringify(removed.config));
    assert.deepEqual(await invalid(asAdmin('PUT', url, { config: { username: null } })), ['config.username']);
    // With the separate fields gone, a connection string alone is valid.
    ok(
      await asAdmin('PUT', url, {
        config: { host: null, port: null, username: null, connection_string: 'postgres://postgres@127.0.0.1:5432/test' },
      }),
    );

    assert.deepEqual(await invalid(asDeveloper('GET', '/connectors?limit=500')), ['limit']);
    assert.deepEqual(await invalid(asDeveloper('GET', '/connectors?limit=0')), ['limit']);
    assert.deepEqual(await invalid(asDeveloper('GET', '/connectors?limit=ten')), ['limit']);
    assert.deepEqual(await invalid(asDeveloper('GET', '/connectors?cursor=not-a-cursor')), ['cursor']);
    assert.deepEqual(
      await invalid(asDeveloper('GET', `/connectors?cursor=${Buffer.from('["yesterday", 1]').toString('base64url')}`)),
      ['cursor'],
    );
    assert.deepEqual(await invalid(asDeveloper('GET', '/connectors?status=sleepy')), ['status']);
    assert.deepEqual(await invalid(asDeveloper('GET', '/connectors?surprise=1')), ['surprise']);
    assert.deepEqual(await invalid(asDeveloper('GET', `/connectors/${connector.id}/health?limit=500`)), ['limit']);
    // Health history is keyed by an integer: a cursor with any other id is not one of ours.
    const crafted = Buffer.from(JSON.stringify([new Date().toISOString(), 'not-a-number'])).toString('base64url');
    assert.deepEqual(await invalid(asDeveloper('GET', `/connectors/${connector.id}/health?cursor=${crafted}`)), ['cursor']);
    // A NUL in a cursor's id never reaches the database (the fuzz test once found it answered 500).
    const withNul = Buffer.from(JSON.stringify(['2020-01-01T00:00:00Z', 'a\u0000b'])).toString('base64url');
    assert.deepEqual(await invalid(asDeveloper('GET', `/connectors?cursor=${withNul}`)), ['cursor']);
    assert.deepEqual(await invalid(asAdmin('GET', `/webhooks?cursor=${withNul}`)), ['cursor']);
  });

  it('refuses attachments that break the alias, override and privilege rules', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asDeveloper } = setupResult;
    const connector = await create(asAdmin, 'attached');
    const attach = (call: Call, body: Record<string, unknown>) =>
      call('POST', `/connectors/${connector.id}/attach`, { agent_id: 'agent-1', ...body });

    for (const alias of ['Main', 'a__b', 'x'.repeat(41), '1db', 'main-db', '']) {
      assert.deepEqual(errorPaths(problem(await attach(asDeveloper, { alias }), 422, 'validation_failed')), ['alias'], alias);
    }
    ok(await attach(asDeveloper, { alias: 'x'.repeat(40) }), 201);
    ok(await attach(asDeveloper, { alias: 'main_db' }), 201);
    problem(await attach(asDeveloper, { alias: 'main_db' }), 409, 'conflict');
    ok(await asDeveloper('POST', '/agents', { id: 'agent-2' }), 201);
    ok(await asDeveloper('POST', `/connectors/${connector.id}/attach`, { agent_id: 'agent-2', alias: 'main_db' }), 201);
    problem(await attach(asDeveloper, { agent_id: 'nobody', alias: 'other' }), 404, 'not_found');

    // Only overridable fields: never a secret, never the host.
    for (const field of ['host', 'password', 'port', 'username', 'surprise']) {
      const refused = problem(
        await attach(asDeveloper, { alias: 'override', config_override: { [field]: 'x' } }),
        422,
        'validation_failed',
      );
      assert.deepEqual(errorPaths(refused), [`config_override.${field}`], field);
    }
    assert.deepEqual(
      errorPaths(
        problem(await attach(asDeveloper, { alias: 'override', config_override: { schema: 42 } }), 422, 'validation_failed'),
      ),
      ['config_override.schema'],
    );
    ok(await attach(asDeveloper, { alias: 'override', config_override: { database: 'postgres', schema: 'public' } }), 201);

    // read_write and limits above the defaults need an admin.
    problem(await attach(asDeveloper, { alias: 'writer', mode: 'read_write' }), 403, 'forbidden');
    problem(await attach(asDeveloper, { alias: 'big', limits: { max_rows: 5000 } }), 403, 'forbidden');
    problem(await attach(asDeveloper, { alias: 'slow', limits: { timeout_ms: 60_000 } }), 403, 'forbidden');
    problem(await attach(asDeveloper, { alias: 'wide', limits: { max_bytes: 10_485_760 } }), 403, 'forbidden');
    ok(await attach(asDeveloper, { alias: 'small', limits: { max_rows: 10, timeout_ms: 1000 } }), 201);
    ok(await attach(asAdmin, { alias: 'writer', mode: 'read_write', limits: { max_rows: 5000 } }), 201);
    assert.deepEqual(errorPaths(problem(await attach(asAdmin, { alias: 'odd', mode: 'write' }), 422, 'validation_failed')), [
      'mode',
    ]);
    assert.deepEqual(
      errorPaths(problem(await attach(asAdmin, { alias: 'odd', limits: { max_rows: 0 } }), 422, 'validation_failed')),
      ['limits.max_rows'],
    );
    assert.deepEqual(
      errorPaths(problem(await attach(asAdmin, { alias: 'odd', limits: { rows: 1 } }), 422, 'validation_failed')),
      ['limits.rows'],
    );

    // The same on PATCH.
    const instances = ok<{ data: { id: string; alias: string }[] }>(await asDeveloper('GET', '/agents/agent-1/connectors')).data;
    const small = instances.find((i) => i.alias === 'small');
    assert.ok(small);
    const patch = (call: Call, body: unknown) => call('PATCH', `/connectors/instances/${small.id}`, body);
    problem(await patch(asDeveloper, { mode: 'read_write' }), 403, 'forbidden');
    problem(await patch(asDeveloper, { limits: { max_rows: 1_000_000 } }), 403, 'forbidden');
    problem(await patch(asDeveloper, { bound_params: { tenant: 1 } }), 403, 'forbidden');
    problem(await patch(asDeveloper, { alias: 'main_db' }), 409, 'conflict');
    assert.deepEqual(errorPaths(problem(await patch(asDeveloper, { alias: 'Small' }), 422, 'validation_failed')), ['alias']);
    assert.deepEqual(
      errorPaths(problem(await patch(asDeveloper, { config_override: { host: 'elsewhere' } }), 422, 'validation_failed')),
      ['config_override.host'],
    );
    ok(await patch(asAdmin, { mode: 'read_write', bound_params: { tenant: 1 } }));
  });

  it('refuses a stale If-Match, and a delete while attached unless forced', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { ctx, asAdmin, asDeveloper } = setupResult;
    const connector = await create(asAdmin, 'versioned');
    const url = `/connectors/${connector.id}`;
    const etag = String((await asDeveloper('GET', url)).headers.etag);
    assert.equal(etag, `"${connector.version}"`);

    const updated = await asAdmin('PUT', url, { description: 'first' }, { 'if-match': etag });
    assert.equal(ok<ConnectorBody>(updated).version, connector.version + 1);
    assert.equal(updated.headers.etag, `"${connector.version + 1}"`);
    problem(await asAdmin('PUT', url, { description: 'second' }, { 'if-match': etag }), 409, 'conflict');
    problem(await asAdmin('PUT', url, { description: 'third' }, { 'if-match': 'yesterday' }), 400, 'bad_request');
    assert.equal(ok<ConnectorBody>(await asDeveloper('GET', url)).description, 'first');

    ok(await asDeveloper('POST', `${url}/attach`, { agent_id: 'agent-1', alias: 'db' }), 201);
    problem(await asAdmin('DELETE', url), 409, 'connector_in_use');
    problem(await asAdmin('DELETE', `${url}?force=false`), 409, 'connector_in_use');
    ok(await asDeveloper('GET', url));
    assert.equal((await asAdmin('DELETE', `${url}?force=true`)).statusCode, 204);
    problem(await asDeveloper('GET', url), 404, 'not_found');
    assert.equal(await ctx.models.ConnectorInstance.count(), 0, 'its attachments went with it');
    assert.deepEqual(ok<{ data: unknown[] }>(await asDeveloper('GET', '/agents/agent-1/connectors')).data, []);
    problem(await asAdmin('DELETE', `${url}?force=true`), 404, 'not_found');
  });

  it('binds parameters and never splices them into the statement', async (t) => {
    const target = await targetDatabase(
      t,
      "CREATE TABLE users (id int PRIMARY KEY, name text); INSERT INTO users VALUES (123, 'Ada'), (124, 'Grace');",
    );
    if (!target) return;
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asDeveloper } = setupResult;
    const connector = await create(asAdmin, 'target', { ...pgConfig, database: target.name });
    const execute = (call: Call, body: Record<string, unknown>) => call('POST', `/connectors/${connector.id}/execute`, body);
    const users = async () =>
      (await target.query('SELECT id, name FROM users ORDER BY id')).rows as { id: number; name: string }[];
    const original = await users();

    const byId = ok<SqlResult>(
      await execute(asDeveloper, {
        query: 'SELECT * FROM users WHERE CAST(id AS text) = :id',
        params: { id: '1; DROP TABLE users' },
      }),
    );
    assert.deepEqual(byId.data.rows, []);
    const byName = ok<SqlResult>(
      await execute(asDeveloper, { query: 'SELECT * FROM users WHERE name = :name', params: { name: "x' OR '1'='1" } }),
    );
    assert.deepEqual(byName.data.rows, []);
    problem(
      await execute(asDeveloper, { query: 'SELECT * FROM users WHERE id = :id', params: { id: '1 OR 1=1' } }),
      422,
      'query_failed',
    );
    // Written as an admin in read_write: the value is stored as it is, and the WHERE matched nothing.
    const deleted = ok<SqlResult>(
      await execute(asAdmin, {
        mode: 'read_write',
        query: 'DELETE FROM users WHERE name = :name',
        params: { name: "x' OR '1'='1" },
      }),
    );
    assert.equal(deleted.data.row_count, 0);
    assert.deepEqual(await users(), original);
    ok(
      await execute(asAdmin, {
        mode: 'read_write',
        query: 'UPDATE users SET name = :name WHERE id = 124',
        params: { name: "'; DROP TABLE users; --" },
      }),
    );
    assert.deepEqual(await users(), [original[0], { id: 124, name: "'; DROP TABLE users; --" }]);
    // A second statement is never run: refused in read mode, and by the protocol in read_write.
    problem(await execute(asDeveloper, { query: 'SELECT 1; DROP TABLE users' }), 403, 'read_only');
    problem(await execute(asAdmin, { mode: 'read_write', query: 'SELECT 1; DROP TABLE users' }), 422, 'query_failed');
    problem(await execute(asDeveloper, { mode: 'read_write', query: 'SELECT 1' }), 403, 'forbidden');
    assert.equal((await users()).length, 2);

    const missing = problem(
      await execute(asDeveloper, { query: 'SELECT * FROM users WHERE name = :name' }),
      422,
      'validation_failed',
    );
    assert.deepEqual(errorPaths(missing), ['params.name']);
    const extra = problem(
      await execute(asDeveloper, { query: 'SELECT * FROM users WHERE id = :id', params: { id: 123, name: 'Ada' } }),
      422,
      'validation_failed',
    );
    assert.deepEqual(errorPaths(extra), ['params.name']);
    problem(await execute(asDeveloper, { query: 'SELECT * FROM users WHERE id = $1', params: {} }), 422, 'validation_failed');
    assert.deepEqual(
      errorPaths(problem(await execute(asDeveloper, { query: 'SELECT 1', surprise: true }), 422, 'validation_failed')),
      ['surprise'],
    );
    problem(await execute(asDeveloper, { operation: 'drop_everything' }), 422, 'unsupported_operation');
    // `::type` is a cast, not a placeholder.
    const cast = ok<SqlResult>(
      await execute(asDeveloper, { query: 'SELECT name FROM users WHERE id = :id::int', params: { id: '123' } }),
    );
    assert.deepEqual(cast.data.rows, [{ name: 'Ada' }]);
  });
});

describe('bad input never answers 500', () => {
  const json = { 'content-type': 'application/json' };
  const deepJson = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

  it('refuses control characters in path parameters and query values with 422, before any lookup', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asDeveloper, asNobody } = setupResult;
    const connector = await create(asAdmin, 'paths');
    const attached = ok<{ id: string }>(await asDeveloper('POST', `/connectors/${connector.id}/attach`, { agent_id: 'agent-1', alias: 'db' }), 201);
    for (const bad of ['abc%00', '%00', 'a%01b', 'x%7F', '%C2%85']) {
      for (const url of [`/agents/${bad}`, `/agents/${bad}/connectors`, `/agents/${bad}/tools`, `/connectors/${bad}`, `/connectors/${bad}/health`, `/webhooks/${bad}`]) {
        assert.deepEqual(errorPaths(problem(await asAdmin('GET', url), 422, 'validation_failed')), ['id'], url);
      }
      assert.deepEqual(errorPaths(problem(await asDeveloper('POST', `/agents/agent-1/connectors/${bad}/execute`, { query: 'SELECT 1' }), 422, 'validation_failed')), ['alias']);
      assert.deepEqual(errorPaths(problem(await asAdmin('PATCH', `/connectors/instances/${bad}`, { mode: 'read' }), 422, 'validation_failed')), ['instance_id']);
      assert.deepEqual(errorPaths(problem(await asDeveloper('GET', `/connectors?provider=${bad}`), 422, 'validation_failed')), ['provider']);
      assert.deepEqual(errorPaths(problem(await asAdmin('GET', `/audit-events?actor_id=${bad}&target_id=ok`), 422, 'validation_failed')), ['actor_id']);
    }
    // Authentication and the role still answer first.
    problem(await asNobody('GET', '/agents/abc%00'), 401, 'unauthenticated');
    // Well-formed ids still reach their resource.
    ok(await asDeveloper('PATCH', `/connectors/instances/${attached.id}`, { limits: { max_rows: 5 } }));
    ok(await asDeveloper('GET', '/connectors?provider=postgresql'));
  });

  it('answers the router\'s own refusals (malformed URL, over-long parameter) and odd bodies as problem+json', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asDeveloper } = setupResult;
    const isProblem = (response: Awaited<ReturnType<Call>>, status: number, code: string) => {
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/, response.body);
      return problem(response, status, code);
    };
    isProblem(await asAdmin('GET', '/agents/%zz'), 400, 'bad_request');
    isProblem(await asAdmin('GET', '/connectors/%E0%A4%A'), 400, 'bad_request');
    isProblem(await asAdmin('GET', `/agents/${'a'.repeat(129)}`), 400, 'bad_request');
    problem(await asAdmin('GET', `/agents/${'a'.repeat(64)}`), 404, 'not_found');
    isProblem(await asAdmin('POST', '/agents', '{"__proto__": {"x": 1}}', json), 400, 'bad_request');
    isProblem(await asAdmin('POST', '/agents', '{}', { 'content-type': 'application/jsonx' }), 400, 'bad_request');
    isProblem(await asAdmin('POST', '/agents', '{}', { 'content-type': 'multipart/form-data; boundary=x' }), 400, 'bad_request');
    isProblem(await asAdmin('PATCH', '/agents'), 404, 'not_found');
    // The MCP transport's own refusals (not a JSON-RPC message it can read) keep their JSON-RPC error beside the problem.
    const refused = await asDeveloper('POST', '/agents/agent-1/mcp', { jsonrpc: '2.0', id: 1, method: null });
    const body = isProblem(refused, 400, 'bad_request') as unknown as { jsonrpc: string; error: { code: number } };
    assert.equal(body.jsonrpc, '2.0');
    assert.equal(typeof body.error.code, 'number');
  });

  it(`bounds the nesting of every JSON body at ${MAX_JSON_DEPTH} levels with 400, where 5,000 levels overflowed the audit writer`, async (t) => {
    // The default body limit (1 MiB): 5,000 levels are 30 KB.
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const asAdmin = client(ctx.app, admin.key);
    const asDeveloper = client(ctx.app, (await ctx.user('developer', { org: admin.orgSlug })).key);
    ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
    const connector = await create(asAdmin, 'deep');
    const execute = `/connectors/${connector.id}/execute`;
    problem(await asDeveloper('POST', execute, `{"operation":${deepJson(5000)}}`, json), 400, 'bad_request');
    problem(await asDeveloper('POST', execute, `{"query":"SELECT :a","params":{"a":${deepJson(MAX_JSON_DEPTH)}}}`, json), 400, 'bad_request');
    problem(await asAdmin('POST', '/connectors', `{"name":"d","connector_type":"database","provider":"postgresql","config":${deepJson(100_000)}}`, json), 400, 'bad_request');
    problem(await asDeveloper('POST', '/agents/agent-1/mcp', `[${deepJson(200)}]`, json), 400, 'bad_request');
    // Exactly the limit parses (the body itself is level 1) and meets validation; one more level does not.
    const withConfig = (depth: number) =>
      `{"name":"d","connector_type":"database","provider":"postgresql","config":{"host":"127.0.0.1","username":"u","surprise":${deepJson(depth)}}}`;
    assert.deepEqual(errorPaths(problem(await asAdmin('POST', '/connectors', withConfig(MAX_JSON_DEPTH - 2), json), 422, 'validation_failed')), ['config.surprise']);
    problem(await asAdmin('POST', '/connectors', withConfig(MAX_JSON_DEPTH - 1), json), 400, 'bad_request');
    assert.ok(!ctx.logs.text.includes('Maximum call stack'), 'no stack overflow was logged');
    assert.equal(jsonDepthExceeds(JSON.parse(deepJson(MAX_JSON_DEPTH)), MAX_JSON_DEPTH), false);
    assert.equal(jsonDepthExceeds(JSON.parse(deepJson(MAX_JSON_DEPTH + 1)), MAX_JSON_DEPTH), true);
    assert.equal(jsonDepthExceeds(JSON.parse(`[${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}]`), MAX_JSON_DEPTH), true);
  });

  it('refuses an execute mode other than read or read_write, which a provider would have run as a write', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asDeveloper } = setupResult;
    const connector = await create(asAdmin, 'modes');
    const execute = (body: Record<string, unknown>) => asDeveloper('POST', `/connectors/${connector.id}/execute`, body);
    for (const mode of ['READ_WRITE', 'write', '', 1, null, ['read_write']]) {
      assert.deepEqual(errorPaths(problem(await execute({ mode, query: 'CREATE TEMP TABLE fuzz_t (x int)' }), 422, 'validation_failed')), ['mode'], String(mode));
    }
    for (const operation of [5, null, { a: 1 }, ['query']]) {
      assert.deepEqual(errorPaths(problem(await execute({ operation, query: 'SELECT 1' }), 422, 'validation_failed')), ['operation']);
    }
    problem(await execute({ query: 'CREATE TEMP TABLE fuzz_t (x int)' }), 403, 'read_only');
  });

  it('refuses control characters in names, ids and URLs of bodies with 422', async (t) => {
    const setupResult = await setup(t);
    if (!setupResult) return;
    const { asAdmin, asDeveloper } = setupResult;
    const connector = await create(asAdmin, 'names');
    const cases: [Call, string, string, Record<string, unknown>, string][] = [
      [asDeveloper, 'POST', '/agents', { name: 'a\u0000b' }, 'name'],
      [asDeveloper, 'POST', '/agents', { description: 'bell\u0007' }, 'description'],
      [asDeveloper, 'POST', '/agents', { name: 'lone\ud800' }, 'name'],
      [asAdmin, 'POST', '/connectors', { ...newConnector('x\u0085y') }, 'name'],
      [asAdmin, 'POST', '/connectors', { ...newConnector('ok'), provider: 'postgresql\u0000' }, 'provider'],
      [asAdmin, 'PUT', `/connectors/${connector.id}`, { name: 'tab\tname' }, 'name'],
      [asDeveloper, 'POST', `/connectors/${connector.id}/attach`, { agent_id: 'agent-1\u0000', alias: 'db' }, 'agent_id'],
      [asDeveloper, 'POST', '/api-keys', { name: 'k\u001b[31m' }, 'name'],
      [asAdmin, 'POST', '/webhooks', { url: 'http://127.0.0.1:9/a\u0000b', events: ['connector.deleted'], secret: 's'.repeat(20) }, 'url'],
    ];
    for (const [call, method, url, body, field] of cases) {
      assert.deepEqual(errorPaths(problem(await call(method as 'POST', url, body), 422, 'validation_failed')), [field], `${method} ${url} ${JSON.stringify(body)}`);
    }
    // Lines are fine in free text.
    ok(await asDeveloper('POST', '/agents', { id: 'described', description: 'line one\nline two\ttabbed' }), 201);
  });

  for (const dialect of dialects) {
    it(`stores what a JSON column can hold on ${dialect}: NUL in an operation or an MCP client name is audited, NUL in bound_params or a registry configuration refused`, async (t) => {
      const ctx = await build(t, { dialect });
      if (!ctx) return;
      const admin = await ctx.user('admin', { operator: true });
      const asAdmin = client(ctx.app, admin.key);
      const connector = await create(asAdmin, 'audited');
      ok(await asAdmin('POST', '/agents', { id: 'agent-1' }), 201);
      const instance = ok<{ id: string }>(await asAdmin('POST', `/connectors/${connector.id}/attach`, { agent_id: 'agent-1', alias: 'db' }), 201);
      problem(await asAdmin('POST', `/connectors/${connector.id}/execute`, { operation: 'a\u0000b' }), 422, 'unsupported_operation');
      problem(await asAdmin('POST', '/agents/agent-1/connectors/db/execute', { operation: 'lone\udc00' }), 422, 'unsupported_operation');
      const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'a\u0000b', version: '1' } } };
      ok(await asAdmin('POST', '/agents/agent-1/mcp', initialize));
      const events = ok<{ data: { action: string; detail: Record<string, unknown> }[] }>(await asAdmin('GET', '/audit-events?limit=200')).data;
      const operations = events.filter((e) => e.action === 'connector.execute').map((e) => e.detail.operation).sort();
      assert.deepEqual(operations, ['a\ufffdb', 'lone\ufffd']);
      assert.equal(events.find((e) => e.action === 'agent.mcp_initialize')?.detail.client_name, 'a\ufffdb');

      assert.deepEqual(errorPaths(problem(await asAdmin('PATCH', `/connectors/instances/${instance.id}`, { bound_params: { tenant: 'a\u0000' } }), 422, 'validation_failed')), ['bound_params']);
      assert.deepEqual(errorPaths(problem(await asAdmin('PATCH', `/connectors/instances/${instance.id}`, { bound_params: { ['k\u0000']: 1 } }), 422, 'validation_failed')), ['bound_params']);
      const agentClass = { name: 'n', version: 1, available: true, configuration: { nested: [{ a: 'x\u0000' }] } };
      assert.deepEqual(errorPaths(problem(await asAdmin('POST', '/agent-classes', agentClass), 422, 'validation_failed')), ['configuration']);
      ok(await asAdmin('POST', '/agent-classes', { ...agentClass, configuration: { nested: [{ a: 'x' }] } }), 201);
    });
  }

  it('scrubs values nested deeper than the call stack allows', () => {
    let deep: unknown = 'token sentinel-value';
    for (let i = 0; i < 100_000; i += 1) deep = i % 2 ? [deep] : { ['sentinel-value']: deep };
    let scrubbed = scrubDeep(deep, scrubber(['sentinel-value']));
    let depth = 0;
    while (scrubbed !== null && typeof scrubbed === 'object') {
      scrubbed = Array.isArray(scrubbed) ? scrubbed[0] : (scrubbed as Record<string, unknown>)[MASK];
      depth += 1;
    }
    assert.equal(depth, 100_000);
    assert.equal(scrubbed, `token ${MASK}`);
    assert.deepEqual(scrubDeep(JSON.parse('{"__proto__": {"a": "sentinel-value"}}'), scrubber(['sentinel-value'])), JSON.parse(`{"__proto__": {"a": "${MASK}"}}`));
  });
});
