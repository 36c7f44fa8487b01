import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { PatchbayError } from '../../src/errors.js';
import { assertReadOnlySql } from '../../src/providers/_shared/sql-guard/index.js';
import type { SqlDialect } from '../../src/providers/_shared/sql-params.js';
import type { HarnessOptions } from '../../src/providers/harness.js';
import graphql from '../../src/providers/graphql.js';
import mysql from '../../src/providers/mysql/index.js';
import postgresql from '../../src/providers/postgresql/index.js';
import redis from '../../src/providers/redis.js';
import rest from '../../src/providers/rest.js';
import sqlite from '../../src/providers/sqlite/index.js';
import type { Provider } from '../../src/providers/types.js';
import { startGraphqlPeer, startRestPeer } from '../support/http-peers.js';
import { uniqueIdentifier as unique } from '../support/names.js';
import { redisCommand } from '../support/redis.js';
import { requireServer } from '../support/servers.js';
import {
  createTable,
  MARIADB,
  mariadbDirect,
  POSTGRESQL,
  postgresDirect,
  rows,
  sql,
  sqliteRoot,
} from '../support/sql-fixture.js';
import { expectFailure, openPeer, type Call, type Config } from './conformance.js';

/**
 * The read-mode bypass corpus ("agents as clients"), run for real: each attack goes through a ProviderHarness in
 * `read` mode against the real server (or the test's own HTTP peer), must be refused with its code, and must
 * leave the data as it was, which the test checks over a channel of its own. The SQL attacks are also run with
 * the operation's keyword pre-check switched off, so that the parser gate (sql-guard) and the database's own
 * wall are shown to hold by themselves, and the guard alone is asked about each of them.
 */

/** Where a file an attack would write goes: a name no one else uses, never created by the test itself. */
const strayFile = (prefix: string) => path.join(os.tmpdir(), `${unique(prefix)}.out`);

/** The provider with its keyword pre-check (`writes()`) switched off: only execute()'s guard and the database remain. */
function withoutPrecheck(provider: Provider): Provider {
  const query = provider.operations.query;
  assert.ok(query, `${provider.id} has no query operation`);
  return { ...provider, operations: { ...provider.operations, query: { ...query, writes: 'never' } } };
}

/**
 * Runs every attack through the provider as deployed and through the one without its pre-check (one pooled
 * connection each, so that session state an attack left behind would reach the checks that follow), after
 * asking the guard alone; each must be refused with read_only.
 */
async function refuseAll(
  t: TestContext,
  provider: Provider,
  dialect: SqlDialect,
  config: Config,
  attacks: string[],
  harness: Partial<Pick<HarnessOptions, 'sqliteRoot'>> = {},
) {
  const deployed = openPeer(t, provider, config, { harness: { ...harness, poolMax: 1 } });
  const bare = openPeer(t, withoutPrecheck(provider), config, { harness: { ...harness, poolMax: 1 } });
  const peers = [deployed, bare];
  for (const query of attacks) {
    await assert.rejects(
      assertReadOnlySql(dialect, query),
      (error) => error instanceof PatchbayError && error.code === 'read_only',
      query,
    );
    for (const [index, peer] of peers.entries()) {
      const error = await expectFailure(peer.execute(sql(query)));
      assert.equal(error.code, 'read_only', `${index === 0 ? '' : 'without the pre-check: '}${query}: ${error.message}`);
    }
  }
  return [deployed, bare] as const;
}

describe('read-mode bypass: postgresql', () => {
  const direct = postgresDirect;

  test('every attack is refused with read_only, and nothing changed', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const table = unique('pb_bypass');
    const created = unique('pb_bypass_into');
    const sequence = unique('pb_bypass_seq');
    const lockKey = 1_000_000 + Math.floor(Math.random() * 1_000_000);
    const file = strayFile('pb_bypass_pg');
    await createTable(direct, table, ['kept', 'also kept']);
    await direct(`CREATE SEQUENCE ${sequence}`);
    t.after(() => direct(`DROP TABLE IF EXISTS ${table}, ${created}; DROP SEQUENCE IF EXISTS ${sequence}`));
    const snapshot = async () => ({
      rows: (await direct(`SELECT * FROM ${table} ORDER BY id`)).rows,
      tables: (await direct('SELECT to_regclass($1)::text AS kept, to_regclass($2)::text AS created', [table, created])).rows,
      sequence: (await direct(`SELECT last_value, is_called FROM ${sequence}`)).rows,
      advisoryLocks: (
        await direct("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1::oid", [lockKey])
      ).rows,
      programRan: existsSync(file),
    });
    const before = await snapshot();

    const [deployed, bare] = await refuseAll(t, postgresql, 'postgresql', POSTGRESQL, [
      `WITH gone AS (DELETE FROM ${table} RETURNING *) SELECT * FROM gone`,
      `SELECT 1; DROP TABLE ${table}`,
      `COMMIT; DROP TABLE ${table}`,
      `SELECT * FROM ${table} FOR UPDATE`,
      `EXPLAIN ANALYZE DELETE FROM ${table}`,
      `COPY ${table} TO PROGRAM 'cat > ${file}'`,
      'SET TRANSACTION READ WRITE',
      "SELECT pg_read_file('PG_VERSION')",
      "SELECT set_config('pb.bypass', 'leaked', false)",
      `SELECT * INTO ${created} FROM ${table}`,
      `SELECT nextval('${sequence}')`,
      `SELECT pg_advisory_lock(${lockKey})`,
      'SELECT pg_sleep(5)',
      `SELECT dblink_exec('dbname=test', 'DROP TABLE ${table}')`,
    ]);

    assert.deepEqual(await snapshot(), before);
    assert.equal(before.tables[0]?.created, null);
    for (const peer of [deployed, bare]) {
      // The same pooled connection still reads, and carries nothing an attack would have set on it.
      const [state] = rows(
        await peer.execute(sql(`SELECT count(*)::int AS n, current_setting('pb.bypass', true) AS leaked FROM ${table}`)),
      );
      assert.equal(state?.n, 2);
      assert.notEqual(state?.leaked, 'leaked');
    }
  });
});

describe('read-mode bypass: mysql (MariaDB)', () => {
  const direct = mariadbDirect;

  test('every attack is refused with read_only, and nothing changed', async (t) => {
    if (!(await requireServer(t, 'mariadb'))) return;
    const table = unique('pb_bypass');
    const sequence = unique('pb_bypass_seq');
    const lock = unique('pb_bypass_lock');
    const file = strayFile('pb_bypass_my');
    await createTable(direct, table, ['kept', 'also kept']);
    await direct(`CREATE SEQUENCE ${sequence}`);
    t.after(async () => {
      await direct(`DROP TABLE IF EXISTS ${table}`);
      await direct(`DROP SEQUENCE IF EXISTS ${sequence}`);
    });
    const snapshot = async () => ({
      rows: await direct(`SELECT * FROM ${table} ORDER BY id`),
      tables: await direct('SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [
        'test',
        table,
      ]),
      sequence: await direct(`SELECT next_not_cached_value FROM ${sequence}`),
      lock: await direct('SELECT IS_USED_LOCK(?) AS holder', [lock]),
      fileWritten: existsSync(file),
    });
    const before = await snapshot();

    const [deployed, bare] = await refuseAll(t, mysql, 'mysql', MARIADB, [
      `SELECT 1 /*!50000 ; DROP TABLE ${table} */`,
      `SELECT 1 /*!50000 INTO OUTFILE '${file}' */`,
      `SELECT 1 /*M! INTO OUTFILE '${file}' */`,
      `SELECT * FROM ${table} INTO OUTFILE '${file}'`,
      `SELECT 1 --1 INTO OUTFILE '${file}'`,
      `SELECT 1; DROP TABLE ${table}`,
      `SELECT * FROM ${table} FOR UPDATE`,
      'SELECT SLEEP(5)',
      'SELECT 1 --1, SLEEP(5)',
      "SELECT LOAD_FILE(CONCAT(@@datadir, 'mysql/db.opt'))",
      `SELECT NEXTVAL(${sequence})`,
      `SELECT GET_LOCK('${lock}', 0)`,
      "SELECT @pb_bypass := 'leaked'",
      'SET SESSION TRANSACTION READ WRITE',
      `DROP TABLE ${table}`,
    ]);

    assert.deepEqual(await snapshot(), before);
    assert.equal(before.lock[0]?.holder, null);
    for (const peer of [deployed, bare]) {
      // The same pooled connection still reads, is still read-only, and holds no variable an attack set.
      assert.deepEqual(rows(await peer.execute(sql(`SELECT COUNT(*) AS n FROM ${table}`))), [{ n: '2' }]);
      assert.deepEqual(rows(await peer.execute(sql('SELECT @pb_bypass AS leaked, @@session.tx_read_only AS ro'))), [
        { leaked: null, ro: '1' },
      ]);
    }
  });
});

describe('read-mode bypass: sqlite', () => {
  test('every attack is refused with read_only, and nothing changed', async (t) => {
    const { root, direct } = await sqliteRoot(t);
    const file = `${unique('bypass')}.db`;
    await createTable((text) => direct(file, text), 'things', ['kept', 'also kept']);
    const strays = ['other.db', 'copy.db'];
    const snapshot = async () => ({
      rows: await direct(file, 'SELECT * FROM things ORDER BY id'),
      objects: await direct(file, 'SELECT name FROM sqlite_master ORDER BY name'),
      version: await direct(file, 'PRAGMA user_version'),
      files: strays.filter((name) => existsSync(path.join(root, name))),
    });
    const before = await snapshot();

    const peers = await refuseAll(
      t,
      sqlite,
      'sqlite',
      { path: file },
      [
        "ATTACH 'other.db' AS other",
        "VACUUM INTO 'copy.db'",
        'SELECT 1; DROP TABLE things',
        'WITH x AS (SELECT 1) DELETE FROM things',
        "INSERT INTO things VALUES (3, 'new')",
        'DROP TABLE things',
        'PRAGMA user_version = 7',
        'PRAGMA foreign_keys = ON',
        "SELECT load_extension('mod_spatialite')",
        "SELECT 1 AS a, #x\n load_extension('mod_spatialite')",
      ],
      { sqliteRoot: root },
    );

    assert.deepEqual(await snapshot(), before);
    for (const peer of peers) {
      // The same handle still reads, and kept no setting an attack would have switched on.
      assert.deepEqual(rows(await peer.execute(sql('SELECT count(*) AS n FROM things'))), [{ n: 2 }]);
      assert.deepEqual(rows(await peer.execute(sql('SELECT * FROM pragma_foreign_keys'))), [{ foreign_keys: 0 }]);
    }
  });
});

describe('read-mode bypass: graphql', () => {
  test('a mutation behind a fragment or an operation name is refused before anything is sent', async (t) => {
    const server = await startGraphqlPeer();
    t.after(() => server.stop());
    server.items.set('c1', { id: 'c1', name: 'kept' });
    const api = openPeer(t, graphql, { endpoint: server.endpoint });
    const gql = (query: string, operationName?: string): Call => ({
      input: operationName === undefined ? { query } : { query, operation_name: operationName },
    });
    const sent = server.requests.length;

    for (const attack of [
      gql('mutation { ...Remove } fragment Remove on Mutation { removeItem(id: "c1") }'),
      gql('{ ... on Mutation { removeItem(id: "c1") } }'),
      gql('query Q { hello } mutation M { removeItem(id: "c1") }', 'M'),
      gql('query Q { hello } mutation M { removeItem(id: "c1") }', 'Q'),
      gql('mutation GetItem { removeItem(id: "c1") }'),
      gql('subscription { hello }'),
    ]) {
      assert.equal((await expectFailure(api.execute(attack))).code, 'read_only', JSON.stringify(attack.input));
    }

    assert.equal(server.requests.length, sent, 'a refused operation reached the server');
    assert.deepEqual([...server.items.entries()], [['c1', { id: 'c1', name: 'kept' }]]);
    const read = await api.execute(gql('query GetItem { item(id: "c1") { name } }'));
    assert.deepEqual((read.data as { body: unknown }).body, { data: { item: { name: 'kept' } } });
  });
});

describe('read-mode bypass: redis', () => {
  test('EVAL and other writing commands are refused, and the key is unchanged', async (t) => {
    if (!(await requireServer(t, 'redis'))) return;
    const db = 5;
    const key = unique('pb_bypass');
    const direct = (...command: string[]) => redisCommand(command, { db });
    await direct('SET', key, 'kept');
    t.after(() => direct('DEL', key));
    const store = openPeer(t, redis, { host: '127.0.0.1', port: 6379, db });
    const cmd = (...command: string[]): Call => ({ input: { command } });

    for (const attack of [
      cmd('EVAL', "return redis.call('DEL', KEYS[1])", '1', key),
      cmd('EVAL_RO', "return redis.call('GET', KEYS[1])", '1', key),
      cmd('EVALSHA', 'ffffffffffffffffffffffffffffffffffffffff', '1', key),
      cmd('FCALL', 'remove', '1', key),
      cmd('SCRIPT', 'FLUSH'),
      cmd('MULTI'),
      cmd('DEL', key),
      cmd('SET', key, 'changed'),
    ]) {
      assert.equal((await expectFailure(store.execute(attack))).code, 'read_only', JSON.stringify(attack.input));
    }

    assert.equal(await direct('GET', key), 'kept');
    assert.equal(await direct('TTL', key), -1);
    assert.equal((await store.execute(cmd('GET', key))).data, 'kept');
  });
});

describe('read-mode bypass: rest', () => {
  test('POST, PUT, PATCH and DELETE are refused before anything is sent', async (t) => {
    const server = await startRestPeer();
    t.after(() => server.stop());
    server.items.set('kept', { id: 'kept', name: 'kept' });
    const api = openPeer(t, rest, { base_url: server.baseUrl });
    const call = (input: Record<string, unknown>): Call => ({ input });

    for (const attack of [
      call({ method: 'POST', path: '/items', body: { id: 'new', name: 'x' } }),
      call({ method: 'PUT', path: '/items/kept', body: { id: 'kept', name: 'changed' } }),
      call({ method: 'PATCH', path: '/items/kept', body: { name: 'changed' } }),
      call({ method: 'DELETE', path: '/items/kept' }),
    ]) {
      assert.equal((await expectFailure(api.execute(attack))).code, 'read_only', JSON.stringify(attack.input));
    }

    assert.deepEqual(
      server.requests.filter((request) => !['GET', 'HEAD'].includes(request.method)),
      [],
      'a refused request reached the server',
    );
    assert.deepEqual([...server.items.entries()], [['kept', { id: 'kept', name: 'kept' }]]);
    const read = await api.execute(call({ path: '/items/kept' }));
    assert.deepEqual((read.data as { body: unknown }).body, { id: 'kept', name: 'kept' });
  });
});
