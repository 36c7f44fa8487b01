import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SqlDialect } from '../../src/providers/_shared/sql-params.js';
import { summarizeSql } from '../../src/providers/_shared/sql-summary.js';
import graphql from '../../src/providers/graphql.js';
import mysql from '../../src/providers/mysql/index.js';
import postgresql from '../../src/providers/postgresql/index.js';
import redis from '../../src/providers/redis.js';
import rest from '../../src/providers/rest.js';
import sqlite from '../../src/providers/sqlite/index.js';
import type { Provider } from '../../src/providers/types.js';

const DIALECTS: SqlDialect[] = ['postgresql', 'mysql', 'sqlite'];
const classOf = (sql: string, dialect: SqlDialect = 'postgresql') => summarizeSql(sql, dialect).statement_class;
const fingerprintOf = (sql: string, dialect: SqlDialect = 'postgresql') => summarizeSql(sql, dialect).statement_fingerprint;
const summarize = (provider: Provider, operation: string, input: Record<string, unknown>) =>
  provider.operations[operation]?.summarize?.(input);

describe('the audit summary of a SQL statement', () => {
  test('names the class by the first keyword, and a WITH by the data change it holds', () => {
    for (const dialect of DIALECTS) {
      assert.equal(classOf(' -- a comment\n/* another */ select 1', dialect), 'select');
      assert.equal(classOf('(SELECT 1) UNION (SELECT 2)', dialect), 'select');
      assert.equal(classOf("INSERT INTO t VALUES ('a')", dialect), 'insert');
      assert.equal(classOf('UPDATE t SET a = 1', dialect), 'update');
      assert.equal(classOf('DELETE FROM t', dialect), 'delete');
      assert.equal(classOf('CREATE TABLE t (id int)', dialect), 'ddl');
      assert.equal(classOf('GRANT SELECT ON t TO u', dialect), 'dcl');
      assert.equal(classOf('BEGIN', dialect), 'transaction');
      assert.equal(classOf('EXPLAIN SELECT 1', dialect), 'utility');
      assert.equal(classOf('WITH x AS (SELECT 1) SELECT * FROM x', dialect), 'select');
      assert.equal(classOf('WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d', dialect), 'delete');
      // REPLACE(…) is a string function here, not the statement.
      assert.equal(classOf("WITH x AS (SELECT REPLACE(a, 'b', 'c') AS r FROM t) SELECT * FROM x", dialect), 'select');
      assert.equal(classOf('LOCK TABLE t', dialect), 'other');
      assert.equal(classOf('', dialect), 'other');
    }
  });

  test('fingerprints the shape: other literals give the same 16 hex digits, another shape others', () => {
    for (const dialect of DIALECTS) {
      const one = fingerprintOf("SELECT id FROM t WHERE note <> 'first' AND id < 98765 AND a IN (1, 2, 3)", dialect);
      assert.match(String(one), /^[0-9a-f]{16}$/);
      assert.equal(fingerprintOf("select id from t where note <> 'other' and id < 3.5e2 and a in (4)", dialect), one, dialect);
      assert.notEqual(fingerprintOf("SELECT id FROM t WHERE note = 'first' AND id < 98765 AND a IN (1, 2, 3)", dialect), one);
      assert.notEqual(fingerprintOf('DELETE FROM t', dialect), fingerprintOf('DELETE FROM u', dialect));
      // A placeholder's name is part of the shape; its value is never in the text.
      assert.notEqual(fingerprintOf('SELECT :a', dialect), fingerprintOf('SELECT :b', dialect));
    }
  });

  test("reads literals and comments as each dialect writes them", () => {
    // PostgreSQL: E'…' with a backslash escape, dollar-quoted bodies, hex numbers.
    assert.equal(fingerprintOf("SELECT E'it\\'s', $tag$ a ' b $tag$, 0x1F"), fingerprintOf("SELECT E'x', $$y$$, 7"));
    // PostgreSQL and SQLite quote names with "…", which stay part of the shape; in MySQL "…" is a string.
    for (const dialect of ['postgresql', 'sqlite'] as const) {
      assert.notEqual(fingerprintOf('SELECT "a" FROM t', dialect), fingerprintOf('SELECT "b" FROM t', dialect));
    }
    assert.equal(fingerprintOf('SELECT "a" FROM t', 'mysql'), fingerprintOf('SELECT "b" FROM t', 'mysql'));
    // MySQL: backslash escapes in every string, and # comments.
    assert.equal(fingerprintOf("SELECT 'a\\'b' # note\n FROM t", 'mysql'), fingerprintOf("SELECT 'c' FROM t", 'mysql'));
  });

  test("is each SQL provider's summary of query, from the text as sent", () => {
    for (const provider of [postgresql, mysql, sqlite] as Provider[]) {
      const summary = summarize(provider, 'query', { query: '  SELECT * FROM t WHERE id = 1  ' });
      assert.deepEqual(summary, summarizeSql('SELECT * FROM t WHERE id = 1', provider.id as SqlDialect), provider.id);
      assert.deepEqual(summarize(provider, 'query', { query: 42 }), {}, provider.id);
    }
  });
});

describe('the audit summary of other calls', () => {
  test('redis: the command name, never its arguments', () => {
    assert.deepEqual(summarize(redis, 'command', { command: ['HGET', 'user:1', 'name'] }), { statement_class: 'hget' });
    assert.deepEqual(summarize(redis, 'command', { command: 'GET k' }), {});
  });

  test('rest and graphql: the HTTP method', () => {
    assert.deepEqual(summarize(rest, 'request', { method: 'DELETE', path: '/items/1' }), { statement_class: 'delete' });
    assert.deepEqual(summarize(rest, 'request', { path: '/items' }), { statement_class: 'get' });
    assert.deepEqual(summarize(graphql, 'request', { query: '{ items { id } }' }), { statement_class: 'post' });
  });
});
