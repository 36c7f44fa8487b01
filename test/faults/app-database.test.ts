import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import { PatchbayError } from '../../src/errors.js';
import { agentWorld, type AgentWorld } from '../mcp/support.js';
import { until } from '../services/runtime/support.js';
import { build } from '../support/app.js';
import { backendRunning } from '../support/pg.js';
import { requireReady } from '../support/server-processes.js';
import { startPrivatePostgres } from '../support/tls.js';

// Patchbay's own PostgreSQL, a private cluster, stopped and started again under traffic: run-time executes,
// control-plane reads and writes, and the health scheduler, in one process that is never restarted. What must
// hold: a request that needs the database while it is down answers 503 `unavailable` (never a 500, never a hang),
// /readyz follows the database, everything recovers by itself, every call answered 2xx has exactly one audit row
// and none has two, and no health check is recorded twice.

const cluster = await startPrivatePostgres();
after(() => ('missing' in cluster ? undefined : cluster.stop()));

/** How long any one request may take before the test calls it a hang (a deadline for the test, not a goal). */
const HANG_MS = 30_000;

type Kind = 'execute' | 'list' | 'create';
interface Answer {
  kind: Kind;
  seq: number;
  status: number;
  code?: string;
  problem: boolean;
  at: 'before' | 'down' | 'after';
}

/** A SQLite file under a root of its own, for the connector the agent calls: a target that is not the app database. */
async function sqliteRoot(t: TestContext): Promise<string> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'pb-fault-target-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await new Promise<void>((resolve, reject) => {
    const db = new sqlite3.Database(path.join(root, 'target.db'), (error) => (error ? reject(error) : db.close(() => resolve())));
  });
  return root;
}

/** A connection of its own to the app database, as another process has; the database's drop may cut it. */
async function plainClient(t: TestContext, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  t.after(() => client.end());
  return client;
}

/** Requests of three kinds, sent one after another by each of `workers` loops until stopped; every answer kept. */
function traffic(w: AgentWorld, workers: number) {
  const answers: Answer[] = [];
  let phase: Answer['at'] = 'before';
  let seq = 0;
  let running = true;
  const admin = { authorization: `Bearer ${w.admin.key}`, 'content-type': 'application/json' };
  const send = async (kind: Kind): Promise<void> => {
    const n = (seq += 1);
    const at = phase;
    // The User-Agent's version and the agent id make each call findable in the audit log.
    const request: [string, RequestInit] =
      kind === 'execute'
        ? [
            `/api/v1/agents/${w.agentId}/connectors/lite/execute`,
            {
              method: 'POST',
              headers: { authorization: `Bearer ${w.token}`, 'content-type': 'application/json', 'user-agent': `fault-traffic/${n}` },
              body: JSON.stringify({ query: 'SELECT 1 AS one' }),
            },
          ]
        : kind === 'list'
          ? ['/api/v1/connectors', { headers: admin }]
          : ['/api/v1/agents', { method: 'POST', headers: admin, body: JSON.stringify({ id: `fault-${n}` }) }];
    try {
      const response = await fetch(`${w.base}${request[0]}`, { ...request[1], signal: AbortSignal.timeout(HANG_MS) });
      const body = (await response.json()) as { code?: string };
      const problem = response.headers.get('content-type')?.startsWith('application/problem+json') ?? false;
      answers.push({ kind, seq: n, status: response.status, code: body.code, problem, at });
    } catch (error) {
      answers.push({ kind, seq: n, status: 0, code: `no answer: ${String(error)}`, problem: false, at });
    }
  };
  const loops = Array.from({ length: workers }, async (_, worker) => {
    const kinds: Kind[] = ['execute', 'list', 'create'];
    for (let i = worker; running; i += 1) await send(kinds[i % kinds.length] as Kind);
  });
  return {
    answers,
    set phase(value: Answer['at']) {
      phase = value;
    },
    /** How many answers of `kind` in `at` had `status` (2 means any 2xx). */
    count: (kind: Kind, at: Answer['at'], status: 2 | 503) =>
      answers.filter((a) => a.kind === kind && a.at === at && (status === 2 ? a.status >= 200 && a.status < 300 : a.status === status)).length,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe("Patchbay's own PostgreSQL restarted under traffic", () => {
  for (const mode of ['fast', 'immediate'] as const) {
    test(`stopped (${mode}) and started again: 503 unavailable while down, recovered without a restart, audit and health rows once each`, async (t) => {
      if (!requireReady(t, cluster)) return;
      const root = await sqliteRoot(t);
      const w = await agentWorld(t, {
        dialect: 'postgres',
        server: cluster.url,
        // An hour's cache: only the change feed's notices (not expiry) can make a change visible below.
        env: { PATCHBAY_SQLITE_ROOT: root, PATCHBAY_HEALTH_MIN_INTERVAL_S: '1', PATCHBAY_CACHE_TTL_MS: '3600000' },
      });
      assert.ok(w, 'the private cluster is up');
      const { app, logs } = w.ctx;
      const { services } = app;
      const connectorId = await w.connector('sqlite', { path: 'target.db' });
      // Checked every second (the minimum this app allows), so the scheduler works through the outage too.
      const context = { organizationId: w.admin.orgId, actor: { type: 'user' as const, id: w.admin.userId } };
      await services.connectors.update(context, connectorId, { health_check_interval_s: 1 });
      await w.attach(connectorId, 'lite');
      services.scheduler.start();
      t.after(() => services.scheduler.stop());
      const healthRows = () => w.ctx.models.ConnectorHealthCheck.count({ where: { connector_id: connectorId } });
      const ready = async () => (await fetch(`${w.base}/readyz`, { signal: AbortSignal.timeout(HANG_MS) })).status;

      const load = traffic(w, 3);
      const kinds: Kind[] = ['execute', 'list', 'create'];
      const seen = async (at: Answer['at'], status: 2 | 503, times: number) => kinds.every((kind) => load.count(kind, at, status) >= times);
      assert.equal(await until(async () => (await seen('before', 2, 3)) && (await healthRows()) > 0, true, 60_000), true, 'traffic and checks flow');

      await cluster.halt(mode);
      load.phase = 'down';
      try {
        assert.equal(await ready(), 503, '/readyz while the database is down');
        const claimFailed = () => logs.text.includes('claiming due health checks failed');
        const met = await until(async () => (await seen('down', 503, 2)) && claimFailed(), true, 60_000);
        const statuses = load.answers.filter((a) => a.at === 'down').map((a) => `${a.kind} ${a.status} ${a.code ?? ''}`);
        assert.equal(met, true, `every kind of request met the outage, and so did the scheduler: ${[...new Set(statuses)].join('; ')}`);
      } finally {
        await cluster.resume();
      }
      load.phase = 'after';
      const rowsAtResume = await healthRows();
      assert.equal(await until(ready, 200, 60_000), 200, '/readyz once the database is back');
      assert.equal(
        await until(async () => (await seen('after', 2, 3)) && (await healthRows()) > rowsAtResume, true, 60_000),
        true,
        'requests and checks succeed again, in the same process',
      );
      await load.stop();

      // Every answer was a success or a clean 503 unavailable: no 500, no other code, no hang.
      const wrong = load.answers.filter((a) => !((a.status >= 200 && a.status < 300) || (a.status === 503 && a.code === 'unavailable' && a.problem)));
      assert.deepEqual(wrong, [], 'only 2xx and 503 unavailable');
      assert.ok(!logs.text.includes('unhandled error'), 'no 500 was logged');

      // The change listener is back: a token revoked by another process (plain SQL here) is refused at once,
      // though the token sits in a cache that would keep it for an hour.
      const other = await plainClient(t, w.ctx.config.database.url);
      await other.query('UPDATE pb_agent_tokens SET revoked_at = now()');
      const execute = async () =>
        (
          await fetch(`${w.base}/api/v1/agents/${w.agentId}/connectors/lite/execute`, {
            method: 'POST',
            headers: { authorization: `Bearer ${w.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ query: 'SELECT 1 AS one' }),
            signal: AbortSignal.timeout(HANG_MS),
          })
        ).status;
      assert.equal(await until(execute, 401, 30_000), 401, 'the revocation was heard');

      // Audit: the rows deferred during the outage are written; each call has at most one row, and each call
      // answered 2xx exactly one.
      await services.scheduler.stop();
      await services.writer.flush();
      assert.equal(services.writer.deferredRows, 0);
      const { rows } = await other.query<{ key: string; n: number }>(
        `SELECT 'execute:' || (detail->>'client_version') AS key, count(*)::int AS n FROM pb_audit_events
           WHERE action = 'connector.execute' AND detail->>'client_name' = 'fault-traffic' GROUP BY 1
         UNION ALL
         SELECT 'create:' || target_id, count(*)::int FROM pb_audit_events WHERE action = 'agent.create' GROUP BY 1`,
      );
      const audited = new Map(rows.map((row) => [row.key, row.n]));
      assert.deepEqual(rows.filter((row) => row.n > 1), [], 'no call has two audit rows');
      const missing = load.answers.filter((a) => a.kind !== 'list' && a.status < 300 && audited.get(`${a.kind}:${a.kind === 'create' ? `fault-${a.seq}` : a.seq}`) !== 1);
      assert.deepEqual(missing, [], 'every call answered 2xx has its audit row');

      // Health: no check recorded twice. Each check run (counted by the harness as a test) made at most one row,
      // and no two rows are one check.
      const metrics = await services.metrics.render();
      const run = [...metrics.matchAll(/^patchbay_connector_calls_total\{kind="test"[^}]*\} (\d+)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
      const checks = await w.ctx.models.ConnectorHealthCheck.findAll({ where: { connector_id: connectorId } });
      assert.ok(checks.length <= run, `${checks.length} health rows for ${run} checks run`);
      assert.equal(new Set(checks.map((check) => check.checked_at.getTime())).size, checks.length, 'each row a check of its own');
    });
  }

  test('an audit row whose INSERT committed but whose answer was lost is written once, beside rows deferred with it', async (t) => {
    if (!requireReady(t, cluster)) return;
    const ctx = await build(t, { dialect: 'postgres', server: cluster.url });
    assert.ok(ctx, 'the private cluster is up');
    const { audit, writer } = ctx.app.services;
    const url = ctx.config.database.url;
    const record = (requestId: string) =>
      audit.record({ organization_id: null, actor: { type: 'system', id: null }, action: 'fault.audit', outcome: 'success', request_id: requestId });
    const unavailable = (error: unknown) => error instanceof PatchbayError && error.code === 'unavailable';

    // A synchronous standby that does not exist: a commit is durable here at once, but its answer waits for the
    // standby. Stopping the server in that wait makes a commit whose answer is lost, on purpose.
    const standby = (names: string) => {
      cluster.psql(names ? `ALTER SYSTEM SET synchronous_standby_names = '${names}'` : 'ALTER SYSTEM RESET synchronous_standby_names');
      cluster.psql('SELECT pg_reload_conf()');
    };
    standby('nobody');
    t.after(() => standby(''));
    const committed = `req-${randomBytes(6).toString('hex')}`;
    const refused = `req-${randomBytes(6).toString('hex')}`;
    const first = assert.rejects(record(committed), unavailable);
    await backendRunning(await plainClient(t, url), 'INSERT INTO pb_audit_events');
    await cluster.halt('immediate');
    try {
      await first;
      // A second row while the database is down: deferred behind the first, answered at once.
      await assert.rejects(record(refused), unavailable);
      assert.equal(writer.deferredRows, 2, 'the writer keeps both: it cannot know the first committed');
      assert.throws(() => audit.assertWritable(), unavailable, 'executes wait until they are written');
    } finally {
      await cluster.resume();
    }

    const rows = async (admin: pg.Client, requestId: string) =>
      (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pb_audit_events WHERE request_id = $1', [requestId])).rows[0]?.n;
    const admin = await plainClient(t, url);
    // Any retry so far waits for the standby, uncommitted: what is there now is what the first INSERT did.
    assert.deepEqual([await rows(admin, committed), await rows(admin, refused)], [1, 0], 'the first INSERT did commit');
    standby('');
    await writer.flush();
    assert.equal(writer.deferredRows, 0);
    assert.deepEqual([await rows(admin, committed), await rows(admin, refused)], [1, 1], 'both written, each once');
    assert.doesNotThrow(() => audit.assertWritable());
  });
});
