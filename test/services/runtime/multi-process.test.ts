import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryTypes } from 'sequelize';
import { generateKey } from '../../../src/crypto/fernet.js';
import { KeyRing } from '../../../src/crypto/key-ring.js';
import { patchbay } from '../../support/cli.js';
import { dialects, migratedDatabase } from '../../support/db.js';
import { requireServer } from '../../support/servers.js';
import { runtimeWorld, serve, servicesOn, until } from './support.js';

/**
 * The run-time caches and the audit writer across processes: `patchbay serve` processes on one database, and the
 * CLI beside one. Every process caches for ten minutes (PATCHBAY_CACHE_TTL_MS), so a change seen within the
 * bound here was pushed (LISTEN/NOTIFY, PRAGMA data_version), not waited out.
 */

const LONG_TTL = { PATCHBAY_CACHE_TTL_MS: '600000', PATCHBAY_RATE_LIMIT_PER_KEY: '100000', LOG_LEVEL: 'warn' };
/** Generous: the design bound is one second (a NOTIFY, or one data_version poll of 250 ms). */
const BOUND_MS = 5_000;

const status = async (response: Promise<Response>) => (await response).status;
const execute = (base: string, token: string) =>
  status(
    fetch(`${base}/agents/agent-1/connectors/db/execute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'SELECT 1 AS one' }),
    }),
  );
const codeOf = async (response: Promise<Response>) => {
  const answer = await response;
  return answer.status === 200 ? 'ok' : ((await answer.json()) as { code: string }).code;
};

describe('two `patchbay serve` processes on one PostgreSQL database', () => {
  it('a token, an API key and a connector changed through one are seen by the other within the bound', async (t) => {
    if (!dialects.includes('postgres') || !(await requireServer(t, 'postgresql'))) return;
    const db = await migratedDatabase(t, 'postgres');
    if (!db) return;
    const key = generateKey();
    const { adminKey, token, connector } = await runtimeWorld(servicesOn(db.db.url, KeyRing.fromKeys([key]), t).services);
    const env = { DATABASE_URL: db.db.url, PATCHBAY_ENCRYPTION_KEYS: key, ...LONG_TTL };
    const [one, other] = await Promise.all([serve(t, env), serve(t, env)]);
    const admin = { authorization: `Bearer ${adminKey.key}` };

    // Cached in the other process first.
    assert.equal(await execute(other.base, token.token), 200);
    assert.equal(await status(fetch(`${other.base}/agents`, { headers: admin })), 200);

    assert.equal(
      await status(
        fetch(`${one.base}/connectors/${connector.id}`, {
          method: 'PUT',
          headers: { ...admin, 'content-type': 'application/json' },
          body: JSON.stringify({ enabled: false }),
        }),
      ),
      200,
    );
    assert.equal(
      await until(
        () =>
          codeOf(
            fetch(`${other.base}/agents/agent-1/connectors/db/execute`, {
              method: 'POST',
              headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
              body: JSON.stringify({ query: 'SELECT 1' }),
            }),
          ),
        'connector_disabled',
        BOUND_MS,
      ),
      'connector_disabled',
      'the other process sees the connector disabled',
    );

    assert.equal(await status(fetch(`${one.base}/agents/agent-1/tokens/${token.id}`, { method: 'DELETE', headers: admin })), 204);
    assert.equal(
      await until(() => execute(other.base, token.token), 401, BOUND_MS),
      401,
      'the other process refuses the revoked token',
    );

    assert.equal(await status(fetch(`${one.base}/api-keys/${adminKey.id}`, { method: 'DELETE', headers: admin })), 204);
    assert.equal(
      await until(() => status(fetch(`${other.base}/agents`, { headers: admin })), 401, BOUND_MS),
      401,
      'the other process refuses the revoked key',
    );
  });
});

describe('`patchbay serve` on SQLite and the CLI on the same file', () => {
  it('an API key revoked by the CLI is refused by the running server within the bound', async (t) => {
    const db = await migratedDatabase(t, 'sqlite');
    if (!db) return;
    const key = generateKey();
    const { adminKey } = await runtimeWorld(servicesOn(db.db.url, KeyRing.fromKeys([key]), t).services);
    const env = { DATABASE_URL: db.db.url, PATCHBAY_ENCRYPTION_KEYS: key, ...LONG_TTL };
    const server = await serve(t, env);
    const headers = { authorization: `Bearer ${adminKey.key}` };
    assert.equal(await status(fetch(`${server.base}/agents`, { headers })), 200);
    assert.equal(await status(fetch(`${server.base}/agents`, { headers })), 200);

    const revoked = patchbay(['api-keys', 'revoke', adminKey.id], {
      DATABASE_URL: db.db.url,
      PATCHBAY_ENCRYPTION_KEYS: key,
      LOG_LEVEL: 'warn',
    });
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(await until(() => status(fetch(`${server.base}/agents`, { headers })), 401, BOUND_MS), 401);
  });
});

for (const dialect of dialects) {
  describe(`audit by group commit on ${dialect}, nothing lost`, () => {
    it('after a hard kill under load, every answered call has its audit row', async (t) => {
      if (!(await requireServer(t, 'postgresql'))) return;
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const key = generateKey();
      const { token } = await runtimeWorld(servicesOn(db.db.url, KeyRing.fromKeys([key]), t).services);
      const server = await serve(t, { DATABASE_URL: db.db.url, PATCHBAY_ENCRYPTION_KEYS: key, ...LONG_TTL });

      let answered = 0;
      let running = true;
      const callers = Array.from({ length: 16 }, async () => {
        while (running) {
          const code = await execute(server.base, token.token).catch(() => 0);
          if (code === 200) answered += 1;
          else if (code !== 0) assert.fail(`unexpected status ${code}`);
        }
      });
      // Kill in the middle of the load, once a fair number of calls were answered.
      while (answered < 100) await sleep(20);
      server.child.kill('SIGKILL');
      running = false;
      const killedAt = answered;
      await Promise.all(callers);
      await server.exited;

      const [row] = await db.sequelize.query<{ count: number | string }>(
        "SELECT COUNT(*) AS count FROM pb_audit_events WHERE action = 'connector.execute' AND outcome = 'success'",
        { type: QueryTypes.SELECT },
      );
      assert.ok(answered >= killedAt && answered > 0);
      assert.ok(Number(row?.count) >= answered, `${answered} calls answered, ${Number(row?.count)} audit rows`);
    });
  });
}
