import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mysql from '../../src/providers/mysql/index.js';
import postgresql from '../../src/providers/postgresql/index.js';
import { uniqueIdentifier as unique } from '../support/names.js';
import { requireServer } from '../support/servers.js';
import { MARIADB, mariadbDirect, POSTGRESQL, postgresDirect, rows, sql } from '../support/sql-fixture.js';
import { expectFailure, openPeer } from './conformance.js';

/**
 * Pooled sessions carry nothing from one call into the next: a read_write call that leaves every kind of session
 * state behind (settings, search_path, role, temporary tables, prepared statements, advisory or named locks,
 * LISTEN, user variables) is followed, on the same connector and a pool of one connection, by a read call and
 * another read_write call that see none of it; and read and read_write calls never share a connection.
 */

describe('pooled sessions: postgresql', () => {
  const config = POSTGRESQL;
  const direct = postgresDirect;

  test('no state of a read_write call reaches the next read or read_write call', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const peer = openPeer(t, postgresql, config, { harness: { poolMax: 1 } });
    const key = 4_000_000 + Math.floor(Math.random() * 1_000_000);
    const channel = unique('pb_channel');
    const temp = unique('pb_temp');

    const writer = rows(await peer.execute(sql('SELECT pg_backend_pid() AS pid', undefined, 'read_write')))[0]?.pid;
    for (const statement of [
      "SET application_name = 'pb_leaked'",
      'SET search_path = pg_catalog',
      'SET ROLE pg_monitor',
      "SET statement_timeout = '1h'",
      `CREATE TEMP TABLE ${temp} (id int)`,
      `SELECT pg_advisory_lock(${key})`,
      'PREPARE pb_leaked AS SELECT 1',
      `LISTEN ${channel}`,
    ]) {
      await peer.execute(sql(statement, undefined, 'read_write'));
    }
    assert.equal(
      rows(await peer.execute(sql('SELECT pg_backend_pid() AS pid', undefined, 'read_write')))[0]?.pid,
      writer,
      'the pool of one reused its connection',
    );
    assert.equal(
      (await direct("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1::oid", [key])).rows[0]?.n,
      0,
      'an advisory lock outlived its call',
    );

    const state = `SELECT pg_backend_pid() AS pid, current_setting('application_name') AS app,
        current_setting('search_path') AS path, current_user AS who, current_setting('statement_timeout') AS timeout,
        to_regclass('pg_temp.${temp}')::text AS temp, (SELECT count(*)::int FROM pg_prepared_statements) AS prepared,
        (SELECT count(*)::int FROM pg_listening_channels() AS c WHERE c = '${channel}') AS listening`;
    const clean = { app: 'patchbay', path: '"$user", public', who: 'postgres', temp: null, prepared: 0, listening: 0 };
    for (const mode of ['read', 'read_write'] as const) {
      const [seen] = rows(await peer.execute(sql(state, undefined, mode)));
      const { pid, timeout, ...rest } = seen ?? {};
      assert.deepEqual(rest, clean, `${mode} call`);
      assert.notEqual(timeout, '1h');
      if (mode === 'read') assert.notEqual(pid, writer, 'a read call ran on the connection of read_write calls');
      else assert.equal(pid, writer);
    }
  });
});

describe('pooled sessions: mysql (MariaDB)', () => {
  const config = MARIADB;
  const direct = mariadbDirect;

  test('no state of a read_write call reaches the next read or read_write call', async (t) => {
    if (!(await requireServer(t, 'mariadb'))) return;
    const peer = openPeer(t, mysql, config, { harness: { poolMax: 1 } });
    const lock = unique('pb_lock');
    const temp = unique('pb_temp');

    const writer = rows(await peer.execute(sql('SELECT CONNECTION_ID() AS id', undefined, 'read_write')))[0]?.id;
    // A SELECT gives its connection back to the pool (others close it): the reset is what clears it.
    await peer.execute(sql(`SELECT GET_LOCK('${lock}', 0) AS got, @pb_var := 'leaked' AS v`, undefined, 'read_write'));
    assert.deepEqual(
      await direct('SELECT IS_USED_LOCK(?) AS holder', [lock]),
      [{ holder: null }],
      'a named lock outlived its call',
    );
    assert.deepEqual(rows(await peer.execute(sql('SELECT CONNECTION_ID() AS id, @pb_var AS v', undefined, 'read_write'))), [
      { id: writer, v: null },
    ]);
    for (const statement of [
      "SET @pb_set = 'leaked'",
      "SET SESSION sql_mode = 'ANSI_QUOTES'",
      `CREATE TEMPORARY TABLE ${temp} (id int)`,
      "PREPARE pb_leaked FROM 'SELECT 1'",
    ]) {
      await peer.execute(sql(statement, undefined, 'read_write'));
    }

    const state = `SELECT CONNECTION_ID() AS id, @pb_var AS v, @pb_set AS s, @@session.sql_mode LIKE '%ANSI_QUOTES%' AS ansi,
        @@session.time_zone AS tz`;
    for (const mode of ['read', 'read_write'] as const) {
      const [seen] = rows(await peer.execute(sql(state, undefined, mode)));
      const { id, ...rest } = seen ?? {};
      assert.deepEqual(rest, { v: null, s: null, ansi: 0, tz: '+00:00' }, `${mode} call`);
      if (mode === 'read') assert.notEqual(id, writer, 'a read call ran on the connection of read_write calls');
      const error = await expectFailure(peer.execute(sql(`SELECT COUNT(*) FROM ${temp}`, undefined, mode)));
      assert.match(error.message, /doesn't exist/, `${mode} call: the temporary table is gone`);
      const prepared = await expectFailure(peer.execute(sql('EXECUTE pb_leaked', undefined, 'read_write')));
      assert.match(prepared.message, /Unknown prepared statement/);
    }
    // The read session is still read-only, the read_write one read-write.
    assert.deepEqual(rows(await peer.execute(sql('SELECT @@session.tx_read_only AS ro', undefined, 'read'))), [{ ro: '1' }]);
    assert.deepEqual(rows(await peer.execute(sql('SELECT @@session.tx_read_only AS ro', undefined, 'read_write'))), [
      { ro: '0' },
    ]);
  });
});
