import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { parseDatabaseUrl } from '../../src/config.js';
import { initModels } from '../../src/db/models/index.js';
import { createSequelize } from '../../src/db/sequelize.js';
import { servePatchbay, type ServedPatchbay } from '../support/cli.js';
import { PG_ADMIN_URL } from '../support/db.js';
import { requireServer } from '../support/servers.js';

// `patchbay serve` stopped by SIGTERM while a call is in flight: a PostgreSQL pg_sleep run through the admin's
// direct execute path on the machine's PostgreSQL, Patchbay itself on a SQLite file.

interface Started {
  server: ServedPatchbay;
  cwd: string;
  api: (method: string, url: string, body?: unknown) => Promise<Response>;
  connectorId: string;
}

async function start(t: TestContext, graceMs: number): Promise<Started> {
  const cwd = mkdtempSync(path.join(os.tmpdir(), 'patchbay-shutdown-'));
  t.after(() => rmSync(cwd, { recursive: true, force: true }));
  const server = await servePatchbay({ PATCHBAY_SHUTDOWN_GRACE_MS: String(graceMs) }, cwd);
  t.after(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  });
  const key = /Initial admin API key, shown once: (pbk_\S+)/.exec(server.output().stdout)?.[1];
  assert.ok(key, server.output().stdout);
  const api = (method: string, url: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${server.port}/api/v1${url}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const created = await api('POST', '/connectors', {
    name: 'slow',
    connector_type: 'database',
    provider: 'postgresql',
    config: { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' },
  });
  assert.equal(created.status, 201, await created.clone().text());
  const { id } = (await created.json()) as { id: string };
  return { server, cwd, api, connectorId: id };
}

/** Resolves once PostgreSQL runs a statement containing `marker` (the call is in flight), within 20 s. */
async function runningOnPostgres(marker: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { rowCount } = await client.query("SELECT 1 FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()", [`%${marker}%`]);
      if (rowCount) return;
      if (Date.now() > deadline) throw new Error(`the statement ${marker} never ran`);
      await sleep(50);
    }
  } finally {
    await client.end();
  }
}

/** Whether a new TCP connection to `port` is refused (polled for up to 5 s). */
async function refusesConnections(port: number): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
    });
    if (refused) return true;
    await sleep(20);
  }
  return false;
}

describe('patchbay serve on SIGTERM', () => {
  it('refuses new connections, finishes the call in flight with 200 and its audit event, then exits 0', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { server, cwd, api, connectorId } = await start(t, 30_000);
    const marker = `shutdown_${randomBytes(6).toString('hex')}`;
    let finished = false;
    const inFlight = api('POST', `/connectors/${connectorId}/execute`, { query: `SELECT pg_sleep(3) AS ${marker}`, mode: 'read_write' })
      .then(async (response) => ({ status: response.status, body: (await response.json()) as { data: { rows: unknown[] } } }))
      .finally(() => (finished = true));
    await runningOnPostgres(marker);

    server.child.kill('SIGTERM');
    assert.equal(await refusesConnections(server.port), true, 'a new connection is refused');
    assert.equal(finished, false, 'refused while the call was still running');

    const answer = await inFlight;
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.data.rows.length, 1);
    assert.equal(await server.exited, 0, server.output().stderr);

    const sequelize = createSequelize(parseDatabaseUrl(`sqlite:${path.join(cwd, 'data', 'patchbay.sqlite')}`));
    t.after(() => sequelize.close());
    const events = await initModels(sequelize).AuditEvent.findAll({ where: { action: 'connector.execute', target_id: connectorId } });
    assert.deepEqual(events.map((event) => event.outcome), ['success']);
  });

  it('cuts a call that outlasts PATCHBAY_SHUTDOWN_GRACE_MS and exits 1', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const { server, api, connectorId } = await start(t, 300);
    const marker = `shutdown_${randomBytes(6).toString('hex')}`;
    const inFlight = api('POST', `/connectors/${connectorId}/execute`, { query: `SELECT pg_sleep(5) AS ${marker}`, mode: 'read_write' }).then(
      (response) => response.status,
      (error: unknown) => error,
    );
    await runningOnPostgres(marker);

    server.child.kill('SIGTERM');
    assert.equal(await server.exited, 1, server.output().stderr);
    const outcome = await inFlight;
    assert.ok(outcome instanceof Error, `the cut call has no answer, got ${String(outcome)}`);
    assert.match(server.output().stdout + server.output().stderr, /shutdown grace expired/);
  });
});
