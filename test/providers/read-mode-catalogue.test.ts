import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import type { ExecuteResult } from '../../src/providers/harness.js';
import mysql from '../../src/providers/mysql/index.js';
import postgresql from '../../src/providers/postgresql/index.js';
import sqlite from '../../src/providers/sqlite/index.js';
import { uniqueIdentifier as unique } from '../support/names.js';
import { requireServer } from '../support/servers.js';
import { MARIADB, mariadbDirect, POSTGRESQL, postgresDirect, rows, sql, sqliteRoot } from '../support/sql-fixture.js';
import { expectFailure, openPeer, type Call } from './conformance.js';

/**
 * Read mode's function policy from the server's own catalogue (sql-guard/catalogue.ts), on the real servers:
 * what the name denylist could not know (functions that run SQL text, user-defined and extension functions,
 * functions created after the session's first call) is refused with read_only, and nothing it would have done
 * happened.
 */

async function refused(peer: { execute(call: Call): Promise<ExecuteResult> }, query: string, why?: RegExp): Promise<void> {
  const error = await expectFailure(peer.execute(sql(query)));
  assert.equal(error.code, 'read_only', `${query}: ${error.message}`);
  if (why) assert.match(error.message, why, query);
}

describe('read-mode catalogue: postgresql', () => {
  const direct = (database: string, text: string, values: unknown[] = []) => postgresDirect(text, values, database);

  /** A scratch database of the test's own, dropped afterwards. */
  async function scratch(t: TestContext): Promise<string> {
    const database = unique('pb_catalogue');
    await direct('test', `CREATE DATABASE ${database}`);
    t.after(() => direct('test', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    return database;
  }

  const advisoryLocks = (database: string, key: number) =>
    direct(database, "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1::oid", [key]);

  test('ts_rewrite running SQL text is refused, and no advisory lock outlives the call', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const database = await scratch(t);
    const peer = openPeer(t, postgresql, { ...POSTGRESQL, database }, { harness: { poolMax: 1 } });
    const key = 2_000_000 + Math.floor(Math.random() * 1_000_000);

    await refused(
      peer,
      `SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery FROM pg_advisory_lock(${key})')`,
      /ts_rewrite\(\) is refused in read mode: it runs SQL given as text/,
    );
    await refused(peer, "SELECT * FROM ts_stat('SELECT to_tsvector(''a'') FROM pg_advisory_lock(1)')");
    await refused(peer, "SELECT query_to_xml('SELECT pg_advisory_lock(1)', true, false, '')");
    assert.equal((await advisoryLocks(database, key)).rows[0]?.n, 0, 'an advisory lock outlived the call');

    // The harmless forms and functions still run.
    const [row] = rows(
      await peer.execute(
        sql(
          "SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)::text AS q, random() < 2 AS r, now() IS NOT NULL AS n",
        ),
      ),
    );
    assert.deepEqual(row, { q: "'b' & 'c'", r: true, n: true });
    await refused(peer, 'SELECT setseed(0.5)', /volatile/);
    await refused(peer, "SELECT txid_current_if_assigned(), pg_notify('x', 'y')");
  });

  test('dblink_exec is refused where the extension exists', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const database = await scratch(t);
    const available = await direct(database, "SELECT 1 FROM pg_available_extensions WHERE name = 'dblink'");
    if (available.rowCount === 0) {
      t.skip('the dblink extension is not installed on this server (postgresql-contrib)');
      return;
    }
    await direct(database, 'CREATE EXTENSION dblink');
    const table = unique('pb_dblink');
    const peer = openPeer(t, postgresql, { ...POSTGRESQL, database });
    await refused(peer, `SELECT dblink_exec('dbname=${database} user=postgres', 'CREATE TABLE ${table} (id int)')`);
    // Quoted and schema-qualified, past the name denylist: pg_proc still names it volatile.
    await refused(peer, `SELECT public."dblink_exec"('dbname=${database} user=postgres', 'CREATE TABLE ${table} (id int)')`);
    const created = await direct(database, 'SELECT to_regclass($1)::text AS t', [table]);
    assert.equal(created.rows[0]?.t, null);
  });

  test("user-defined functions are refused, also one created after the session's first call", async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const database = await scratch(t);
    await direct(database, 'CREATE TABLE log (at timestamptz)');
    await direct(
      database,
      'CREATE FUNCTION note() RETURNS int LANGUAGE plpgsql VOLATILE AS $$ BEGIN INSERT INTO log VALUES (now()); RETURN 1; END $$',
    );
    const peer = openPeer(t, postgresql, { ...POSTGRESQL, database }, { harness: { poolMax: 1 } });

    await refused(peer, 'SELECT note()', /volatile/);
    assert.deepEqual(rows(await peer.execute(sql('SELECT count(*)::int AS n FROM log'))), [{ n: 0 }]);

    // Created after the session's first call: pg_proc is asked on every call, so no cache hides it.
    const key = 3_000_000 + Math.floor(Math.random() * 1_000_000);
    await direct(
      database,
      `CREATE FUNCTION lock_it() RETURNS int LANGUAGE plpgsql STABLE AS $$ BEGIN PERFORM pg_advisory_lock(${key}); RETURN 1; END $$`,
    );
    await direct(database, 'CREATE FUNCTION plain_sql(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x $$');
    await refused(peer, 'SELECT lock_it()', /plpgsql function outside the system catalogue/);
    await refused(peer, 'SELECT plain_sql(1)', /sql function outside the system catalogue/);
    assert.equal((await advisoryLocks(database, key)).rows[0]?.n, 0);

    // A user's function named like an allowed one does not ride on the allow-list.
    await direct(database, 'CREATE FUNCTION public.random(x int) RETURNS int LANGUAGE sql VOLATILE AS $$ SELECT x $$');
    await refused(peer, 'SELECT public.random(1)', /volatile/);
    assert.equal(rows(await peer.execute(sql('SELECT random() < 2 AS r')))[0]?.r, true);
  });
});

describe('read-mode catalogue: mysql (MariaDB)', () => {
  const direct = mariadbDirect;

  test('stored functions are refused, also one created after the first call; built-ins run', async (t) => {
    if (!(await requireServer(t, 'mariadb'))) return;
    const fn = unique('pb_fn');
    const later = unique('pb_later');
    t.after(async () => {
      await direct(`DROP FUNCTION IF EXISTS ${fn}`);
      await direct(`DROP FUNCTION IF EXISTS ${later}`);
    });
    await direct(`CREATE FUNCTION ${fn}() RETURNS INT DETERMINISTIC RETURN GET_LOCK('${fn}', 0)`);
    const peer = openPeer(t, mysql, MARIADB, { harness: { poolMax: 1 } });

    assert.deepEqual(rows(await peer.execute(sql("SELECT CONCAT('a', 'b') AS c, ABS(-1) AS a"))), [{ c: 'ab', a: 1 }]);
    await refused(peer, `SELECT ${fn}()`, /stored function/);
    await refused(peer, `SELECT \`${fn.toUpperCase()}\`()`, /stored function/);
    await refused(peer, `SELECT test.${fn}()`);
    for (const query of [
      'SELECT SLEEP(1)',
      "SELECT GET_LOCK('x', 0)",
      "SELECT RELEASE_LOCK('x')",
      'SELECT BENCHMARK(1, 1)',
      "SELECT LOAD_FILE('x')",
    ]) {
      await refused(peer, query);
    }

    // A name first met when it did not exist yet is looked up again, not remembered as built in.
    const first = await expectFailure(peer.execute(sql(`SELECT ${later}()`)));
    assert.equal(first.code, 'query_failed');
    await direct(`CREATE FUNCTION ${later}() RETURNS INT DETERMINISTIC RETURN 1`);
    await refused(peer, `SELECT ${later}()`, /stored function/);
  });
});

describe('read-mode catalogue: sqlite', () => {
  test('load_extension and the functions extensions add are refused; built-ins run', async (t) => {
    const { root, direct } = await sqliteRoot(t);
    const file = `${unique('catalogue')}.db`;
    await direct(file, 'CREATE TABLE t (a TEXT)');
    const peer = openPeer(t, sqlite, { path: file }, { harness: { sqliteRoot: root } });

    assert.deepEqual(rows(await peer.execute(sql("SELECT upper('a') AS u, json_array(1) AS j, abs(-2) AS a"))), [
      { u: 'A', j: '[1]', a: 2 },
    ]);
    await refused(peer, "SELECT load_extension('x')");
    // Added by the FTS3 and R*Tree extensions compiled into the library, not built in: optimize() merges an index.
    await refused(peer, "SELECT optimize('x')", /not built into SQLite/);
    await refused(peer, 'SELECT rtreenode(2, x)', /not built into SQLite/);
  });
});
