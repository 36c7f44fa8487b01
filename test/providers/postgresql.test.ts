import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import postgresql from '../../src/providers/postgresql/index.js';
import { uniqueIdentifier as unique } from '../support/names.js';
import { requireServer } from '../support/servers.js';
import {
  createTable,
  ownTable,
  POSTGRESQL as config,
  postgresDirect as direct,
  rows,
  sql,
  sqlFixture,
} from '../support/sql-fixture.js';
import { describeProvider, errorPaths, expectFailure, openPeer } from './conformance.js';

const canary = `Canary${randomBytes(6).toString('hex')}`;
const table = unique('pb_conf'); // the suite's table, holding one row (1, 'kept')
const refusedTable = unique('pb_ro'); // what the writes refused in read mode would have created

describeProvider(postgresql, {
  config,
  ready: (t) => requireServer(t, 'postgresql'),
  setup: () => createTable(direct, table, ['kept']),
  teardown: async () => void (await direct(`DROP TABLE IF EXISTS ${table}, ${refusedTable}`)),
  at: ({ host, port }) => ({ ...config, host, port }),
  schema: {
    bad: [
      { config: { ...config, port: 0 }, path: 'port' },
      { config: { host: '127.0.0.1' }, path: 'username' },
      { config: { ...config, connection_string: 'postgres://u:p@h/db' }, path: 'connection_string' },
      { config: { connection_string: 'postgres://h/db' }, path: 'connection_string' },
      { config: { connection_string: 'postgres://u@h/db?application_name=x' }, path: 'connection_string' },
    ],
  },
  connectionTest: { message: /^Connected to PostgreSQL \d+/ },
  auth: { configs: [{ ...config, username: unique('no_such_role'), password: canary }] },
  tls: { config: () => ({ ...config, ssl: true }) }, // the real server, which offers no TLS
  secrets: {
    configs: [
      { connection_string: `postgres://${unique('no_such_role')}:${canary}@127.0.0.1:5432/test` },
      { ...config, password: canary }, // trust auth: succeeds, and the password must still never show
    ],
  },
  ...sqlFixture({
    described: [
      { name: 'id', type: 'integer', nullable: false },
      { name: 'name', type: 'text', nullable: true },
    ],
    table,
    written: { name: "O'Brien; DROP TABLE x --", stays: 'a quote and a comment' },
    readBack: {
      query: `SELECT id, name FROM ${table} WHERE id = :id AND name <> ':id'`,
      where: 'a literal',
      columns: [
        { name: 'id', type: 'integer' },
        { name: 'name', type: 'text' },
      ],
    },
    series: {
      endless: 'SELECT n FROM generate_series(1, 1000000) AS n',
      exact: 'SELECT n FROM generate_series(1, 3) AS n',
      column: { name: 'n', type: 'integer' },
      values: [1, 2, 3],
    },
  }),
  readMode: {
    // Refused by Patchbay's statement check, or by the READ ONLY transaction (WITH … DELETE, SELECT INTO).
    writes: [
      `INSERT INTO ${table} VALUES (2, 'new')`,
      `CREATE TABLE ${refusedTable} (id int)`,
      `COMMIT; DROP TABLE ${table}`,
      `SELECT 1; DROP TABLE ${table}`,
      `WITH gone AS (DELETE FROM ${table} RETURNING *) SELECT * FROM gone`,
      `SELECT * INTO ${refusedTable} FROM ${table}`,
      `SELECT set_config('transaction_read_only', 'off', true); DELETE FROM ${table}`,
    ].map((query) => sql(query)),
    snapshot: async () => ({
      rows: (await direct(`SELECT * FROM ${table} ORDER BY id`)).rows,
      created: (await direct('SELECT to_regclass($1) AS name', [refusedTable])).rows,
    }),
  },
  restart: {
    // Kills the pooled session's backend from a connection of the test's own, and waits until it is gone.
    restartPeer: async (peer) => {
      const [{ pid } = {}] = rows(await peer.execute(sql('SELECT pg_backend_pid() AS pid')));
      assert.equal((await direct('SELECT pg_terminate_backend($1) AS killed', [pid])).rows[0]?.killed, true);
      for (let i = 0; i < 100 && (await direct('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount; i += 1) {
        await sleep(20);
      }
    },
  },
});

/** A pooled session for one of the cases below, or undefined when the server is missing (the test is skipped). */
async function connect(t: TestContext) {
  return (await requireServer(t, 'postgresql')) ? openPeer(t, postgresql, config) : undefined;
}

describe('postgresql', () => {
  test('a missing or extra param is validation_failed at params.<name>', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const missing = await expectFailure(db.execute(sql('SELECT :a::int + :b::int', { a: 1 })));
    assert.equal(missing.code, 'validation_failed');
    assert.deepEqual(errorPaths(missing), ['params.b']);
    assert.deepEqual(errorPaths(await expectFailure(db.execute(sql('SELECT 1', { a: 1 })))), ['params.a']);
  });

  test('a database that does not exist: database_not_found', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const result = await db.harness.test('postgresql', { ...config, database: unique('no_such_db') });
    assert.equal(result.error_code, 'database_not_found');
  });

  test('several statements in read_write mode are refused by the extended protocol', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const name = await ownTable(t, direct);
    assert.equal(
      (await expectFailure(db.execute(sql(`SELECT 1; DROP TABLE ${name}`, undefined, 'read_write')))).code,
      'query_failed',
    );
    assert.equal((await direct('SELECT to_regclass($1) AS name', [name])).rows[0]?.name, name);
  });

  test('a role without the privilege: permission_denied', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const name = await ownTable(t, direct);
    const role = unique('pb_role');
    await direct(`CREATE ROLE ${role} LOGIN`);
    const limited = openPeer(t, postgresql, { ...config, username: role });
    t.after(() => direct(`DROP ROLE IF EXISTS ${role}`)); // after the peer's sessions are closed
    assert.equal((await expectFailure(limited.execute(sql(`SELECT * FROM ${name}`)))).code, 'permission_denied');
  });

  test('timeout_ms cancels the statement on the server: timeout, and the session still works', async (t) => {
    const db = await connect(t);
    if (!db) return;
    // A long read (read mode refuses pg_sleep): ten billion rows counted, streamed rather than materialised.
    const endless = 'SELECT count(*) FROM (SELECT generate_series(1, 10000000000)) AS s';
    const error = await expectFailure(db.execute({ ...sql(endless), limits: { timeoutMs: 300 } }));
    assert.equal(error.code, 'timeout');
    assert.equal((await db.execute(sql('SELECT 1 AS one'))).ok, true);
  });

  test('errors inside a row-limited portal leave the connection usable', async (t) => {
    const db = await connect(t);
    if (!db) return;
    for (const query of [
      'SELECT 1 / (n - 3) FROM generate_series(1, 5) AS n',
      'SELECT FROM WHERE',
      'SELECT * FROM no_such_table_here',
    ]) {
      assert.equal((await expectFailure(db.execute(sql(query)))).code, 'query_failed', query);
    }
    assert.equal((await db.execute(sql('SELECT 1 AS one'))).ok, true);
  });

  test('types: int8 and numeric as strings, bytea as base64, dates and times as ISO, repeated names get _2', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const result = await db.execute(
      sql(`SELECT 9007199254740993::int8 AS big, 1.10::numeric AS dec, '\\x0102ff'::bytea AS bytes,
              '2024-05-01 10:20:30.123456+02'::timestamptz AS at, '2024-05-01 10:20:30'::timestamp AS local,
              '2024-05-01'::date AS day, ARRAY['2024-05-01 00:00:00+00'::timestamptz] AS ats,
              1 AS x, 2 AS x, '{"a": [1]}'::jsonb AS doc, NULL::text AS nothing`),
    );
    assert.deepEqual(rows(result)[0], {
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
      (result.data as { columns: { type: string }[] }).columns.map((column) => column.type),
      [
        'bigint',
        'numeric',
        'bytea',
        'timestamp with time zone',
        'timestamp without time zone',
        'date',
        'timestamp with time zone[]',
        'integer',
        'integer',
        'jsonb',
        'text',
      ],
    );
  });

  test('schema (overridable) sets where unqualified names resolve', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const schema = unique('pb_s');
    await direct(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.things (id int); INSERT INTO ${schema}.things VALUES (7)`);
    const db = openPeer(t, postgresql, { ...config, schema });
    t.after(() => direct(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    assert.deepEqual(rows(await db.execute(sql('SELECT id FROM things'))), [{ id: 7 }]);
  });
});
