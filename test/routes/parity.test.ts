import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import mysql2 from 'mysql2/promise';
import sqlite3 from 'sqlite3';
import { getProvider } from '../../src/providers/registry.js';
import { RATE_WINDOW_MS } from '../../src/services/runtime/rate-limit-service.js';
import { agentWorld, mcpOutcome, notices, restOutcome, type AgentWorld, type Outcome } from '../mcp/support.js';
import { bearerAllow, startRestPeer } from '../support/http-peers.js';
import { targetDatabase } from '../support/pg.js';
import { redisCommand } from '../support/redis.js';
import { uniqueIdentifier } from '../support/names.js';
import { requireServer } from '../support/servers.js';

/**
 * One policy pipeline for REST and MCP: every case runs through `POST …/connectors/{alias}/execute` and through
 * the MCP tool `{alias}__{operation}` on the same attachment, and must come to the same outcome: the same data
 * (latency aside) or the same code and message.
 */

interface Case {
  name: string;
  alias: string;
  /** The REST body; MCP calls `{alias}__{operation}` with the rest as arguments. */
  body: Record<string, unknown>;
  expect: 'ok' | string;
  /** A truncated result: which limit the MCP notice must name. */
  truncatedBy?: 'max_rows' | 'max_bytes';
  check?(outcome: Outcome): void;
}

function withoutDate(outcome: Outcome): Outcome {
  const data = outcome.ok ? (outcome.data as { headers?: Record<string, unknown> } | undefined) : undefined;
  if (!data?.headers || typeof data.headers !== 'object') return outcome;
  const { date: _date, ...headers } = data.headers;
  return { ...outcome, data: { ...data, headers } } as Outcome;
}

async function runCases(w: AgentWorld, providers: Record<string, string>, cases: Case[]): Promise<void> {
  const mcp = await w.mcp();
  const executes = () => w.ctx.models.AuditEvent.count({ where: { action: 'connector.execute' } });
  const before = await executes();
  for (const testCase of cases) {
    const { operation, ...args } = testCase.body;
    const provider = getProvider(providers[testCase.alias] as string);
    const name = `${testCase.alias}__${(operation as string | undefined) ?? provider?.defaultOperation}`;
    const viaRest = restOutcome(await w.rest(testCase.alias, testCase.body));
    const result = (await mcp.callTool({ name, arguments: args })) as CallToolResult;
    const viaMcp = mcpOutcome(result);
    // What moves between the two calls: the wait left until the rate window turns, and an upstream's Date header.
    const settled = (outcome: Outcome) => (outcome.ok ? withoutDate(outcome) : { ...outcome, retry_after_ms: typeof outcome.retry_after_ms });
    assert.deepEqual(settled(viaMcp), settled(viaRest), `${testCase.name}: REST and MCP agree`);
    assert.equal(viaRest.ok ? 'ok' : viaRest.code, testCase.expect, `${testCase.name}: ${JSON.stringify(viaRest)}`);
    if (viaRest.ok) {
      assert.equal(viaRest.truncated, testCase.truncatedBy !== undefined, `${testCase.name}: truncated`);
      if (testCase.truncatedBy) assert.match(notices(result).join(' '), new RegExp(`${testCase.truncatedBy}.*filter.*aggregate.*paginate`, 'is'));
      else assert.deepEqual(notices(result), [], `${testCase.name}: no notice`);
    }
    testCase.check?.(viaRest);
  }
  // Every call, through either path, is one audit event.
  assert.equal((await executes()) - before, cases.length * 2);
}

const rowsOf = (outcome: Outcome) => (outcome.ok ? (outcome.data as { rows: Record<string, unknown>[] }).rows : []);

/** Waits, if the rate window is about to turn, until a new one starts: the rate case needs one window. */
async function freshRateWindow(): Promise<void> {
  const left = RATE_WINDOW_MS - (Date.now() % RATE_WINDOW_MS);
  if (left < 5_000) await sleep(left + 50);
}

const ORDERS = `CREATE TABLE orders (id int PRIMARY KEY, tenant_id int NOT NULL, note text);
INSERT INTO orders VALUES (1, 1, 'first'), (2, 1, 'second'), (3, 2, 'third');`;

describe('REST and MCP parity', () => {
  it('on postgresql (read, read_write and limited attachments) and redis', async (t) => {
    if (!(await requireServer(t, 'postgresql')) || !(await requireServer(t, 'redis'))) return;
    const w = await agentWorld(t);
    const target = await targetDatabase(t, ORDERS);
    if (!w || !target) return;
    const pgConfig = { host: '127.0.0.1', port: 5432, username: 'postgres', database: target.name };
    const pg = await w.connector('postgresql', pgConfig);
    await w.attach(pg, 'ro');
    await w.attach(pg, 'rw', { mode: 'read_write' });
    await w.attach(pg, 'rows', { limits: { max_rows: 2 } });
    await w.attach(pg, 'bytes', { limits: { max_bytes: 1024 } });
    await w.attach(pg, 'rl', { limits: { rate_per_minute: 1 } });
    await w.attach(pg, 'tenant', { bound_params: { tenant_id: 1 } });
    await w.attach(pg, 'slow', { limits: { timeout_ms: 300 } });
    await w.attach(pg, 'slowrw', { mode: 'read_write', limits: { timeout_ms: 300 } });
    await w.attach(await w.connector('postgresql', pgConfig, { enabled: false }), 'off');
    await w.attach(await w.connector('redis', { host: '127.0.0.1', port: 6379 }), 'cache');
    const key = uniqueIdentifier('parity');
    await redisCommand(['SET', key, 'kept']);
    t.after(() => redisCommand(['DEL', key]));
    const providers = { ro: 'postgresql', rw: 'postgresql', rows: 'postgresql', bytes: 'postgresql', rl: 'postgresql', tenant: 'postgresql', slow: 'postgresql', slowrw: 'postgresql', off: 'postgresql', cache: 'redis' };

    await freshRateWindow();
    const warm = restOutcome(await w.rest('rl', { query: 'SELECT 1 AS one' }));
    assert.equal(warm.ok, true, `the one call a minute of rl: ${JSON.stringify(warm)}`);

    await runCases(w, providers, [
      {
        name: 'a read query',
        alias: 'ro',
        body: { query: 'SELECT id, note FROM orders WHERE id < :below ORDER BY id', params: { below: 3 } },
        expect: 'ok',
        check: (outcome) => assert.deepEqual(rowsOf(outcome), [{ id: 1, note: 'first' }, { id: 2, note: 'second' }]),
      },
      { name: 'a write in read mode', alias: 'ro', body: { query: "UPDATE orders SET note = 'x'" }, expect: 'read_only' },
      { name: 'a write the database refuses in read mode', alias: 'ro', body: { query: "WITH d AS (DELETE FROM orders RETURNING id) SELECT * FROM d" }, expect: 'read_only' },
      { name: 'a write in read_write mode', alias: 'rw', body: { query: "UPDATE orders SET note = 'first' WHERE id = 1" }, expect: 'ok' },
      { name: 'a missing param', alias: 'ro', body: { query: 'SELECT :missing AS x' }, expect: 'validation_failed' },
      { name: 'an extra field', alias: 'ro', body: { query: 'SELECT 1', surprise: true }, expect: 'validation_failed' },
      { name: 'mode on the run-time path', alias: 'ro', body: { query: 'SELECT 1', mode: 'read_write' }, expect: 'validation_failed' },
      { name: 'an unknown operation', alias: 'ro', body: { operation: 'frobnicate' }, expect: 'unsupported_operation' },
      { name: 'bad SQL', alias: 'ro', body: { query: 'SELECT * FROM no_such_table' }, expect: 'query_failed' },
      {
        name: 'describe',
        alias: 'ro',
        body: { operation: 'describe' },
        expect: 'ok',
        check: (outcome) => assert.deepEqual((outcome.ok ? (outcome.data as { tables: { name: string }[] }).tables : []).map((table) => table.name), ['orders']),
      },
      {
        name: 'truncation by max_rows',
        alias: 'rows',
        body: { query: 'SELECT g FROM generate_series(1, 10) AS g' },
        expect: 'ok',
        truncatedBy: 'max_rows',
        check: (outcome) => assert.deepEqual(rowsOf(outcome), [{ g: 1 }, { g: 2 }]),
      },
      {
        name: 'truncation by max_bytes',
        alias: 'bytes',
        body: { query: "SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20) AS g" },
        expect: 'ok',
        truncatedBy: 'max_bytes',
        check: (outcome) => {
          const rows = rowsOf(outcome);
          assert.ok(rows.length > 0 && rows.length < 20, `${rows.length} rows`);
          assert.ok(Buffer.byteLength(JSON.stringify(outcome.ok && outcome.data)) <= 1024);
          assert.equal((outcome.ok && (outcome.data as { row_count: number }).row_count), rows.length);
        },
      },
      {
        name: 'rate limited',
        alias: 'rl',
        body: { query: 'SELECT 1 AS one' },
        expect: 'rate_limited',
        check: (outcome) => assert.ok(!outcome.ok && typeof outcome.retry_after_ms === 'number' && outcome.retry_after_ms <= RATE_WINDOW_MS),
      },
      {
        name: 'a bound param applied',
        alias: 'tenant',
        body: { query: 'SELECT id FROM orders WHERE tenant_id = :tenant_id ORDER BY id' },
        expect: 'ok',
        check: (outcome) => assert.deepEqual(rowsOf(outcome), [{ id: 1 }, { id: 2 }]),
      },
      {
        name: 'a bound param set by the caller',
        alias: 'tenant',
        body: { query: 'SELECT id FROM orders WHERE tenant_id = :tenant_id', params: { tenant_id: 2 } },
        expect: 'validation_failed',
      },
      { name: 'a disabled connector', alias: 'off', body: { query: 'SELECT 1' }, expect: 'connector_disabled' },
      // Read mode refuses pg_sleep (sql-guard); a long count is a read the server cancels at timeout_ms.
      { name: 'a timeout', alias: 'slow', body: { query: 'SELECT count(*) FROM generate_series(1, 1000000000)' }, expect: 'timeout' },
      { name: 'a timeout in read_write mode', alias: 'slowrw', body: { query: 'SELECT pg_sleep(3)' }, expect: 'timeout' },
      {
        name: 'a redis read',
        alias: 'cache',
        body: { command: ['GET', key] },
        expect: 'ok',
        check: (outcome) => assert.equal(outcome.ok && outcome.data, 'kept'),
      },
      { name: 'a redis write in read mode', alias: 'cache', body: { command: ['SET', key, 'changed'] }, expect: 'read_only' },
    ]);
    assert.equal((await target.query("SELECT count(*)::int AS n FROM orders WHERE note = 'x'")).rows[0]?.n, 0);
    assert.equal(await redisCommand(['GET', key]), 'kept');
  });

  it('on sqlite', async (t) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'pb-parity-'));
    after(() => rm(root, { recursive: true, force: true }));
    await new Promise<void>((resolve, reject) => {
      const db = new sqlite3.Database(path.join(root, 'shop.db'), (error) => {
        if (error) return reject(error);
        db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL); INSERT INTO items VALUES (1, 'one'), (2, 'two');", (failed) =>
          db.close(() => (failed ? reject(failed) : resolve())),
        );
      });
    });
    const w = await agentWorld(t, { env: { PATCHBAY_SQLITE_ROOT: root } });
    if (!w) return;
    assert.ok(getProvider('sqlite')?.connect, 'sqlite has a driver');
    const file = await w.connector('sqlite', { path: 'shop.db' });
    await w.attach(file, 'lite');
    await w.attach(file, 'one', { limits: { max_rows: 1 } });
    await runCases(w, { lite: 'sqlite', one: 'sqlite' }, [
      { name: 'a read query', alias: 'lite', body: { query: 'SELECT name FROM items WHERE id = :id', params: { id: 2 } }, expect: 'ok' },
      { name: 'truncation by max_rows', alias: 'one', body: { query: 'SELECT id FROM items ORDER BY id' }, expect: 'ok', truncatedBy: 'max_rows' },
      { name: 'a write in read mode', alias: 'lite', body: { query: 'DELETE FROM items' }, expect: 'read_only' },
      {
        name: 'describe',
        alias: 'lite',
        body: { operation: 'describe' },
        expect: 'ok',
        check: (outcome) =>
          assert.deepEqual(outcome.ok && outcome.data, {
            tables: [{ name: 'items', columns: [{ name: 'id', type: 'INTEGER', nullable: true }, { name: 'name', type: 'TEXT', nullable: false }] }],
          }),
      },
    ]);
  });

  it('on mysql (MariaDB)', async (t) => {
    if (!(await requireServer(t, 'mariadb'))) return;
    const w = await agentWorld(t);
    if (!w) return;
    const table = `parity_${randomBytes(4).toString('hex')}`;
    const direct = async (sql: string) => {
      const connection = await mysql2.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });
      try {
        await connection.query(sql);
      } finally {
        await connection.end();
      }
    };
    await direct(`CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(20) NULL)`);
    t.after(() => direct(`DROP TABLE IF EXISTS ${table}`));
    await direct(`INSERT INTO ${table} VALUES (1, 'one'), (2, 'two')`);
    await w.attach(await w.connector('mysql', { host: '127.0.0.1', port: 3306, username: 'root', database: 'test' }), 'maria');
    await runCases(w, { maria: 'mysql' }, [
      { name: 'a read query', alias: 'maria', body: { query: `SELECT name FROM ${table} WHERE id = :id`, params: { id: 1 } }, expect: 'ok' },
      { name: 'a write in read mode', alias: 'maria', body: { query: `DELETE FROM ${table}` }, expect: 'read_only' },
      {
        name: 'describe',
        alias: 'maria',
        body: { operation: 'describe' },
        expect: 'ok',
        check: (outcome) => {
          const described = (outcome.ok ? (outcome.data as { tables: { name: string; columns: unknown[] }[] }).tables : []).find((entry) => entry.name === table);
          assert.deepEqual(described?.columns, [
            { name: 'id', type: 'int(11)', nullable: false },
            { name: 'name', type: 'varchar(20)', nullable: true },
          ]);
        },
      },
    ]);
  });

  it('on rest: the same scrubbed answer, never the secret', async (t: TestContext) => {
    const secret = `Parity-secret-${randomBytes(6).toString('hex')}`;
    const peer = await startRestPeer({ allow: bearerAllow(secret) });
    t.after(() => peer.stop());
    const w = await agentWorld(t);
    if (!w) return;
    await w.attach(await w.connector('rest', { base_url: peer.baseUrl, auth_type: 'bearer', token: secret }), 'api');
    await runCases(w, { api: 'rest' }, [
      {
        name: 'an echo of the credential',
        alias: 'api',
        body: { path: '/echo' },
        expect: 'ok',
        check: (outcome) => {
          assert.equal((outcome.ok && (outcome.data as { status: number }).status), 200);
          assert.ok(!JSON.stringify(outcome).includes(secret), 'the secret is scrubbed');
        },
      },
      { name: 'a write in read mode', alias: 'api', body: { method: 'POST', path: '/items', body: { id: 'x' } }, expect: 'read_only' },
    ]);
    assert.equal(peer.items.size, 0);
  });
});
