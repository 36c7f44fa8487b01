import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, type TestContext } from 'node:test';
import type pg from 'pg';
import type { ExecuteResult } from '../../src/providers/harness.js';
import type { Call, ProviderFixture } from '../providers/conformance.js';
import { sqlDescribeCase } from '../providers/conformance/sql.js';
import { mysqlQuery, pgQuery, sqliteQuery } from './direct.js';
import { uniqueIdentifier } from './names.js';

/**
 * What the SQL providers' test files share (postgresql, mysql, sqlite and the read-mode files): the machine's
 * servers as connector configs and the test's own channel to each, query calls and their rows, tables of a
 * test's own, and the half of the conformance fixture that is the same for every dialect.
 */

/** The connector config of the machine's PostgreSQL (trust authentication, database `test`). */
export const POSTGRESQL = { host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };

/** The connector config of the machine's MariaDB (root without a password, database `test`). */
export const MARIADB = { host: '127.0.0.1', port: 3306, username: 'root', database: 'test' };

/** One statement on the machine's PostgreSQL, on a connection of the test's own (in `database`, default `test`). */
export const postgresDirect = (text: string, values: unknown[] = [], database = POSTGRESQL.database): Promise<pg.QueryResult> =>
  pgQuery({ host: POSTGRESQL.host, port: POSTGRESQL.port, user: POSTGRESQL.username, database }, text, values);

/** One statement on the machine's MariaDB, on a connection of the test's own: the rows of a SELECT. */
export const mariadbDirect = (text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> =>
  mysqlQuery({ host: MARIADB.host, port: MARIADB.port, user: MARIADB.username, database: MARIADB.database }, text, values);

/** A query call: `params` bound by name, in `read` mode unless told otherwise. */
export const sql = (query: string, params?: Record<string, unknown>, mode?: Call['mode']): Call => ({
  input: params === undefined ? { query } : { query, params },
  mode,
});

/** The rows of a query result. */
export const rows = (result: ExecuteResult) => (result.data as { rows: Record<string, unknown>[] }).rows;

/** The test's own way to run a statement beside Patchbay. */
type Statement = (text: string) => Promise<unknown>;

/**
 * Creates `table (id, name)` holding `names` (plain words) as rows 1, 2, …. The column types are spelled so
 * that every dialect takes them and SQLite makes `id` its rowid.
 */
export async function createTable(direct: Statement, table: string, names: string[] = []): Promise<void> {
  await direct(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, name TEXT)`);
  if (names.length > 0) {
    await direct(`INSERT INTO ${table} VALUES ${names.map((name, index) => `(${index + 1}, '${name}')`).join(', ')}`);
  }
}

/** An empty table `(id, name)` of the test's own on a server, dropped afterwards. */
export async function ownTable(t: TestContext, direct: Statement): Promise<string> {
  const name = uniqueIdentifier('pb_t');
  await createTable(direct, name);
  t.after(() => direct(`DROP TABLE IF EXISTS ${name}`));
  return name;
}

/**
 * A folder of the test's own for PATCHBAY_SQLITE_ROOT, removed after `t` (after the file when there is no `t`),
 * and the test's own channel to a database file under it, created if missing.
 */
export async function sqliteRoot(t?: TestContext) {
  const root = await mkdtemp(path.join(os.tmpdir(), 'pb-sqlite-'));
  const remove = () => rm(root, { recursive: true, force: true });
  if (t) t.after(remove);
  else after(remove);
  return {
    root,
    direct: (file: string, text: string, values: unknown[] = []) => sqliteQuery(path.join(root, file), text, values),
  };
}

/** What a dialect's own half of the SQL fixture says. */
export interface SqlCases {
  /** The suite's table, `(id, name)` holding the row (1, 'kept'). */
  table: string;
  /** The name the insert case binds, and what in it must stay data ("a quote and a comment"). */
  written: { name: string; stays: string };
  /**
   * The query that reads row 2 back with `:id` bound, where `:id` also stands somewhere it is no placeholder
   * (`where`: "a literal", "a literal or a comment"), and the two columns it returns, id first.
   */
  readBack: { query: string; where: string; columns: [Column, Column] };
  /** The suite table's columns as `describe` reports them in this dialect. */
  described: { name: string; type: string; nullable: boolean }[];
  /** Whether the delete case also checks the row_count it reports. @default false */
  deleteCountsRows?: boolean;
  /**
   * For max_rows: `endless` returns a column `n` of 1, 2, 3, … far beyond the limit, `exact` just 1, 2 and 3;
   * `values` are those three as the provider returns them.
   */
  series: { endless: string; exact: string; column: Column; values: [unknown, unknown, unknown] };
}

interface Column {
  name: string;
  type: string;
}

const rowCount = (result: ExecuteResult) => (result.data as { row_count: number }).row_count;

/**
 * The half of a SQL provider's conformance fixture that every dialect shares: the probe, the query round trip
 * on the suite's table (an insert with bound params, reading it back, deleting it) and the max_rows cut.
 */
export function sqlFixture(cases: SqlCases): Pick<ProviderFixture, 'probe' | 'operations' | 'truncation'> {
  const { table, written, readBack, series } = cases;
  const [idColumn, nameColumn] = readBack.columns;
  return {
    probe: sql('SELECT 1 AS one'),
    operations: [
      {
        name: `query writes with bound params in read_write mode; ${written.stays} stay data`,
        ...sql(`INSERT INTO ${table} VALUES (:id, :name)`, { id: 2, name: written.name }, 'read_write'),
        check: (result) => assert.equal(rowCount(result), 1),
      },
      {
        name: `query reads it back in read mode; ':id' in ${readBack.where} is not a placeholder`,
        ...sql(readBack.query, { id: 2 }),
        check: (result) =>
          assert.deepEqual(result.data, {
            columns: readBack.columns,
            rows: [{ [idColumn.name]: 2, [nameColumn.name]: written.name }],
            row_count: 1,
          }),
      },
      {
        name: 'query deletes it again',
        ...sql(`DELETE FROM ${table} WHERE id = :id`, { id: 2 }, 'read_write'),
        check: async (result, peer) => {
          if (cases.deleteCountsRows) assert.equal(rowCount(result), 1);
          assert.deepEqual(rows(await peer.execute(sql(`SELECT id FROM ${table}`))), [{ id: 1 }]);
        },
      },
      sqlDescribeCase(table, cases.described),
    ],
    truncation: {
      maxRows: {
        ...sql(series.endless),
        limit: 3,
        check: (result) =>
          assert.deepEqual(result.data, {
            columns: [series.column],
            rows: series.values.map((value) => ({ [series.column.name]: value })),
            row_count: 3,
          }),
        exact: sql(series.exact),
      },
    },
  };
}
