import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { PatchbayError } from '../../src/errors.js';
import { poolKey, type ExecuteRequest, type ProviderHarness } from '../../src/providers/harness.js';
import { healthSetup } from '../services/health/support.js';
import { bearer } from '../support/app.js';
import { PG_ADMIN_URL } from '../support/db.js';
import { backendRunning, targetDatabase } from '../support/pg.js';
import { openHarness } from '../support/harness.js';
import { requireReady } from '../support/server-processes.js';
import { makePki, startTlsPostgres } from '../support/tls.js';

// A target database that dies in the middle of an execute: its backend terminated on the machine's PostgreSQL,
// and a private cluster stopped outright. The call answers a stable code, the connector's pooled session is
// replaced on the next call, and the scheduler marks the connector failing and then recovered.

const call: ExecuteRequest['call'] = {
  mode: 'read_write',
  limits: { maxRows: 10, maxBytes: 1_048_576, timeoutMs: 30_000 },
  boundParams: {},
};

const marker = () => `fault_${randomBytes(6).toString('hex')}`;

async function failure(promise: Promise<unknown>): Promise<PatchbayError> {
  const error = await promise.then(
    () => assert.fail('the call succeeded'),
    (reason: unknown) => reason,
  );
  assert.ok(error instanceof PatchbayError, `expected a PatchbayError, got ${String(error)}`);
  return error;
}

function execute(harness: ProviderHarness, key: string, config: Record<string, unknown>, query: string) {
  return harness.execute({ providerId: 'postgresql', poolKey: key, config, input: { query }, call });
}

describe('a target PostgreSQL that dies in the middle of an execute', () => {
  test('its backend terminated: a stable code, and the next call on the same connector succeeds', async (t) => {
    const target = await targetDatabase(t);
    if (!target) return;
    const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
    await admin.connect();
    t.after(() => admin.end());
    const harness = openHarness(t);
    const config = { host: '127.0.0.1', port: 5432, username: 'postgres', database: target.name };
    const key = poolKey('fault-terminate', 1);
    await execute(harness, key, config, 'SELECT 1');

    const text = marker();
    const running = execute(harness, key, config, `SELECT pg_sleep(20) AS ${text}`);
    const pid = await backendRunning(admin, text);
    const { rows } = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    assert.equal(rows[0]?.ok, true, 'the backend was terminated');
    const error = await failure(running);
    // The server went away mid-call: an upstream failure that says so, never a crash or a 500.
    assert.equal(error.code, 'upstream_error', error.message);
    assert.match(error.message, /terminat/i);

    const next = await execute(harness, key, config, 'SELECT 42 AS answer');
    assert.deepEqual((next.data as { rows: unknown[] }).rows, [{ answer: 42 }]);
  });
});

// A private cluster a test may stop; TLS on, as the cluster requires.
const pki = makePki();
const cluster = 'missing' in pki ? pki : await startTlsPostgres(pki);
after(async () => {
  if (!('missing' in cluster)) await cluster.stop();
  if (!('missing' in pki)) pki.remove();
});

describe('a private PostgreSQL cluster stopped in the middle of an execute', () => {
  test('the call answers a stable code; after the cluster is back the pool recovers on the next call', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, cluster) || 'missing' in pki) return;
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: 'postgres', database: 'postgres', ssl: { ca: pki.ca } });
    await admin.connect();
    admin.on('error', () => undefined); // the halt below drops it too
    const harness = openHarness(t);
    const config = { host: cluster.host, port: cluster.port, username: 'postgres', database: 'postgres', ssl: true, tls_ca: pki.ca };
    const key = poolKey('fault-halt', 1);
    await execute(harness, key, config, 'SELECT 1');

    const text = marker();
    const running = execute(harness, key, config, `SELECT pg_sleep(20) AS ${text}`);
    await backendRunning(admin, text);
    // Its failure is awaited from now on: the call may fail while the halt is still in progress.
    const failed = failure(running);
    await cluster.halt();
    t.after(() => cluster.resume().catch(() => undefined));
    const error = await failed;
    // The server went away mid-call: an upstream failure that says so, never a crash or a 500.
    assert.equal(error.code, 'upstream_error', error.message);
    assert.match(error.message, /terminat/i);
    const down = await failure(execute(harness, key, config, 'SELECT 1'));
    assert.equal(down.code, 'connection_refused', down.message);

    await cluster.resume();
    const next = await execute(harness, key, config, 'SELECT 42 AS answer');
    assert.deepEqual((next.data as { rows: unknown[] }).rows, [{ answer: 42 }]);
  });

  test('the scheduler marks the connector failing while the cluster is down, and recovered when it is back', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, cluster) || 'missing' in pki) return;
    const setup = await healthSetup(t, { dialect: 'sqlite' });
    assert.ok(setup, 'sqlite needs no server');
    const { services, clock, admin, ctx } = setup;
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/connectors',
      headers: bearer(admin.key),
      payload: {
        name: 'private',
        connector_type: 'database',
        provider: 'postgresql',
        config: { host: cluster.host, port: cluster.port, username: 'postgres', database: 'postgres', ssl: true, tls_ca: pki.ca },
        health_check_interval_s: 60,
      },
    });
    assert.equal(created.statusCode, 201, created.body);
    const connectorId = (created.json() as { id: string }).id;
    const status = async () => (await ctx.models.Connector.findByPk(connectorId))?.status;
    const tick = async () => {
      clock.advance(60_000);
      assert.equal(await services.scheduler.runDueChecks(), 1);
    };

    await tick();
    assert.equal(await status(), 'healthy');
    await cluster.halt();
    t.after(() => cluster.resume().catch(() => undefined));
    await tick();
    await tick();
    assert.equal(await status(), 'failing');
    const [latest] = await ctx.models.ConnectorHealthCheck.findAll({ where: { connector_id: connectorId }, order: [['checked_at', 'DESC']], limit: 1 });
    assert.equal(latest?.error_code, 'connection_refused');

    await cluster.resume();
    await tick();
    await tick();
    assert.equal(await status(), 'healthy', 'recovered');
  });
});
