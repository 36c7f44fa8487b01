import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { bindNamedParams } from '../../src/providers/_shared/sql-params.js';
import mysql from '../../src/providers/mysql/index.js';
import { uniqueIdentifier as unique } from '../support/names.js';
import { requireServer } from '../support/servers.js';
import {
  createTable,
  MARIADB as config,
  mariadbDirect as direct,
  ownTable,
  rows,
  sql,
  sqlFixture,
} from '../support/sql-fixture.js';
import { describeProvider, errorPaths, expectFailure, openPeer } from './conformance.js';

const canary = `Canary${randomBytes(6).toString('hex')}`;

/** Waits (generously) until no other server thread matches `where`; resolves to how many are left. */
async function settled(where: string, values: unknown[]): Promise<number> {
  const query = `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND ${where}`;
  let left = Infinity;
  for (let i = 0; i < 250 && left > 0; i += 1) {
    if (i > 0) await sleep(20);
    left = Number((await direct(query, values))[0]?.n);
  }
  return left;
}

const table = unique('pb_conf'); // the suite's table, holding one row (1, 'kept')
const refusedTable = unique('pb_ro'); // what the writes refused in read mode would have created
const sequence = unique('pb_seq'); // NEXTVAL passes Patchbay's statement check; the read-only session refuses it
const authUser = unique('pb_auth'); // exists, with a password the auth configs do not know

describeProvider(mysql, {
  config,
  ready: (t) => requireServer(t, 'mariadb'),
  setup: async () => {
    await createTable(direct, table, ['kept']);
    await direct(`CREATE SEQUENCE ${sequence}`);
    await direct(`CREATE USER '${authUser}'@'%' IDENTIFIED BY '${randomBytes(8).toString('hex')}'`);
  },
  teardown: async () => {
    await direct(`DROP TABLE IF EXISTS ${table}, ${refusedTable}`);
    await direct(`DROP SEQUENCE IF EXISTS ${sequence}`);
    await direct(`DROP USER IF EXISTS '${authUser}'@'%'`);
  },
  at: ({ host, port }) => ({ ...config, host, port }),
  schema: {
    bad: [
      { config: { ...config, port: 0 }, path: 'port' },
      { config: { host: '127.0.0.1' }, path: 'username' },
      { config: { ...config, connection_string: 'mysql://u:p@h/db' }, path: 'connection_string' },
      { config: { connection_string: 'mysql://h/db' }, path: 'connection_string' },
      { config: { connection_string: 'mysql://u@h/db?charset=latin1' }, path: 'connection_string' },
    ],
  },
  connectionTest: { message: /^Connected to (MariaDB|MySQL) \d+/ },
  auth: {
    configs: [
      { ...config, username: unique('no_such_user'), password: canary }, // ER_ACCESS_DENIED_ERROR for an unknown user
      { ...config, username: authUser, password: canary }, // and for a wrong password
    ],
  },
  tls: { config: () => ({ ...config, ssl: true }) }, // the real server, which offers no TLS
  secrets: {
    configs: [
      { connection_string: `mysql://${unique('no_such_user')}:${canary}@127.0.0.1:3306/test` },
      { ...config, password: canary },
    ],
  },
  ...sqlFixture({
    described: [
      { name: 'id', type: 'int(11)', nullable: false },
      { name: 'name', type: 'text', nullable: true },
    ],
    table,
    written: { name: "O'Brien\\; DROP TABLE x -- #", stays: 'a quote, a backslash and a comment' },
    readBack: {
      query: `SELECT id, name FROM ${table} WHERE id = :id AND name <> ':id' # :id\n`,
      where: 'a literal or a comment',
      columns: [
        { name: 'id', type: 'int' },
        { name: 'name', type: 'text' },
      ],
    },
    series: {
      endless: 'SELECT seq AS n FROM seq_1_to_1000000',
      exact: 'SELECT seq AS n FROM seq_1_to_3',
      column: { name: 'n', type: 'bigint unsigned' },
      values: ['1', '2', '3'],
    },
  }),
  readMode: {
    // Refused by Patchbay's statement check, or by the read-only session (NEXTVAL writes the sequence).
    writes: [
      `INSERT INTO ${table} VALUES (2, 'new')`,
      `CREATE TABLE ${refusedTable} (id int)`,
      `DROP TABLE ${table}`,
      `SELECT 1; DROP TABLE ${table}`,
      `SELECT * FROM ${table} INTO OUTFILE 'pb_refused.csv'`,
      `SELECT 1 /*!50000 INTO @x */`,
      'SET SESSION TRANSACTION READ WRITE',
      `SELECT NEXTVAL(${sequence}) AS next`,
    ].map((query) => sql(query)),
    snapshot: async () => ({
      rows: await direct(`SELECT * FROM ${table} ORDER BY id`),
      created: await direct('SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [
        'test',
        refusedTable,
      ]),
      sequence: await direct(`SELECT next_not_cached_value FROM ${sequence}`),
    }),
  },
  restart: {
    // Kills the pooled session's connection from a connection of the test's own, and waits until it is gone.
    restartPeer: async (peer) => {
      const [{ id } = {}] = rows(await peer.execute(sql('SELECT CONNECTION_ID() AS id')));
      await direct(`KILL ${Number(id)}`);
      assert.equal(await settled('ID = ?', [id]), 0);
    },
  },
});

/** A pooled session for one of the cases below, or undefined when the server is missing (the test is skipped). */
async function connect(t: TestContext, poolMax?: number) {
  if (!(await requireServer(t, 'mariadb'))) return undefined;
  return openPeer(t, mysql, config, { harness: poolMax === undefined ? {} : { poolMax } });
}

/** A user with a password and no grants at all, dropped afterwards. */
async function ownUser(t: TestContext) {
  const user = unique('pb_nogrant');
  const password = randomBytes(8).toString('hex');
  await direct(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
  t.after(() => direct(`DROP USER IF EXISTS '${user}'@'%'`));
  return { host: config.host, port: config.port, username: user, password };
}

describe('mysql', () => {
  test('a missing or extra param is validation_failed at params.<name>; a ? placeholder is refused', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const missing = await expectFailure(db.execute(sql('SELECT :a + :b', { a: 1 })));
    assert.equal(missing.code, 'validation_failed');
    assert.deepEqual(errorPaths(missing), ['params.b']);
    assert.deepEqual(errorPaths(await expectFailure(db.execute(sql('SELECT 1', { a: 1 })))), ['params.a']);
    assert.deepEqual(errorPaths(await expectFailure(db.execute(sql('SELECT ?')))), ['query']);
  });

  test('a repeated :name binds its value at each place', async (t) => {
    const db = await connect(t);
    if (!db) return;
    assert.deepEqual(rows(await db.execute(sql('SELECT :a AS x, CONCAT(:a, :b) AS y', { a: 'p', b: 'q' }))), [
      { x: 'p', y: 'pq' },
    ]);
  });

  test('a database that does not exist: database_not_found', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const result = await db.harness.test('mysql', { ...config, database: unique('no_such_db') });
    assert.equal(result.error_code, 'database_not_found', result.message);
  });

  test('a user without grants: permission_denied, on the table and on the database', async (t) => {
    if (!(await requireServer(t, 'mariadb'))) return;
    const name = await ownTable(t, direct);
    const user = await ownUser(t);
    const limited = openPeer(t, mysql, user);
    const error = await expectFailure(limited.execute(sql(`SELECT * FROM test.${name}`)));
    assert.equal(error.code, 'permission_denied');
    const result = await limited.harness.test('mysql', { ...user, database: 'test' });
    assert.equal(result.error_code, 'permission_denied', result.message);
  });

  test('several statements are refused in read_write mode too (query_failed), and nothing runs', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const name = await ownTable(t, direct);
    const error = await expectFailure(db.execute(sql(`SELECT 1; DROP TABLE ${name}`, undefined, 'read_write')));
    assert.equal(error.code, 'query_failed');
    assert.equal((await direct('SELECT table_name FROM information_schema.tables WHERE table_name = ?', [name])).length, 1);
  });

  test('timeout_ms kills the statement on the server (KILL QUERY): timeout, and the session still works', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const marker = unique('pb_sleep');
    // A long read (read mode refuses SLEEP): a join of ten billion rows, counted.
    const endless = `SELECT COUNT(*) AS ${marker} FROM seq_1_to_100000 AS a, seq_1_to_100000 AS b`;
    const error = await expectFailure(db.execute({ ...sql(endless), limits: { timeoutMs: 300 } }));
    assert.equal(error.code, 'timeout');
    // The server stopped the statement: nothing of it is left running (not merely a client that stopped waiting).
    assert.equal(await settled('INFO LIKE ?', [`%${marker}%`]), 0);
    assert.equal((await db.execute(sql('SELECT 1 AS one'))).ok, true);
  });

  test('a result cut at max_rows leaves nothing running on the server', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const marker = unique('pb_cut');
    const result = await db.execute({ ...sql(`SELECT seq AS ${marker} FROM seq_1_to_100000000`), limits: { maxRows: 2 } });
    assert.equal(result.truncated, true);
    assert.equal(rows(result).length, 2);
    assert.equal(await settled('INFO LIKE ?', [`%${marker}%`]), 0);
  });

  test('session state set by one read_write call does not reach the next call', async (t) => {
    const db = await connect(t, 1);
    if (!db) return;
    await db.execute(sql("SET @pb_leak = 'set', time_zone = '+05:00'", undefined, 'read_write'));
    assert.deepEqual(rows(await db.execute(sql('SELECT @pb_leak AS leak, @@session.time_zone AS zone'))), [
      { leak: null, zone: '+00:00' },
    ]);
  });

  test('one connection switches between the read-only and the read-write session as calls need', async (t) => {
    const db = await connect(t, 1);
    if (!db) return;
    const name = await ownTable(t, direct);
    await db.execute(sql(`INSERT INTO ${name} VALUES (1, 'a')`, undefined, 'read_write'));
    // A stored function that writes passes the statement check; the read-only session refuses it.
    await direct(
      `CREATE FUNCTION ${name}_fn() RETURNS int MODIFIES SQL DATA BEGIN INSERT INTO ${name} VALUES (2, 'b'); RETURN 1; END`,
    );
    t.after(() => direct(`DROP FUNCTION IF EXISTS ${name}_fn`));
    assert.equal((await expectFailure(db.execute(sql(`SELECT ${name}_fn() AS f`)))).code, 'read_only');
    assert.deepEqual(rows(await db.execute(sql(`SELECT ${name}_fn() AS f`, undefined, 'read_write'))), [{ f: 1 }]);
    assert.deepEqual(rows(await db.execute(sql(`SELECT id FROM ${name} ORDER BY id`))), [{ id: 1 }, { id: 2 }]);
  });

  test('types: bigint and decimal as strings, bytes as base64, dates ISO (timestamps in UTC), JSON, repeated names', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const name = unique('pb_types');
    await direct(
      `CREATE TABLE ${name} (big bigint, dec_ decimal(5,2), bytes varbinary(8), at timestamp(3) NULL, local_ datetime,
         day date, doc json, note varchar(10), flag tinyint unsigned)`,
    );
    t.after(() => direct(`DROP TABLE IF EXISTS ${name}`));
    await direct(
      `INSERT INTO ${name} VALUES (9007199254740993, 1.10, x'0102ff', CONVERT_TZ('2024-05-01 10:20:30.123', '+00:00', @@session.time_zone),
         '2024-05-01 10:20:30', '2024-05-01', '{"a": [1]}', NULL, 7)`,
    );
    const result = await db.execute(
      sql(`SELECT big, dec_, bytes, at, local_, day, doc, note, flag, 1 AS x, 2 AS x FROM ${name}`),
    );
    assert.deepEqual(rows(result)[0], {
      big: '9007199254740993',
      dec_: '1.10',
      bytes: Buffer.from([1, 2, 255]).toString('base64'),
      at: '2024-05-01T10:20:30.123Z',
      local_: '2024-05-01T10:20:30',
      day: '2024-05-01',
      doc: { a: [1] },
      note: null,
      flag: 7,
      x: 1,
      x_2: 2,
    });
    assert.deepEqual(
      (result.data as { columns: { type: string }[] }).columns.map((column) => column.type),
      ['bigint', 'decimal', 'varbinary', 'timestamp', 'datetime', 'date', 'json', 'varchar', 'tinyint unsigned', 'int', 'int'],
    );
  });
});

describe('mysql placeholders', () => {
  test('strings with backslash escapes, # and "-- " comments and quoted names keep their colons', () => {
    const text = [
      "SELECT ':a', 'it\\'s :b', \"x:c\", `col:d`",
      '# :e in a hash comment',
      '-- :f in a line comment',
      '/* :g */ FROM t WHERE v = :real AND w = 1--:real',
    ].join('\n');
    const bound = bindNamedParams(text, { real: 1 }, {}, 'mysql');
    assert.equal(bound.text, text.replaceAll(':real', '?'));
    assert.deepEqual(bound.values, [1, 1]);
  });

  test('/*! … */ is code the server runs, so a placeholder inside it is bound', () => {
    assert.deepEqual(bindNamedParams('SELECT 1 /*!50000 + :n */', { n: 2 }, {}, 'mysql'), {
      text: 'SELECT 1 /*!50000 + ? */',
      values: [2],
    });
  });
});
