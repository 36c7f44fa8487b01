import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import pino from 'pino';
import { PatchbayError } from '../../src/errors.js';
import { ProviderHarness, poolKey, type ExecuteResult } from '../../src/providers/harness.js';
import { requireServer } from '../support/servers.js';

const config = { host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const unique = (prefix: string) => `${prefix}_${randomBytes(4).toString('hex')}`;

interface RunOptions {
  mode?: 'read' | 'read_write';
  maxRows?: number;
  timeoutMs?: number;
  config?: Record<string, unknown>;
}

function setup(t: TestContext) {
  const harness = new ProviderHarness({
    egress: 'private',
    poolMax: 2,
    poolIdleMs: 60_000,
    sqliteRoot: '.',
    logger: pino({ level: 'silent' }),
  });
  t.after(() => harness.close());
  const run = (query: string, params?: Record<string, unknown>, options: RunOptions = {}): Promise<ExecuteResult> => {
    const settings = options.config ?? config;
    return harness.execute({
      providerId: 'postgresql',
      poolKey: poolKey(JSON.stringify(settings), 1, null),
      config: settings,
      input: params === undefined ? { query } : { query, params },
      call: {
        mode: options.mode ?? 'read',
        limits: { maxRows: options.maxRows ?? 100, maxBytes: 1_048_576, timeoutMs: options.timeoutMs ?? 5_000 },
        boundParams: {},
      },
    });
  };
  const admin = (query: string, params?: Record<string, unknown>) => run(query, params, { mode: 'read_write' });
  /** A table of its own, dropped after the test. */
  const table = async (columns = 'id int PRIMARY KEY, name text') => {
    const name = unique('pb_t');
    await admin(`CREATE TABLE ${name} (${columns})`);
    t.after(() => admin(`DROP TABLE IF EXISTS ${name}`));
    return name;
  };
  return { harness, run, admin, table };
}

async function failure(promise: Promise<unknown>): Promise<PatchbayError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PatchbayError, `expected a PatchbayError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('postgresql', () => {
  test('test() connects and reports the server version', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const result = await setup(t).harness.test('postgresql', config);
    assert.equal(result.success, true);
    assert.match(result.message, /^Connected to PostgreSQL \d+/);
  });

  test('a round trip: write with bound params in read_write mode, read them back in read mode', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run, admin, table } = setup(t);
    const name = await table();
    const inserted = await admin(`INSERT INTO ${name} (id, name) VALUES (:id, :name), (:id2, :name)`, {
      id: 1,
      id2: 2,
      name: "O'Brien; DROP TABLE x --",
    });
    assert.equal((inserted.data as { row_count: number }).row_count, 2);
    const result = await run(`SELECT id, name FROM ${name} WHERE id = :id AND name <> ':id'`, { id: 1 });
    assert.deepEqual(result.data, {
      columns: [
        { name: 'id', type: 'integer' },
        { name: 'name', type: 'text' },
      ],
      rows: [{ id: 1, name: "O'Brien; DROP TABLE x --" }],
      row_count: 1,
    });
    assert.equal(result.truncated, false);
  });

  test('a missing or extra param is validation_failed at params.<name>', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run } = setup(t);
    const missing = await failure(run('SELECT :a::int + :b::int', { a: 1 }));
    assert.equal(missing.code, 'validation_failed');
    assert.deepEqual(missing.errors?.map((error) => error.path), ['params.b']);
    const extra = await failure(run('SELECT 1', { a: 1 }));
    assert.deepEqual(extra.errors?.map((error) => error.path), ['params.a']);
  });

  test('a role that does not exist: auth_failed; a missing database: database_not_found', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { harness } = setup(t);
    const role = await harness.test('postgresql', { ...config, username: unique('no_such_role') });
    assert.equal(role.error_code, 'auth_failed');
    const database = await harness.test('postgresql', { ...config, database: unique('no_such_db') });
    assert.equal(database.error_code, 'database_not_found');
  });

  test('TLS to a server that does not offer it: tls_error', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const result = await setup(t).harness.test('postgresql', { ...config, ssl: true });
    assert.equal(result.error_code, 'tls_error');
  });

  test('read mode refuses writes, by statement and by the read-only transaction; data is unchanged', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run, admin, table } = setup(t);
    const name = await table();
    await admin(`INSERT INTO ${name} VALUES (1, 'kept')`);
    for (const query of [
      `INSERT INTO ${name} VALUES (2, 'new')`,
      `CREATE TABLE ${unique('pb_t')} (id int)`,
      `COMMIT; DROP TABLE ${name}`,
      `SELECT 1; DROP TABLE ${name}`,
      `WITH gone AS (DELETE FROM ${name} RETURNING *) SELECT * FROM gone`,
      `SELECT * INTO ${unique('pb_t')} FROM ${name}`,
      `SELECT set_config('transaction_read_only', 'off', true); DELETE FROM ${name}`,
    ]) {
      assert.equal((await failure(run(query))).code, 'read_only', query);
    }
    const after = await run(`SELECT id, name FROM ${name}`);
    assert.deepEqual((after.data as { rows: unknown[] }).rows, [{ id: 1, name: 'kept' }]);
  });

  test('several statements in read_write mode are refused by the extended protocol', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { admin, table, run } = setup(t);
    const name = await table();
    assert.equal((await failure(admin(`SELECT 1; DROP TABLE ${name}`))).code, 'query_failed');
    assert.equal((await run(`SELECT count(*) AS n FROM ${name}`)).ok, true);
  });

  test('a role without the privilege: permission_denied', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { admin, table } = setup(t);
    const name = await table();
    const role = unique('pb_role');
    await admin(`CREATE ROLE ${role} LOGIN`);
    const limited = setup(t);
    t.after(async () => {
      await limited.harness.close();
      await admin(`DROP ROLE IF EXISTS ${role}`);
    });
    const error = await failure(limited.run(`SELECT * FROM ${name}`, undefined, { config: { ...config, username: role } }));
    assert.equal(error.code, 'permission_denied');
  });

  test('max_rows: reads max_rows+1, returns max_rows and says truncated', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run } = setup(t);
    const cut = await run('SELECT n FROM generate_series(1, 1000000) AS n', undefined, { maxRows: 3 });
    assert.deepEqual((cut.data as { rows: unknown[] }).rows, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    assert.equal((cut.data as { row_count: number }).row_count, 3);
    assert.equal(cut.truncated, true);
    const exact = await run('SELECT n FROM generate_series(1, 3) AS n', undefined, { maxRows: 3 });
    assert.equal(exact.truncated, false);
    // The connection is clean after a cut-off portal.
    assert.equal((await run('SELECT 1 AS one')).ok, true);
  });

  test('timeout_ms cancels the statement on the server: timeout, and the session still works', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run } = setup(t);
    const error = await failure(run('SELECT pg_sleep(10)', undefined, { timeoutMs: 300 }));
    assert.equal(error.code, 'timeout');
    assert.equal((await run('SELECT 1 AS one')).ok, true);
  });

  test('errors inside a row-limited portal leave the connection usable', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run } = setup(t);
    assert.equal((await failure(run('SELECT 1 / (n - 3) FROM generate_series(1, 5) AS n'))).code, 'query_failed');
    assert.equal((await failure(run('SELECT FROM WHERE'))).code, 'query_failed');
    assert.equal((await failure(run('SELECT * FROM no_such_table_here'))).code, 'query_failed');
    assert.equal((await run('SELECT 1 AS one')).ok, true);
  });

  test('types: int8 and numeric as strings, bytea as base64, dates and times as ISO, repeated names get _2', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run } = setup(t);
    const result = await run(
      `SELECT 9007199254740993::int8 AS big, 1.10::numeric AS dec, '\\x0102ff'::bytea AS bytes,
              '2024-05-01 10:20:30.123456+02'::timestamptz AS at, '2024-05-01 10:20:30'::timestamp AS local,
              '2024-05-01'::date AS day, ARRAY['2024-05-01 00:00:00+00'::timestamptz] AS ats,
              1 AS x, 2 AS x, '{"a": [1]}'::jsonb AS doc, NULL::text AS nothing`,
    );
    const data = result.data as { columns: { name: string; type: string }[]; rows: Record<string, unknown>[] };
    assert.deepEqual(data.rows[0], {
      big: '9007199254740993',
      dec: '1.10',
      bytes: Buffer.from([1, 2, 255]).toString('base64'),
      at: '2024-05-01T08:20:30.123456Z',
      local: '2024-05-01T10:20:30',
      day: '2024-05-01',
      ats: ['2024-05-01T00:00:00Z'],
      x: 1,
      x_2: 2,
      doc: { a: [1] },
      nothing: null,
    });
    assert.deepEqual(
      data.columns.map((column) => column.type),
      ['bigint', 'numeric', 'bytea', 'timestamp with time zone', 'timestamp without time zone', 'date',
        'timestamp with time zone[]', 'integer', 'integer', 'jsonb', 'text'],
    );
  });

  test('schema (overridable) sets where unqualified names resolve', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run, admin } = setup(t);
    const schema = unique('pb_s');
    await admin(`CREATE SCHEMA ${schema}`);
    t.after(() => admin(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    await admin(`CREATE TABLE ${schema}.things (id int)`);
    await admin(`INSERT INTO ${schema}.things VALUES (7)`);
    const result = await run('SELECT id FROM things', undefined, { config: { ...config, schema } });
    assert.deepEqual((result.data as { rows: unknown[] }).rows, [{ id: 7 }]);
  });

  test('a connection killed on the server: the next call reconnects', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { run, admin } = setup(t);
    const other = { ...config, connect_timeout_ms: 4_000 }; // its own pool key
    const first = await run('SELECT pg_backend_pid() AS pid', undefined, { config: other });
    const { pid } = (first.data as { rows: { pid: number }[] }).rows[0] as { pid: number };
    await admin('SELECT pg_terminate_backend(:pid)', { pid });
    await new Promise((resolve) => setTimeout(resolve, 100));
    let result: ExecuteResult | undefined;
    for (let attempt = 0; attempt < 2 && !result; attempt += 1) {
      result = await run('SELECT 1 AS one', undefined, { config: other }).catch(() => undefined);
    }
    assert.equal(result?.ok, true);
  });

  test('a secret in a connection string never appears in any message', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { harness, run } = setup(t);
    const canary = `Canary${randomBytes(6).toString('hex')}`;
    const role = unique('no_such_role');
    const settings = { connection_string: `postgres://${role}:${canary}@127.0.0.1:5432/test` };
    const seen: string[] = [];
    const tested = await harness.test('postgresql', settings);
    assert.equal(tested.error_code, 'auth_failed');
    seen.push(JSON.stringify(tested));
    const error = await failure(run('SELECT 1', undefined, { config: settings }));
    assert.equal(error.code, 'auth_failed');
    seen.push(JSON.stringify({ message: error.message, errors: error.errors, extra: error.extra }));
    const invalid = await harness.test('postgresql', { ...settings, host: 'h' });
    assert.equal(invalid.error_code, 'validation_failed');
    seen.push(JSON.stringify(invalid));
    for (const text of seen) assert.ok(!text.includes(canary), text);
  });

  test('config: a connection string and the separate fields are refused together', async (t) => {
    const { harness } = setup(t);
    const both = await harness.test('postgresql', { ...config, connection_string: 'postgres://u:p@h/db' });
    assert.equal(both.error_code, 'validation_failed');
    assert.match(both.message, /config\.connection_string/);
    const noUser = await harness.test('postgresql', { host: 'h' });
    assert.match(noUser.message, /config\.username/);
  });
});
