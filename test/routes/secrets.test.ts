import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { build } from '../support/app.js';
import { client, errorPaths, ok, problem, type Call, type Reply } from '../support/http.js';
import { closedPort } from '../support/listeners.js';
import { requireServer } from '../support/servers.js';

interface ConnectorBody {
  id: string;
  config: Record<string, unknown>;
  status: string;
  last_error: string | null;
}
interface TestResult {
  success: boolean;
  error_code?: string;
}

/**
 * A canary secret goes into connectors by every secret field we have (a password, a connection string, a
 * bearer token), then every endpoint that touches them runs, failures included. Afterwards no response, log
 * line, audit row, last_error or health row may hold it, raw or URL-encoded.
 */
describe('secrets canary', () => {
  it('never lets a stored secret out: responses, logs, audit, last_error, health history', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    // debug: the more the app logs, the more places a secret could slip into.
    const ctx = await build(t, { env: { LOG_LEVEL: 'debug' } });
    if (!ctx) return;
    const tag = randomBytes(6).toString('hex');
    // Characters that URL-encoding changes, so the encoded form is a second thing to look for.
    const canary = `canary-${tag}-p@ss:w/rd`;
    const rotated = `canary-${tag}-rotated-pw`;
    const forms = [canary, encodeURIComponent(canary), rotated];

    const admin = await ctx.user('admin');
    const developer = await ctx.user('developer', { org: admin.orgSlug });
    const replies: Reply[] = [];
    const recording =
      (call: Call): Call =>
      async (...args) => {
        const reply = await call(...args);
        replies.push(reply);
        return reply;
      };
    const asAdmin = recording(client(ctx.app, admin.key));
    const asDeveloper = recording(client(ctx.app, developer.key));

    // --- create: a password, a connection string holding it, and a rest connector's bearer token
    const wrongRoleConfig = {
      host: '127.0.0.1',
      port: 5432,
      database: 'test',
      username: 'no_such_role_x',
      password: canary,
      connect_timeout_ms: 3000,
    };
    const byFields = ok<ConnectorBody>(
      await asAdmin('POST', '/connectors', {
        name: 'by-fields',
        connector_type: 'database',
        provider: 'postgresql',
        config: wrongRoleConfig,
      }),
      201,
    );
    const urlConfig = { connection_string: `postgres://postgres:${encodeURIComponent(canary)}@127.0.0.1:5432/test` };
    const byUrl = ok<ConnectorBody>(
      await asAdmin('POST', '/connectors', {
        name: 'by-url',
        connector_type: 'database',
        provider: 'postgresql',
        config: urlConfig,
      }),
      201,
    );
    const restConfig = { base_url: `http://127.0.0.1:${await closedPort()}`, auth_type: 'bearer', token: canary };
    const api = ok<ConnectorBody>(
      await asAdmin('POST', '/connectors', { name: 'api', connector_type: 'api', provider: 'rest', config: restConfig }),
      201,
    );
    assert.equal(byFields.config.password, '********');
    assert.equal(byUrl.config.connection_string, '********');
    assert.equal(api.config.token, '********');

    // config_encrypted opens to what was sent, and is not the secret in clear.
    const decrypted = async (id: string) => {
      const row = await ctx.models.Connector.findByPk(id);
      assert.ok(row);
      for (const form of forms) assert.ok(!row.config_encrypted.includes(form), 'config_encrypted holds no secret in clear');
      return ctx.app.services.connectors.decrypt(row);
    };
    for (const [id, sent] of [
      [byFields.id, wrongRoleConfig],
      [byUrl.id, urlConfig],
      [api.id, restConfig],
    ] as const) {
      const opened = await decrypted(id);
      for (const [field, value] of Object.entries(sent)) assert.deepEqual(opened[field], value, field);
    }

    // --- read
    for (const { id } of [byFields, byUrl, api]) ok(await asDeveloper('GET', `/connectors/${id}`));
    ok(await asDeveloper('GET', '/connectors'));
    ok(await asDeveloper('GET', '/connectors?provider=postgresql'));

    // --- update other fields, sending the mask back: the stored secret stays
    ok(
      await asAdmin('PUT', `/connectors/${byFields.id}`, {
        description: 'nightly',
        config: { connect_timeout_ms: 2500, password: '********' },
      }),
    );
    assert.equal((await decrypted(byFields.id)).password, canary);
    assert.equal((await decrypted(byFields.id)).connect_timeout_ms, 2500);
    ok(await asAdmin('PUT', `/connectors/${byUrl.id}`, { config: { connection_string: '********', schema: 'public' } }));
    assert.equal((await decrypted(byUrl.id)).connection_string, urlConfig.connection_string);
    ok(
      await asAdmin('PUT', `/connectors/${api.id}`, { name: 'api-renamed', config: { token: '********', health_path: '/ping' } }),
    );
    assert.equal((await decrypted(api.id)).token, canary);

    // --- test: a failing one (a role that does not exist), a passing one, one without a driver
    const failed = ok<TestResult>(await asDeveloper('POST', `/connectors/${byFields.id}/test`));
    assert.equal(failed.success, false);
    assert.equal(failed.error_code, 'auth_failed');
    assert.equal(ok<TestResult>(await asDeveloper('POST', `/connectors/${byUrl.id}/test`)).success, true);
    assert.equal(ok<TestResult>(await asDeveloper('POST', `/connectors/${api.id}/test`)).success, false);
    const unsaved = ok<TestResult>(
      await asAdmin('POST', '/connectors/test', { connector_type: 'database', provider: 'postgresql', config: wrongRoleConfig }),
    );
    assert.equal(unsaved.error_code, 'auth_failed');
    const stored = ok<ConnectorBody>(await asDeveloper('GET', `/connectors/${byFields.id}`));
    assert.equal(stored.status, 'failing');
    assert.ok(stored.last_error, 'the failure is kept in last_error');
    for (const { id } of [byFields, byUrl, api]) ok(await asDeveloper('GET', `/connectors/${id}/health`));

    // --- attach, list the agent's connectors, execute on both paths
    ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
    const token = ok<{ token: string }>(await asDeveloper('POST', '/agents/agent-1/tokens', {}), 201).token;
    const asAgent = recording(client(ctx.app, token));
    ok(
      await asDeveloper('POST', `/connectors/${byUrl.id}/attach`, {
        agent_id: 'agent-1',
        alias: 'main',
        config_override: { database: 'test' },
      }),
      201,
    );
    ok(await asDeveloper('POST', `/connectors/${byFields.id}/attach`, { agent_id: 'agent-1', alias: 'broken' }), 201);
    ok(await asDeveloper('POST', `/connectors/${api.id}/attach`, { agent_id: 'agent-1', alias: 'api' }), 201);
    const listed = ok<{ data: { alias: string; config: Record<string, unknown> }[] }>(
      await asAgent('GET', '/agents/agent-1/connectors'),
    );
    assert.deepEqual(
      listed.data.map((a) => a.alias),
      ['api', 'broken', 'main'],
    );
    ok(await asDeveloper('GET', '/agents/agent-1/connectors'));

    ok(await asAgent('POST', '/agents/agent-1/connectors/main/execute', { query: 'SELECT 1 AS one' }));
    problem(
      await asAgent('POST', '/agents/agent-1/connectors/main/execute', { query: 'SELECT * FROM no_such_table_x' }),
      422,
      'query_failed',
    );
    problem(await asAgent('POST', '/agents/agent-1/connectors/broken/execute', { query: 'SELECT 1' }), 502, 'auth_failed');
    const viaApi = await asAgent('POST', '/agents/agent-1/connectors/api/execute', { method: 'GET', path: '/' });
    assert.ok(viaApi.statusCode >= 400, 'nothing listens behind the rest connector');
    ok(await asDeveloper('POST', `/connectors/${byUrl.id}/execute`, { query: 'SELECT 2 AS two' }));
    problem(await asDeveloper('POST', `/connectors/${byFields.id}/execute`, { query: 'SELECT 1' }), 502, 'auth_failed');

    // --- errors that carry the secret in the request must not echo it
    problem(await asAdmin('PUT', `/connectors/${byUrl.id}`, { config: { host: '127.0.0.1' } }), 422, 'validation_failed');
    problem(
      await asAdmin('PUT', `/connectors/${byFields.id}`, { config: { password: canary, port: 'not-a-port' } }),
      422,
      'validation_failed',
    );
    problem(
      await asAdmin('POST', '/connectors', {
        name: 'bad',
        connector_type: 'database',
        provider: 'postgresql',
        config: { ...urlConfig, username: 'postgres', surprise: canary },
      }),
      422,
      'validation_failed',
    );
    problem(
      await asAdmin('POST', '/connectors', {
        name: 'bad',
        connector_type: 'database',
        provider: 'postgresql',
        config: { connection_string: `mysql://u:${canary}@h/db` },
      }),
      422,
      'validation_failed',
    );
    problem(
      await asDeveloper('POST', `/connectors/${byFields.id}/attach`, {
        agent_id: 'agent-1',
        alias: 'leak',
        config_override: { password: canary },
      }),
      422,
      'validation_failed',
    );

    // --- rotation: the new secret is stored, and joins the values that must never appear
    ok(await asAdmin('PUT', `/connectors/${byFields.id}`, { config: { password: rotated } }));
    assert.equal((await decrypted(byFields.id)).password, rotated);
    assert.equal(ok<TestResult>(await asDeveloper('POST', `/connectors/${byFields.id}/test`)).error_code, 'auth_failed');

    // --- the audit log, read through the API
    const audit = ok<{ data: { action: string }[] }>(await asAdmin('GET', '/audit-events?limit=200'));
    for (const action of [
      'connector.create',
      'connector.update',
      'connector.test',
      'connector.test_unsaved',
      'connector.attach',
      'connector.execute',
    ]) {
      assert.ok(
        audit.data.some((e) => e.action === action),
        `audit has ${action}`,
      );
    }

    // --- nothing anywhere holds the secret
    const leaks = (where: string, text: string) =>
      forms.filter((form) => text.includes(form)).map((form) => `${where} holds ${form}`);
    const found: string[] = [];
    for (const reply of replies)
      found.push(...leaks(`response ${reply.statusCode}`, `${JSON.stringify(reply.headers)}\n${reply.body}`));
    found.push(...leaks('the log', ctx.logs.text));
    for (const row of await ctx.models.AuditEvent.findAll())
      found.push(...leaks(`audit ${row.action}`, JSON.stringify(row.toJSON())));
    for (const row of await ctx.models.Connector.findAll())
      found.push(...leaks(`last_error of ${row.name}`, String(row.last_error)));
    const health = await ctx.models.ConnectorHealthCheck.findAll();
    assert.equal(health.length, 4, 'one health row per saved test');
    for (const row of health) found.push(...leaks(`health ${row.error_code}`, JSON.stringify(row.toJSON())));
    assert.deepEqual(found, []);
    assert.ok(replies.length > 30 && ctx.logs.lines.length > 30, 'the canary went through the whole API');
  });

  // Connector headers (rest, graphql) often carry an API key: their values are secret too.
  it('masks the values of connector headers, which carry credentials too', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const canary = `canary-${randomBytes(6).toString('hex')}-header`;
    const created = await client(ctx.app, admin.key)('POST', '/connectors', {
      name: 'with-headers',
      connector_type: 'api',
      provider: 'rest',
      config: { base_url: 'http://127.0.0.1:9', headers: { 'X-Api-Key': canary } },
    });
    const body = ok<ConnectorBody>(created, 201);
    assert.ok(!created.body.includes(canary), JSON.stringify(body.config.headers));
    const got = await client(ctx.app, admin.key)('GET', `/connectors/${body.id}`);
    assert.ok(!got.body.includes(canary), JSON.stringify(ok<ConnectorBody>(got).config.headers));
    const row = await ctx.models.Connector.findByPk(body.id);
    assert.ok(row);
    assert.deepEqual(ctx.app.services.connectors.decrypt(row).headers, { 'X-Api-Key': canary }, 'stored as sent');
  });
});

describe('secrets follow their destination', () => {
  const world = async (t: TestContext) => {
    const ctx = await build(t);
    if (!ctx) return undefined;
    const admin = await ctx.user('admin');
    const asAdmin = client(ctx.app, admin.key);
    const create = async (provider: string, connectorType: string, config: Record<string, unknown>) =>
      ok<ConnectorBody>(await asAdmin('POST', '/connectors', { name: `c-${randomBytes(3).toString('hex')}`, connector_type: connectorType, provider, config }), 201).id;
    const update = (id: string, config: Record<string, unknown>) => asAdmin('PUT', `/connectors/${id}`, { config });
    /** The 422's paths: the secrets to enter again. */
    const refused = async (id: string, config: Record<string, unknown>) => errorPaths(problem(await update(id, config), 422, 'validation_failed'));
    const stored = async (id: string) => {
      const connector = await ctx.models.Connector.findByPk(id);
      assert.ok(connector);
      return ctx.app.services.connectors.decrypt(connector);
    };
    return { asAdmin, create, update, refused, stored };
  };

  it('postgresql: a new host or port needs the password again; the mask does not count, null does', async (t) => {
    const w = await world(t);
    if (!w) return;
    const id = await w.create('postgresql', 'database', { host: '127.0.0.1', port: 5432, username: 'postgres', password: 'pw-stays-home', database: 'test' });
    assert.deepEqual(await w.refused(id, { host: '127.0.0.2' }), ['config.password']);
    assert.deepEqual(await w.refused(id, { port: 5433 }), ['config.password']);
    assert.deepEqual(await w.refused(id, { host: '127.0.0.2', password: '********' }), ['config.password']);
    const unchanged = await w.stored(id);
    assert.equal(unchanged.host, '127.0.0.1');
    assert.equal(unchanged.port, 5432);
    // Not a destination: the stored password stays.
    ok(await w.update(id, { database: 'other', username: 'reader' }));
    assert.equal((await w.stored(id)).password, 'pw-stays-home');
    // Sending the same host back is no change.
    ok(await w.update(id, { host: '127.0.0.1' }));
    ok(await w.update(id, { port: 5433, password: 'pw-for-the-new-port' }));
    assert.equal((await w.stored(id)).password, 'pw-for-the-new-port');
    ok(await w.update(id, { host: '127.0.0.2', password: null }));
    const moved = await w.stored(id);
    assert.equal(moved.host, '127.0.0.2');
    assert.equal(moved.password, undefined);
  });

  it('postgresql: a new connection string needs every other stored secret again', async (t) => {
    const w = await world(t);
    if (!w) return;
    const tls = { tls_cert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', tls_key: '-----BEGIN PRIVATE KEY-----\nkey-stays-home\n-----END PRIVATE KEY-----' };
    const id = await w.create('postgresql', 'database', { connection_string: 'postgres://postgres:pw@127.0.0.1:5432/test', ...tls });
    assert.deepEqual(await w.refused(id, { connection_string: 'postgres://postgres:pw@127.0.0.2:5432/test' }), ['config.tls_key']);
    // From the connection string to separate fields: the string is removed (supplied), the key is not.
    assert.deepEqual(await w.refused(id, { connection_string: null, host: '127.0.0.2', username: 'postgres' }), ['config.tls_key']);
    ok(await w.update(id, { connection_string: 'postgres://postgres:pw@127.0.0.2:5432/test', tls_key: tls.tls_key }));
  });

  it('rest: a new base_url needs the bearer token (and secret headers) again', async (t) => {
    const w = await world(t);
    if (!w) return;
    const id = await w.create('rest', 'api', { base_url: 'http://127.0.0.1:9/api', auth_type: 'bearer', token: 'token-stays-home', headers: { 'X-Tenant': 'acme-tenant' } });
    assert.deepEqual(await w.refused(id, { base_url: 'http://127.0.0.2:9/api' }), ['config.headers', 'config.token']);
    assert.deepEqual(await w.refused(id, { base_url: 'http://127.0.0.2:9/api', token: 'fresh-token' }), ['config.headers']);
    ok(await w.update(id, { health_path: '/health' }));
    ok(await w.update(id, { base_url: 'http://127.0.0.2:9/api', token: 'fresh-token', headers: {} }));
    assert.equal((await w.stored(id)).token, 'fresh-token');
    // Without stored headers, the token alone is asked for; a connector without secrets moves freely.
    assert.deepEqual(await w.refused(id, { base_url: 'http://127.0.0.3:9/api' }), ['config.token']);
    const open = await w.create('rest', 'api', { base_url: 'http://127.0.0.1:9/api' });
    ok(await w.update(open, { base_url: 'http://127.0.0.2:9/api' }));
  });

  it('messaging: new NATS servers or MQTT host need the token or password again', async (t) => {
    const w = await world(t);
    if (!w) return;
    const nats = await w.create('nats', 'messaging', { servers: ['127.0.0.1:4222'], token: 'nats-token-stays-home', subject: 'pb.>' });
    assert.deepEqual(await w.refused(nats, { servers: ['127.0.0.2:4222'] }), ['config.token']);
    ok(await w.update(nats, { subject: 'pb.orders.>' }));
    ok(await w.update(nats, { servers: ['127.0.0.2:4222'], token: 'nats-token-2' }));
    const mqtt = await w.create('mqtt', 'messaging', { host: '127.0.0.1', username: 'u', password: 'mqtt-pw-stays-home' });
    assert.deepEqual(await w.refused(mqtt, { host: '127.0.0.2' }), ['config.password']);
    assert.deepEqual(await w.refused(mqtt, { port: 8883 }), ['config.password']);
  });
});
