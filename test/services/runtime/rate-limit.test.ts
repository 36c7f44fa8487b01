import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { QueryTypes, type Sequelize } from 'sequelize';
import { buildApp } from '../../../src/app.js';
import { loadConfig } from '../../../src/config.js';
import { generateKey } from '../../../src/crypto/fernet.js';
import { KeyRing } from '../../../src/crypto/key-ring.js';
import { PatchbayError } from '../../../src/errors.js';
import { initModels } from '../../../src/db/models/index.js';
import { createSequelize } from '../../../src/db/sequelize.js';
import { createServices } from '../../../src/services/index.js';
import { RATE_WINDOW_MS, RateLimitService } from '../../../src/services/runtime/rate-limit-service.js';
import { freePort, spawnPatchbay } from '../../support/cli.js';
import { dialects, migratedDatabase } from '../../support/db.js';
import { requireServer } from '../../support/servers.js';
import { inOrganization } from '../../support/contexts.js';

/** Services on a Sequelize instance of their own (their own connections), as another process would have. */
function servicesOn(url: string, keyRing: KeyRing, t: TestContext) {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent' });
  const sequelize = createSequelize(config.database);
  t.after(() => sequelize.close());
  const models = initModels(sequelize);
  return { config, sequelize, services: createServices({ config, sequelize, models, keyRing, log: pino({ level: 'silent' }) }) };
}

/** An organisation, agent `agent-1` with a token, and a postgresql attachment `db` limited to `perMinute` calls. */
async function limitedAttachment(services: ReturnType<typeof createServices>, perMinute: number) {
  const org = await services.accounts.createOrganization({ slug: `rate-${Date.now()}-${Math.random().toString(16).slice(2, 8)}` });
  const context = { organizationId: org.id, actor: { type: 'system' as const, id: null }, role: 'admin' as const };
  const agent = await services.agents.create(inOrganization(org.id), { id: 'agent-1' });
  const { token } = await services.agents.issueToken(inOrganization(agent.organization_id), agent, {});
  const connector = await services.connectors.create(context, {
    name: 'limited',
    connector_type: 'database',
    provider: 'postgresql',
    config: { host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
    health_check_interval_s: 0,
  });
  const instance = await services.attachments.attach(context, connector.id, { agent_id: 'agent-1', alias: 'db', limits: { rate_per_minute: perMinute } });
  return { instanceId: instance.id, token };
}

const rejectsRateLimited = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof PatchbayError, `rate_limited expected, got ${String(error)}`);
  assert.equal(error.code, 'rate_limited');
  return error;
};

/** Waits, if the rate window is about to turn, until a new one starts. */
async function freshRateWindow(): Promise<void> {
  const left = RATE_WINDOW_MS - (Date.now() % RATE_WINDOW_MS);
  if (left < 5_000) await sleep(left + 50);
}

const counterRows = (sequelize: Sequelize) =>
  sequelize.query<{ window_start: string | number; count: number }>('SELECT window_start, count FROM pb_rate_counters ORDER BY window_start', {
    type: QueryTypes.SELECT,
  });

for (const dialect of dialects) {
  describe(`rate_per_minute on ${dialect}`, () => {
    it('is exact on one process, and kept in the database per window (old windows pruned)', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const keyRing = KeyRing.fromKeys([generateKey()]);
      const { instanceId } = await limitedAttachment(servicesOn(db.db.url, keyRing, t).services, 5);
      let now = Date.UTC(2030, 0, 1, 12, 0, 10);
      const limits = new RateLimitService({ sequelize: servicesOn(db.db.url, keyRing, t).sequelize, clock: () => new Date(now) });
      // Calls racing on one process: exactly the limit gets through, whatever the synchronisation does meanwhile.
      const outcomes = await Promise.allSettled(Array.from({ length: 12 }, () => limits.take(instanceId, 5)));
      assert.equal(outcomes.filter((outcome) => outcome.status === 'fulfilled').length, 5);
      const refused = await rejectsRateLimited(limits.take(instanceId, 5));
      assert.equal(refused.extra?.retry_after_ms, 50_000, 'until the window turns');
      assert.equal(refused.headers?.['Retry-After'], '50');
      await limits.sync();
      assert.deepEqual((await counterRows(db.sequelize)).map((row) => row.count), [5], 'the count reached the database');

      now += 50_000; // the next window
      await limits.take(instanceId, 5);
      now += 2 * RATE_WINDOW_MS; // two windows on: the old windows are pruned
      await limits.take(instanceId, 5);
      await limits.sync();
      const rows = await counterRows(db.sequelize);
      assert.deepEqual(
        rows.map((row) => [Number(row.window_start), row.count]),
        [[now - (now % RATE_WINDOW_MS), 1]],
      );
    });

    it('two processes share one count: each overshoots by at most the calls of one synchronisation interval', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const keyRing = KeyRing.fromKeys([generateKey()]);
      const { instanceId } = await limitedAttachment(servicesOn(db.db.url, keyRing, t).services, 5);
      const clock = () => new Date(Date.UTC(2030, 0, 1, 12, 0, 10));
      const [first, second] = [servicesOn(db.db.url, keyRing, t), servicesOn(db.db.url, keyRing, t)].map(
        ({ sequelize }) => new RateLimitService({ sequelize, clock }),
      ) as [RateLimitService, RateLimitService];
      // One call at a time, alternating, each synchronised before the next: a process's view is stale by the other's
      // last call at most, so each may admit one call more than the limit allows, never more.
      let admitted = 0;
      for (let call = 0; call < 12; call += 1) {
        const process = call % 2 ? second : first;
        const admittedNow = await process.take(instanceId, 5).then(
          () => true,
          (error: unknown) => {
            assert.equal((error as PatchbayError).code, 'rate_limited');
            return false;
          },
        );
        if (call < 5) assert.ok(admittedNow, `call ${call + 1} of 5 is admitted`);
        if (admittedNow) admitted += 1;
        await process.sync();
      }
      assert.ok(admitted >= 5 && admitted <= 5 + 2, `admitted ${admitted}: the limit, plus at most one per process`);
      assert.deepEqual((await counterRows(db.sequelize)).map((row) => row.count), [admitted], 'every admitted call is counted in the database');
      await rejectsRateLimited(first.take(instanceId, 5));
      await rejectsRateLimited(second.take(instanceId, 5));
    });
  });
}

describe('rate_per_minute across two app instances on one PostgreSQL database', () => {
  it('holds for REST calls sent to either app', async (t) => {
    if (!dialects.includes('postgres')) {
      t.skip(`needs PostgreSQL as the app database; DB=${process.env.DB} leaves it out`);
      return;
    }
    const db = await migratedDatabase(t, 'postgres');
    if (!db) return;
    const keyRing = KeyRing.fromKeys([generateKey()]);
    const { token } = await limitedAttachment(servicesOn(db.db.url, keyRing, t).services, 3);
    const apps: FastifyInstance[] = [];
    for (let i = 0; i < 2; i += 1) {
      const config = loadConfig({ DATABASE_URL: db.db.url, LOG_LEVEL: 'silent' });
      const sequelize = createSequelize(config.database);
      const app = await buildApp({ config, keyRing, sequelize, logger: pino({ level: 'silent' }) });
      t.after(async () => {
        await app.close();
        await sequelize.close();
      });
      apps.push(app);
    }
    const call = (app: FastifyInstance) =>
      app.inject({
        method: 'POST',
        url: '/api/v1/agents/agent-1/connectors/db/execute',
        headers: { authorization: `Bearer ${token}` },
        payload: { query: 'SELECT 1 AS one' },
      });
    await freshRateWindow();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await call(apps[i % 2] as FastifyInstance)).statusCode);
    // Each app counts in memory and synchronises after every call: its view of the other's calls may be one call
    // behind, so the limit holds within one call per app (docs/agents.md), and both refuse once they agree.
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200], statuses.join());
    assert.ok(statuses.filter((status) => status === 200).length <= 3 + 2, statuses.join());
    assert.deepEqual(statuses.slice(4), [429, 429], statuses.join());
    const limited = (await call(apps[0] as FastifyInstance)).json() as { code: string; retry_after_ms: number };
    assert.equal(limited.code, 'rate_limited');
    assert.ok(limited.retry_after_ms > 0 && limited.retry_after_ms <= RATE_WINDOW_MS);
  });
});


describe('rate_per_minute across two `patchbay serve` processes on one PostgreSQL database', () => {
  it('holds for REST and MCP calls sent to either process', async (t) => {
    if (!dialects.includes('postgres') || !(await requireServer(t, 'postgresql'))) return;
    const db = await migratedDatabase(t, 'postgres');
    if (!db) return;
    const key = generateKey();
    const { token } = await limitedAttachment(servicesOn(db.db.url, KeyRing.fromKeys([key]), t).services, 3);
    const env = { DATABASE_URL: db.db.url, PATCHBAY_ENCRYPTION_KEYS: key, LOG_LEVEL: 'warn' };
    const ports = [await freePort(), await freePort()];
    const children = ports.map((port) => spawnPatchbay(['serve', '--no-scheduler', '--port', String(port)], env));
    const stderr = children.map(() => '');
    children.forEach((child, i) => child.stderr.on('data', (chunk: Buffer) => (stderr[i] += chunk.toString())));
    const exits = children.map((child) => once(child, 'exit'));
    t.after(() => children.forEach((child) => child.exitCode === null && child.kill('SIGKILL')));
    for (const port of ports) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (response) => response.status === 200,
          () => false,
        );
        if (up) break;
        assert.ok(Date.now() < deadline && children.every((child) => child.exitCode === null), stderr.join('\n'));
        await sleep(200);
      }
    }
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const rest = async (port: number) =>
      (
        await fetch(`http://127.0.0.1:${port}/api/v1/agents/agent-1/connectors/db/execute`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ query: 'SELECT 1 AS one' }),
        })
      ).status;
    const mcp = async (port: number) => {
      const response = await fetch(`http://127.0.0.1:${port}/api/v1/agents/agent-1/mcp`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'db__query', arguments: { query: 'SELECT 1 AS one' } } }),
      });
      const body = (await response.json()) as { result: { isError?: boolean; structuredContent: { error?: { code: string } } } };
      return body.result.isError ? (body.result.structuredContent.error?.code ?? 'error') : 'ok';
    };
    const [a, b] = ports as [number, number];
    await freshRateWindow();
    // As above: within one call per process of the limit, then refused by both, over REST and MCP alike.
    const statuses = [await rest(a), await rest(b), await rest(a), await rest(b), await rest(a), await rest(b)];
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200], statuses.join());
    assert.ok(statuses.filter((status) => status === 200).length <= 3 + 2, statuses.join());
    assert.deepEqual(statuses.slice(4), [429, 429], statuses.join());
    assert.deepEqual([await mcp(a), await mcp(b)], ['rate_limited', 'rate_limited']);

    for (const child of children) child.kill('SIGTERM');
    assert.deepEqual(
      (await Promise.all(exits)).map(([code]) => code),
      [0, 0],
      stderr.join('\n'),
    );
  });
});
