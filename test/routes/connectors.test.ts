import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { getProvider, parseConfig } from '../../src/providers/registry.js';
import { build } from '../support/app.js';
import { client, ok, problem, type Call } from '../support/http.js';
import { closedPort, silentListener } from '../support/listeners.js';
import { requireServer } from '../support/servers.js';

interface ConnectorBody {
  id: string;
  name: string;
  provider: string;
  status: string;
  enabled: boolean;
  version: number;
  last_tested_at: string | null;
  last_test_result: string | null;
  last_error: string | null;
}
interface TestResult {
  success: boolean;
  message: string;
  latency_ms: number;
  error_code?: string;
}
interface HealthRow {
  success: boolean;
  error_code: string | null;
  source: string;
  latency_ms: number;
}
interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

const pg = { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' };
const postgresql = (config: Record<string, unknown>) => ({ connector_type: 'database', provider: 'postgresql', config });

// Providers that may still be without a driver, each with a config its schema accepts; the first one found
// without a driver stands for "a provider without a driver yet".
const driverless = (
  [
    ['messaging', 'kafka', { brokers: ['127.0.0.1:9092'] }],
    ['messaging', 'nats', { servers: ['127.0.0.1:4222'] }],
    ['messaging', 'mqtt', { host: '127.0.0.1' }],
    ['api', 'graphql', { endpoint: 'http://127.0.0.1:9/graphql' }],
    ['api', 'rest', { base_url: 'http://127.0.0.1:9' }],
  ] as const
).find(([, id, config]) => {
  const provider = getProvider(id);
  return provider && !provider.connect && parseConfig(provider, config).success;
});

async function setup(t: TestContext, env: Record<string, string> = {}) {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const ctx = await build(t, { env });
  if (!ctx) return undefined;
  const admin = await ctx.user('admin');
  const developer = await ctx.user('developer', { org: admin.orgSlug });
  const asAdmin = client(ctx.app, admin.key);
  const asDeveloper = client(ctx.app, developer.key);
  let count = 0;
  const create = async (
    body: { connector_type: string; provider: string; config: Record<string, unknown> },
    extra: Record<string, unknown> = {},
  ) => ok<ConnectorBody>(await asAdmin('POST', '/connectors', { name: `connector-${++count}`, ...body, ...extra }), 201);
  const test = async (id: string) => ok<TestResult>(await asDeveloper('POST', `/connectors/${id}/test`));
  return { ctx, admin, asAdmin, asDeveloper, create, test };
}

const healthOf = async (call: Call, id: string) => ok<Page<HealthRow>>(await call('GET', `/connectors/${id}/health`)).data;

describe('connectors routes', () => {
  it('answers a connection test with 200 and a stable error_code for every way it can fail', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const silent = await silentListener(t);
    const cases: [string, Awaited<ReturnType<typeof s.create>>][] = [
      ['auth_failed', await s.create(postgresql({ ...pg, username: 'no_such_role_x', password: 'whatever' }))],
      ['database_not_found', await s.create(postgresql({ ...pg, database: 'no_such_database_x' }))],
      ['connection_refused', await s.create(postgresql({ ...pg, port: await closedPort() }))],
      ['dns_not_found', await s.create(postgresql({ ...pg, host: 'nohost.invalid' }))],
      ['timeout', await s.create(postgresql({ ...pg, port: silent.port, connect_timeout_ms: 500 }))],
      ['egress_denied', await s.create(postgresql({ ...pg, host: '169.254.169.254', connect_timeout_ms: 1000 }))],
    ];
    if (driverless) {
      const [type, provider, config] = driverless;
      cases.push(['unsupported_operation', await s.create({ connector_type: type, provider, config })]);
    } else {
      t.diagnostic('every provider has a driver now: no unsupported_operation case');
    }

    for (const [code, connector] of cases) {
      const result = await s.test(connector.id);
      assert.equal(result.success, false, code);
      assert.equal(result.error_code, code, `${code}: ${result.message}`);
      assert.ok(result.message.length > 0);
      assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0);
      // The test never runs past its connect_timeout_ms (500 for the silent listener, 5000 by default).
      assert.ok(result.latency_ms < (code === 'timeout' ? 2_500 : 6_000), `${code} took ${result.latency_ms} ms`);

      const stored: ConnectorBody = ok<ConnectorBody>(await s.asDeveloper('GET', `/connectors/${connector.id}`));
      assert.equal(stored.status, 'failing', code);
      assert.equal(stored.last_test_result, 'failure');
      assert.ok(stored.last_tested_at && Date.parse(stored.last_tested_at) > Date.now() - 60_000);
      assert.equal(stored.last_error, result.message, 'last_error keeps the message');
      const health = await healthOf(s.asDeveloper, connector.id);
      assert.deepEqual(
        health.map((h) => [h.success, h.error_code, h.source]),
        [[false, code, 'manual']],
      );
    }
    if (driverless) {
      const connector = cases.at(-1)?.[1] as ConnectorBody;
      problem(await s.asDeveloper('POST', `/connectors/${connector.id}/execute`, {}), 422, 'unsupported_operation');
    }

    // A passing test heals: status, last_* and one more health row, newest first.
    const healthy = await s.create(postgresql(pg));
    const passed = await s.test(healthy.id);
    assert.equal(passed.success, true, passed.message);
    assert.equal(passed.error_code, undefined);
    await s.test(healthy.id);
    const stored = ok<ConnectorBody>(await s.asDeveloper('GET', `/connectors/${healthy.id}`));
    assert.equal(stored.status, 'healthy');
    assert.equal(stored.last_test_result, 'success');
    assert.equal(stored.last_error, null);
    assert.equal((await healthOf(s.asDeveloper, healthy.id)).length, 2);
    const newest = ok<Page<HealthRow>>(await s.asDeveloper('GET', `/connectors/${healthy.id}/health?limit=1`));
    assert.equal(newest.data.length, 1);
    assert.ok(newest.next_cursor);
    const oldest = ok<Page<HealthRow>>(
      await s.asDeveloper('GET', `/connectors/${healthy.id}/health?limit=1&cursor=${newest.next_cursor}`),
    );
    assert.deepEqual(
      oldest.data.map((h) => h.success),
      [true],
    );
    assert.equal(oldest.next_cursor, null);
    assert.equal(await s.ctx.models.ConnectorHealthCheck.count(), cases.length + 2, 'one health row per test');
  });

  it('refuses loopback under PATCHBAY_EGRESS=public', async (t) => {
    const s = await setup(t, { PATCHBAY_EGRESS: 'public' });
    if (!s) return;
    for (const host of ['localhost', '127.0.0.1']) {
      const connector = await s.create(postgresql({ ...pg, host }));
      const result = await s.test(connector.id);
      assert.equal(result.error_code, 'egress_denied', `${host}: ${result.message}`);
      problem(await s.asDeveloper('POST', `/connectors/${connector.id}/execute`, { query: 'SELECT 1' }), 422, 'egress_denied');
    }
    const unsaved = ok<TestResult>(await s.asAdmin('POST', '/connectors/test', postgresql({ ...pg, host: 'localhost' })));
    assert.equal(unsaved.error_code, 'egress_denied');
  });

  it('tests an unsaved config for admins, recording nothing', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const passed = ok<TestResult>(await s.asAdmin('POST', '/connectors/test', postgresql(pg)));
    assert.equal(passed.success, true, passed.message);
    const failed = ok<TestResult>(await s.asAdmin('POST', '/connectors/test', postgresql({ ...pg, username: 'no_such_role_x' })));
    assert.equal(failed.error_code, 'auth_failed');
    problem(await s.asDeveloper('POST', '/connectors/test', postgresql(pg)), 403, 'forbidden');
    const invalid = problem(
      await s.asAdmin('POST', '/connectors/test', postgresql({ ...pg, port: 'x' })),
      422,
      'validation_failed',
    );
    assert.deepEqual(
      invalid.errors?.map((e) => e.path),
      ['config.port'],
    );
    assert.equal(await s.ctx.models.Connector.count(), 0);
    assert.equal(await s.ctx.models.ConnectorHealthCheck.count(), 0);
    const audited = await s.ctx.models.AuditEvent.findAll({ where: { action: 'connector.test_unsaved' } });
    assert.deepEqual(audited.map((e) => e.outcome).sort(), ['failure', 'success']);
  });

  it('resets a healthy connector to untested when its config changes, and carries the version in ETag', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const connector = await s.create(postgresql({ ...pg, password: 'first-password' }));
    const url = `/connectors/${connector.id}`;
    const got = await s.asDeveloper('GET', url);
    assert.equal(got.headers.etag, `"${connector.version}"`);
    assert.equal(ok<ConnectorBody>(got).status, 'untested');

    assert.equal((await s.test(connector.id)).success, true);
    const status = async () => {
      const response = await s.asDeveloper('GET', url);
      const body = ok<ConnectorBody>(response);
      assert.equal(response.headers.etag, `"${body.version}"`);
      return body;
    };
    assert.equal((await status()).status, 'healthy');
    // Not a config change: a description, or a secret sent back masked.
    ok(await s.asAdmin('PUT', url, { description: 'the warehouse', config: { password: '********' } }));
    assert.equal((await status()).status, 'healthy');
    ok(await s.asAdmin('PUT', url, { config: { password: 'rotated-password' } }));
    const rotated = await status();
    assert.equal(rotated.status, 'untested');
    assert.ok(rotated.version > connector.version);
    assert.equal((await s.test(connector.id)).success, true);
    ok(await s.asAdmin('PUT', url, { config: { connect_timeout_ms: 2000 } }));
    assert.equal((await status()).status, 'untested');
  });

  it('lets the last of concurrent updates without If-Match win: none is refused, none is lost', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const connector = await s.create(postgresql({ ...pg, password: 'first-password' }));
    const url = `/connectors/${connector.id}`;
    const updates = Array.from({ length: 8 }, (_, i) => s.asAdmin('PUT', url, { description: `update ${i}` }));
    for (const response of await Promise.all(updates)) ok(response);
    const after = ok<ConnectorBody & { description: string }>(await s.asDeveloper('GET', url));
    // Each update was written once, on top of the one before it.
    assert.equal(after.version, connector.version + 8);
    assert.match(after.description, /^update [0-7]$/);
  });

  it('disables a connector: status disabled, executes refused, tests leave it disabled', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const connector = await s.create(postgresql(pg));
    const url = `/connectors/${connector.id}`;
    ok(await s.asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
    ok(await s.asDeveloper('POST', `${url}/attach`, { agent_id: 'agent-1', alias: 'db' }), 201);
    ok(await s.asDeveloper('POST', `${url}/execute`, { query: 'SELECT 1' }));

    const disabled = ok<ConnectorBody>(await s.asAdmin('PUT', url, { enabled: false }));
    assert.equal(disabled.status, 'disabled');
    assert.equal(disabled.enabled, false);
    problem(await s.asDeveloper('POST', `${url}/execute`, { query: 'SELECT 1' }), 409, 'connector_disabled');
    problem(
      await s.asDeveloper('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 1' }),
      409,
      'connector_disabled',
    );
    assert.equal((await s.test(connector.id)).success, true);
    assert.equal(ok<ConnectorBody>(await s.asDeveloper('GET', url)).status, 'disabled');
    // A config change while disabled keeps it disabled.
    ok(await s.asAdmin('PUT', url, { config: { connect_timeout_ms: 3000 } }));
    assert.equal(ok<ConnectorBody>(await s.asDeveloper('GET', url)).status, 'disabled');
    const listed = ok<Page<{ alias: string; status: string }>>(await s.asDeveloper('GET', '/agents/agent-1/connectors'));
    assert.deepEqual(
      listed.data.map((a) => [a.alias, a.status]),
      [['db', 'disabled']],
    );

    assert.equal(ok<ConnectorBody>(await s.asAdmin('PUT', url, { enabled: true })).status, 'untested');
    ok(await s.asDeveloper('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 1' }));

    const createdOff = await s.create(postgresql(pg), { enabled: false });
    assert.equal(createdOff.status, 'disabled');
    problem(
      await s.asDeveloper('POST', `/connectors/${createdOff.id}/execute`, { query: 'SELECT 1' }),
      409,
      'connector_disabled',
    );
  });

  it('filters the list by provider, type and status, and pages through it with a cursor', async (t) => {
    const s = await setup(t);
    if (!s) return;
    const databases: ConnectorBody[] = [];
    for (let i = 0; i < 5; i++) databases.push(await s.create(postgresql(pg)));
    const api = await s.create({ connector_type: 'api', provider: 'rest', config: { base_url: 'http://127.0.0.1:9' } });
    await s.test(databases[0]?.id ?? '');
    await s.test(databases[1]?.id ?? '');

    const list = async (query: string) => ok<Page<ConnectorBody>>(await s.asDeveloper('GET', `/connectors?${query}`));
    const ids = (page: Page<ConnectorBody>) => page.data.map((c) => c.id);
    assert.deepEqual(ids(await list('provider=rest')), [api.id]);
    assert.deepEqual(ids(await list('connector_type=api')), [api.id]);
    assert.deepEqual(
      ids(await list('provider=postgresql')),
      databases.map((c) => c.id),
    );
    assert.deepEqual(ids(await list('status=healthy')), [databases[0]?.id, databases[1]?.id]);
    assert.deepEqual(
      ids(await list('status=untested&provider=postgresql')),
      databases.slice(2).map((c) => c.id),
    );
    assert.deepEqual(ids(await list('provider=mysql')), []);

    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<ConnectorBody> = await list(`limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...ids(page));
      sizes.push(page.data.length);
      cursor = page.next_cursor;
    } while (cursor);
    assert.deepEqual(sizes, [2, 2, 2]);
    assert.deepEqual(
      seen,
      [...databases, api].map((c) => c.id),
      'every connector once, oldest first',
    );
    // The cursor keeps the filter's order too.
    const first = await list('provider=postgresql&limit=2');
    const second = await list(`provider=postgresql&limit=2&cursor=${first.next_cursor}`);
    const third = await list(`provider=postgresql&limit=2&cursor=${second.next_cursor}`);
    assert.deepEqual(
      [...ids(first), ...ids(second), ...ids(third)],
      databases.map((c) => c.id),
    );
    assert.equal(third.next_cursor, null);

    // Another organisation sees none of them.
    const stranger = await s.ctx.user('admin');
    assert.deepEqual(ok<Page<ConnectorBody>>(await client(s.ctx.app, stranger.key)('GET', '/connectors')).data, []);
    problem(await client(s.ctx.app, stranger.key)('GET', `/connectors/${api.id}`), 404, 'not_found');
  });
});
