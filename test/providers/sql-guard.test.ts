import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PatchbayError } from '../../src/errors.js';
import { assertReadOnlySql, MAX_READ_STATEMENT_BYTES } from '../../src/providers/_shared/sql-guard/index.js';
import { analyzeSql, type SqlDialect } from '../../src/providers/_shared/sql-params.js';

/**
 * Read mode's parser allow-list, statement by statement, without a server: what it accepts, and the code of
 * what it refuses. The statements are the text the providers send (placeholders already bound: `$1`, `?`).
 * test/providers/read-mode-bypass.test.ts runs the attacks against the real servers.
 */

/** undefined when the guard accepts, else the code it refuses with. */
async function verdict(dialect: SqlDialect, sql: string): Promise<string | undefined> {
  try {
    await assertReadOnlySql(dialect, sql);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof PatchbayError, `${sql}: ${String(error)}`);
    // Details name what was refused (a keyword, a function), never the statement's text.
    if (/\s/.test(sql.trim())) assert.ok(!error.message.includes(sql), `the message quotes the statement: ${error.message}`);
    return error.code;
  }
}

function table(dialect: SqlDialect, cases: { accepted: string[]; read_only: string[]; query_failed?: string[] }): void {
  test('accepts the reads', async () => {
    for (const sql of cases.accepted) assert.equal(await verdict(dialect, sql), undefined, sql);
  });
  test('refuses the rest with read_only', async () => {
    for (const sql of cases.read_only) assert.equal(await verdict(dialect, sql), 'read_only', sql);
  });
  if (cases.query_failed) {
    test('answers query_failed for what is no statement at all', async () => {
      for (const sql of cases.query_failed ?? []) assert.equal(await verdict(dialect, sql), 'query_failed', sql);
    });
  }
}

describe('sql guard: postgresql (libpg-query)', () => {
  table('postgresql', {
    accepted: [
      'SELECT 1',
      'SELECT 1;',
      'SELECT id, name FROM t WHERE id = $1 AND name <> $2',
      'WITH a AS (SELECT 1 AS x), b AS (SELECT x FROM a) SELECT * FROM b',
      'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 3) SELECT n FROM c',
      'SELECT * FROM (SELECT 1 AS x) AS s, LATERAL (SELECT s.x + 1 AS y) AS l WHERE EXISTS (SELECT 1)',
      '(SELECT 1) UNION (SELECT 2) EXCEPT SELECT 3',
      'VALUES (1), (2)',
      'TABLE pg_class',
      'EXPLAIN SELECT * FROM pg_class',
      'EXPLAIN (FORMAT JSON, COSTS false) WITH a AS (SELECT 1) SELECT * FROM a',
      'SHOW search_path',
      'SHOW ALL',
      "SELECT count(*), now(), current_setting('server_version'), currval('s'), lastval()",
      "SELECT 'pg_sleep(1)', $$ DELETE FROM t $$ AS text", // names in literals are data
      'SELECT pg_sleep FROM t', // a column of that name is no call
      "SELECT * FROM generate_series(1, 3) AS n, jsonb_each('{}') AS j",
    ],
    read_only: [
      // more than one statement
      'SELECT 1; DROP TABLE t',
      'COMMIT; DROP TABLE t',
      "SELECT set_config('transaction_read_only', 'off', true); DELETE FROM t",
      // data-modifying CTEs, at any depth
      'WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone',
      'WITH a AS (SELECT 1), b AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM a',
      'WITH u AS (UPDATE t SET x = 1 RETURNING *) SELECT 1',
      'SELECT * FROM (WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d) AS s',
      'WITH m AS (MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE RETURNING 1) SELECT 1',
      // locks and INTO
      'SELECT * FROM t FOR UPDATE',
      'SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED',
      'SELECT * FROM t FOR SHARE',
      'SELECT * FROM (SELECT * FROM t FOR UPDATE) AS s',
      'WITH l AS (SELECT * FROM t FOR KEY SHARE) SELECT * FROM l',
      'SELECT * INTO copy FROM t',
      'SELECT * INTO TEMP copy FROM t',
      // EXPLAIN ANALYZE runs its statement; EXPLAIN of anything but a SELECT
      'EXPLAIN ANALYZE DELETE FROM t',
      'EXPLAIN ANALYZE SELECT 1',
      'EXPLAIN (ANALYZE, FORMAT JSON) SELECT 1',
      'EXPLAIN (ANALYZE false) SELECT 1',
      'EXPLAIN DELETE FROM t',
      'EXPLAIN SELECT pg_sleep(1)',
      // other statements
      "COPY t TO PROGRAM 'cat > out.csv'",
      'COPY (SELECT 1) TO STDOUT',
      "COPY t FROM '/etc/passwd'",
      'SET TRANSACTION READ WRITE',
      'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE',
      'SET search_path = evil',
      'RESET ALL',
      'BEGIN',
      'COMMIT',
      'ROLLBACK',
      'LISTEN x',
      "NOTIFY x, 'y'",
      'DO $$ BEGIN PERFORM 1; END $$',
      'CALL p()',
      'LOCK TABLE t',
      'VACUUM t',
      'ANALYZE t',
      'PREPARE p AS SELECT 1',
      'EXECUTE p',
      'DECLARE c CURSOR FOR SELECT 1',
      'DISCARD ALL',
      'CREATE TABLE x (id int)',
      'CREATE TEMP TABLE x AS SELECT 1',
      'INSERT INTO t VALUES (1)',
      'UPDATE t SET x = 1',
      'DELETE FROM t',
      'TRUNCATE t',
      'DROP TABLE t',
      'GRANT ALL ON t TO PUBLIC',
      'REFRESH MATERIALIZED VIEW v',
      // denied functions: any case, qualified or not, quoted, anywhere in the tree
      "SELECT pg_read_file('/etc/passwd')",
      "SELECT pg_catalog.pg_read_file('/etc/passwd')",
      "SELECT PG_READ_BINARY_FILE('/etc/passwd')",
      'SELECT "pg_sleep"(1)',
      "SELECT * FROM pg_ls_dir('.')",
      "SELECT pg_stat_file('postgresql.conf')",
      "SELECT lo_import('/etc/passwd')",
      "SELECT lo_export(1, 'out.csv')",
      "SELECT dblink_exec('dbname=test', 'DROP TABLE t')",
      "SELECT * FROM dblink('dbname=test', 'SELECT 1') AS r(x int)",
      'SELECT pg_sleep(1)',
      "SELECT pg_sleep_for('1 second')",
      "SELECT set_config('statement_timeout', '0', false)",
      'SELECT pg_advisory_lock(1)',
      'SELECT pg_try_advisory_xact_lock(1)',
      'SELECT pg_terminate_backend(1)',
      'SELECT pg_cancel_backend(1)',
      'SELECT pg_reload_conf()',
      "SELECT nextval('s')",
      "SELECT setval('s', 1)",
      'SELECT txid_current()',
      "SELECT query_to_xml('DELETE FROM t RETURNING 1', true, false, '')",
      "SELECT * FROM ts_stat('SELECT 1')",
      "SELECT pg_notify('c', 'x')",
      "SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)",
      'SELECT 1 WHERE EXISTS (SELECT pg_sleep(1))',
      'WITH a AS (SELECT pg_sleep(1)) SELECT * FROM a',
      'SELECT x FROM t ORDER BY pg_sleep(1)',
      'SELECT * FROM ROWS FROM (pg_sleep(1)) AS r',
      'SELECT (SELECT max(pg_sleep(1)) OVER ())',
    ],
    query_failed: [
      'SELECT FROM WHERE', // PostgreSQL's own grammar: the server would answer the same in either mode
      'SELEC 1',
      'SELECT :name', // unbound placeholders are not PostgreSQL: the guard reads the bound text
      '-- only a comment',
    ],
  });
});

describe('sql guard: mysql (tokenizer)', () => {
  table('mysql', {
    accepted: [
      'SELECT 1',
      "SELECT id, name FROM t WHERE id = ? AND name <> ':id' # a comment",
      'SELECT a FROM t -- a comment\n',
      'SELECT 1 /* a plain comment; with a semicolon */',
      'SELECT * FROM t1 JOIN t2 USING (id) WHERE t1.x IN (SELECT y FROM t3) ORDER BY 1 LIMIT 10',
      'WITH RECURSIVE c AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM c WHERE n < 3) SELECT * FROM c',
      '(SELECT 1) UNION (SELECT 2)',
      'SELECT a, ROW_NUMBER() OVER (ORDER BY a) FROM t WINDOW w AS (ORDER BY a)',
      "SELECT @@session.time_zone, @x, 'SLEEP(1)', `sleep` FROM t",
      "SELECT a FROM t WHERE a = '\\'; DROP TABLE t; --'",
      'SELECT seq FROM seq_1_to_3',
      'SHOW TABLES',
      'SHOW DATABASES',
      'SHOW CREATE TABLE t',
      'SHOW COLUMNS FROM t',
      'DESCRIBE t',
      'DESC t',
      'EXPLAIN SELECT * FROM t',
      "SHOW VARIABLES LIKE 'x'",
      'DESCRIBE test.t',
      'SELECT CAST(a AS CHAR CHARACTER SET utf8mb4) FROM t',
      "SELECT REPLACE(a, 'b', 'c'), INSERT(a, 1, 1, 'x') FROM t",
      "SELECT a FROM t USE INDEX (i) WHERE b = 'INSERT INTO t VALUES (1)'",
    ],
    read_only: [
      // what is left open: the server and read mode would read the rest apart
      'SELECT 1 /* unterminated',
      "SELECT 'unterminated",
      'SELECT `unterminated',
      // executed comments and `--` that is no comment: the server and the parser would read them apart
      'SELECT 1 /*!50000 ; DROP TABLE t */',
      'SELECT 1 /*!50000 INTO @x */',
      "SELECT 1 /*! INTO OUTFILE 'out.csv' */",
      'SELECT 1 /*M! , SLEEP(5) */',
      'SELECT 1 /*M!100000 , SLEEP(5) */',
      'SELECT /*+ MAX_EXECUTION_TIME(1) */ 1',
      'SELECT 1 --1, SLEEP(5)',
      "SELECT 1 --1 INTO OUTFILE 'out.csv'",
      // more than one statement
      'SELECT 1; DROP TABLE t',
      'SELECT 1; SELECT 2',
      // INTO, locks, assignments
      "SELECT * FROM t INTO OUTFILE 'out.csv'",
      "SELECT * INTO OUTFILE 'out.csv' FROM t",
      "SELECT 1 INTO DUMPFILE 'out.csv'",
      'SELECT 1 INTO @x',
      'SELECT (SELECT 1 INTO @x)',
      "SELECT 1 UNION SELECT 2 INTO OUTFILE 'out.csv'",
      'SELECT * FROM t FOR UPDATE',
      'SELECT * FROM t LOCK IN SHARE MODE',
      'SELECT * FROM t FOR SHARE',
      'SELECT @x := 1',
      'SELECT a FROM t WHERE (@n := @n + 1) > 0',
      // denied functions, however written and wherever they stand
      'SELECT SLEEP(1)',
      'SELECT sleep(1)',
      'SELECT `SLEEP`(1)',
      'SELECT test.SLEEP(1)',
      'SELECT test.my_function(1)', // a stored function: built-in ones are never qualified
      'SELECT `test`.`my_function`(1)',
      "SELECT BENCHMARK(100000000, MD5('a'))",
      "SELECT LOAD_FILE('/etc/passwd')",
      "SELECT GET_LOCK('l', 1)",
      "SELECT RELEASE_LOCK('l')",
      "SELECT IS_FREE_LOCK('l')",
      "SELECT MASTER_POS_WAIT('log', 1)",
      'SELECT NEXTVAL(s)',
      'SELECT SETVAL(s, 1)',
      'SELECT LAST_INSERT_ID(5)',
      'SELECT x FROM t WHERE y IN (SELECT SLEEP(1))',
      'WITH a AS (SELECT SLEEP(1)) SELECT * FROM a',
      'SELECT * FROM (SELECT SLEEP(1)) AS x',
      'SHOW TABLES WHERE SLEEP(1)',
      'SELECT sleep FROM t', // a column named like a denied function: quote it (`sleep`)
      // other statements
      'SET SESSION TRANSACTION READ WRITE',
      'SET @x = 1',
      'SET autocommit = 0',
      'START TRANSACTION',
      'COMMIT',
      'INSERT INTO t VALUES (1)',
      'REPLACE INTO t VALUES (1)',
      'UPDATE t SET x = 1',
      'DELETE FROM t',
      'CREATE TABLE x (id int)',
      'CREATE TEMPORARY TABLE x (id int)',
      'DROP TABLE t',
      'ALTER TABLE t ADD c int',
      'TRUNCATE t',
      'RENAME TABLE t TO u',
      'CALL p()',
      'DO 1',
      'HANDLER t OPEN',
      'LOCK TABLES t READ',
      "LOAD DATA INFILE '/etc/passwd' INTO TABLE t",
      'USE mysql',
      'KILL 1',
      'FLUSH TABLES',
      'ANALYZE TABLE t',
      'ANALYZE SELECT 1', // MariaDB runs the statement
      'EXPLAIN ANALYZE SELECT 1', // MySQL runs the statement
      'EXPLAIN DELETE FROM t',
      'PREPARE s FROM "SELECT 1"',
      'VALUES (1)',
      'TABLE t',
      'SELECT NEXT VALUE FOR s',
      'SELECT * FROM t PROCEDURE ANALYSE()',
      'WITH a AS (SELECT 1) UPDATE t SET x = 1',
    ],
    query_failed: ['-- only a comment', '# only a comment'],
  });
});

describe('sql guard: sqlite (tokenizer)', () => {
  table('sqlite', {
    accepted: [
      'SELECT 1',
      "SELECT id, name AS [name:id] FROM things WHERE id = ? AND name <> ':id'",
      'SELECT [a`b] FROM [my table]',
      'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c',
      'SELECT sqlite_version() AS version, (SELECT count(*) FROM sqlite_master) AS objects',
      "SELECT * FROM pragma_table_info('t')",
      "SELECT json_extract(doc, '$.a'), randomblob(16) FROM t",
      'SELECT a FROM t -- a comment',
      'EXPLAIN SELECT 1',
      'EXPLAIN QUERY PLAN SELECT * FROM t WHERE id = ?',
      'SELECT * FROM pragma_user_version, pragma_foreign_keys',
      'SELECT row_number() OVER (ORDER BY a) FROM t',
      'SELECT 1 INTERSECT SELECT 1',
      "SELECT replace(a, 'b', 'c') FROM t",
    ],
    read_only: [
      "ATTACH 'other.db' AS other",
      'DETACH other',
      'VACUUM',
      "VACUUM INTO 'copy.db'",
      'REINDEX',
      'ANALYZE',
      // PRAGMA, even a reading one: the table-valued pragma functions read without a way to set
      'PRAGMA table_info(t)',
      'PRAGMA user_version',
      'PRAGMA user_version = 7',
      'PRAGMA user_version(7)',
      'PRAGMA foreign_keys = OFF',
      'PRAGMA query_only = 0',
      'PRAGMA writable_schema = 1',
      "PRAGMA temp_store_directory = 'elsewhere'",
      'PRAGMA optimize',
      'SELECT * FROM pragma_database_list', // the file's full path on the server
      // denied functions, however quoted
      "SELECT load_extension('x')",
      'SELECT "load_extension"(\'x\')',
      "SELECT `load_extension`('x')",
      "SELECT a FROM t WHERE b IN (SELECT load_extension('x'))",
      "SELECT readfile('/etc/passwd')",
      "SELECT writefile('x', 'y')",
      "SELECT * FROM fsdir('.')",
      "SELECT fts3_tokenizer('simple')",
      // `#name` is a parameter to SQLite and a comment to the parser
      'SELECT #a',
      "SELECT 1 AS a, #x\n load_extension('x')",
      // more than one statement, and other statements
      'SELECT 1; DROP TABLE t',
      'WITH x AS (SELECT 1) DELETE FROM things',
      'INSERT INTO t VALUES (1)',
      'UPDATE t SET a = 1',
      'DELETE FROM t',
      'CREATE TABLE x (a)',
      'DROP TABLE t',
      'BEGIN',
      'EXPLAIN DELETE FROM t',
      'VALUES (1)',
      'SELECT [unclosed FROM t',
      'SELECT 1 /* unterminated',
      'WITH x AS (SELECT 1) REPLACE INTO t VALUES (1)',
    ],
    query_failed: ['-- only a comment'],
  });
});

describe('sql guard: what the tokenizer tells the parser', () => {
  test('MySQL: executed comments (/*!, /*M!, /*+) and a -- that is no comment are quirks; plain comments are not', () => {
    const kinds = (sql: string) => analyzeSql(sql, 'mysql').quirks.map((quirk) => quirk.kind);
    assert.deepEqual(kinds('SELECT 1 /*!50000 , 2 */ /*M! , 3 */ /*+ HINT */'), [
      'executed_comment',
      'executed_comment',
      'executed_comment',
    ]);
    assert.deepEqual(kinds('SELECT 1--1'), ['dash_dash']);
    assert.deepEqual(kinds("SELECT '/*!', '--1' /* /*! */ -- /*!\n# --1"), []);
  });

  test('MySQL: a placeholder inside /*M! … */ is code, as inside /*! … */', () => {
    assert.deepEqual(
      analyzeSql('SELECT 1 /*M!100000 + :n */', 'mysql').placeholders.map((placeholder) => placeholder.name),
      ['n'],
    );
  });

  test('SQLite: # starts a parameter and [name] is a quoted name, outside literals and comments', () => {
    const quirks = (sql: string) => analyzeSql(sql, 'sqlite').quirks.map(({ kind, start, end }) => [kind, sql.slice(start, end)]);
    assert.deepEqual(quirks("SELECT #a, [b c] FROM t WHERE x = '#no' -- [no]"), [
      ['hash', '#a'],
      ['bracket_name', '[b c]'],
    ]);
  });
});

describe('sql guard: size and shape of what it reads', () => {
  const dialects: SqlDialect[] = ['postgresql', 'mysql', 'sqlite'];
  const MiB = 1024 * 1024;

  test('a statement above the read-mode cap is refused with validation_failed, before it is read', async () => {
    for (const dialect of dialects) {
      for (const text of [`SELECT 1 ${'/*'.repeat(MiB / 2)}`, `SELECT '${'x'.repeat(MAX_READ_STATEMENT_BYTES)}'`]) {
        assert.equal(await verdict(dialect, text), 'validation_failed', dialect);
      }
      // Counted in UTF-8 bytes: fewer characters than the cap, more bytes.
      assert.equal(await verdict(dialect, `SELECT '${'é'.repeat(MAX_READ_STATEMENT_BYTES / 2)}'`), 'validation_failed');
    }
  });

  test('adversarial statements just under the cap get their verdict (the bench times them)', async () => {
    const under = (unit: string, prefix = 'SELECT ') =>
      prefix + unit.repeat(Math.floor((MAX_READ_STATEMENT_BYTES - prefix.length - 8) / Buffer.byteLength(unit)));
    const cases: [string, Record<SqlDialect, string>][] = [
      [under(' /*', 'SELECT 1 '), { postgresql: 'read_only', mysql: 'read_only', sqlite: 'read_only' }],
      [under('(SELECT '), { postgresql: 'read_only', mysql: 'accepted', sqlite: 'accepted' }],
      [under('('), { postgresql: 'read_only', mysql: 'accepted', sqlite: 'accepted' }],
      [under("x''", "SELECT '"), { postgresql: 'read_only', mysql: 'read_only', sqlite: 'read_only' }],
      [under('a,') + 'a', { postgresql: 'accepted', mysql: 'accepted', sqlite: 'accepted' }],
    ];
    for (const [text, expected] of cases) {
      for (const dialect of dialects) {
        assert.ok(Buffer.byteLength(text) <= MAX_READ_STATEMENT_BYTES);
        const code = (await verdict(dialect, text)) ?? 'accepted';
        // PostgreSQL's scanner answers an unterminated quote itself (query_failed); mysql and sqlite refuse it.
        const wanted = dialect === 'postgresql' && text.startsWith("SELECT 'x''") ? 'query_failed' : expected[dialect];
        assert.equal(code, wanted, `${dialect}: ${text.slice(0, 30)}…`);
      }
    }
  });

  test('nested, unclosed subqueries get their verdict at once (a backtracking parser took minutes on 400 bytes)', async () => {
    for (const dialect of ['mysql', 'sqlite'] as const) {
      // Nothing in them writes: the server answers their syntax error itself (query_failed).
      assert.equal(await verdict(dialect, `SELECT ${'(SELECT '.repeat(50)}`), undefined);
      assert.equal(await verdict(dialect, `SELECT ${'EXISTS(SELECT '.repeat(50)} + ${')'.repeat(50)}`), undefined);
      const denied = dialect === 'mysql' ? 'SLEEP(1)' : "load_extension('x')";
      assert.equal(await verdict(dialect, `SELECT ${'(SELECT '.repeat(50)} ${denied}`), 'read_only');
    }
  });

  test('PostgreSQL: nesting deeper than the guard reads is refused before the parser sees it', async () => {
    assert.equal(await verdict('postgresql', `SELECT ${'('.repeat(65)}1${')'.repeat(65)}`), 'read_only');
    assert.equal(await verdict('postgresql', `SELECT ${'('.repeat(64)}1${')'.repeat(64)}`), undefined);
    assert.equal(await verdict('postgresql', `SELECT 1 ${'/*'.repeat(65)}${'*/'.repeat(65)}`), 'read_only');
    // A long chain of operators is a deep tree: walked without recursion.
    assert.equal(await verdict('postgresql', `SELECT 1${'+1'.repeat(5_000)}`), undefined);
  });
});
