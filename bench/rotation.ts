/**
 * bench/rotation: key rotation under load, as README "Key rotation" describes it, on a fresh PostgreSQL app
 * database with BENCH_ROTATION_CONNECTORS sqlite connectors (default 10,000, inserted in bulk under key A; 100 of
 * them attached to an agent) served by two `patchbay serve` processes. BENCH_ROTATION_CLIENTS clients (default 32)
 * keep executes (direct, on any connector), run-time executes (through the attachments) and connection tests
 * running back to back the whole time, spread over the servers that are up. Meanwhile:
 * 1. after BENCH_ROTATION_PHASE_SECONDS (default 5) on A, a rolling restart adds the new key B last
 *    (PATCHBAY_ENCRYPTION_KEYS=A,B), and a second one puts it first (B,A): one server at a time leaves the
 *    rotation, finishes its calls in flight, stops on SIGTERM and comes back with the new keys (this process plays
 *    the load balancer with health checks);
 * 2. `patchbay reencrypt` runs (again while it reports rows changed meanwhile);
 * 3. a last rolling restart drops A (PATCHBAY_ENCRYPTION_KEYS=B), and the load goes on for another phase.
 * Prints the calls made and failed (goal: 0 failed), the reencrypt command's duration (process start included),
 * the time from its first row re-encrypted to its last and the rows/s over it, the rows under each key, then checks that every connector opens with B alone, that a few executes
 * succeed on the B-only servers after the load, and that no scheduled health check failed meanwhile. FAIL (exit
 * code 1) on any failed call or check.
 * Adding B last everywhere before putting it first is what lets a server still on the old list open a config
 * another server has already sealed under B; the load itself writes no config.
 * The servers close idle connector sessions after 2 s (PATCHBAY_POOL_IDLE_MS): executes on connectors picked at
 * random among 10,000 would otherwise keep thousands of SQLite handles open per server.
 */
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { QueryTypes, type Sequelize } from 'sequelize';
import { generateKey } from '../src/crypto/fernet.js';
import { KeyRing } from '../src/crypto/key-ring.js';
import { migrateUp } from '../src/db/migrator.js';
import { createSequelize } from '../src/db/sequelize.js';
import { ReencryptService } from '../src/services/connectors/reencrypt-service.js';
import { servePatchbay, spawnPatchbay, type ServedPatchbay } from '../test/support/cli.js';
import { createTestDatabase } from '../test/support/db.js';
import { benchApp } from './app.js';
import { httpRequest } from './load.js';
import { CallLog, driveClients, httpOutcome, testSucceeded, weighted, type Call } from './mix.js';
import { insertConnectors, sqliteItemsFile } from './seed.js';

const COUNT = Number(process.env.BENCH_ROTATION_CONNECTORS ?? 10_000);
const CLIENTS = Number(process.env.BENCH_ROTATION_CLIENTS ?? 32);
const PHASE_S = Number(process.env.BENCH_ROTATION_PHASE_SECONDS ?? 5);
const ATTACHED = 100;
const SERVERS = 2;
const MIX = [
  ['execute', 40],
  ['runtime', 30],
  ['test', 30],
] as const;
/** Executes through the B-only servers once the load has stopped. */
const AFTER_EXECUTES = 20;
const MAX_REENCRYPT_RUNS = 5;
const QUERY = { query: 'SELECT count(*) AS n FROM items' };

/** One server process behind this process's round robin. */
interface Backend {
  served: ServedPatchbay;
  base: string;
  inFlight: number;
}

export async function rotationBench(): Promise<void> {
  const folder = mkdtempSync(path.join(os.tmpdir(), 'patchbay-rotation-'));
  const sqliteRoot = path.join(folder, 'sqlite');
  mkdirSync(sqliteRoot);
  const db = await createTestDatabase('postgres');
  const sequelize = createSequelize(db.settings);
  const backends: Backend[] = [];
  const failures: string[] = [];
  try {
    await migrateUp(sequelize);
    await sqliteItemsFile(sqliteRoot, 'rotation.sqlite', 100);
    const seedStarted = performance.now();
    const seed = await seedRotation(sequelize, db.url);
    const keyA = seed.key;
    const keyB = generateKey();
    const ringA = KeyRing.fromKeys([keyA]);
    const ringB = KeyRing.fromKeys([keyB]);
    console.log(
      `rotation: ${COUNT} sqlite connectors (${ATTACHED} attached) under key A ${ringA.primaryKeyId}, seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s; ` +
        `${SERVERS} servers, ${CLIENTS} clients; load average ${os.loadavg()[0]?.toFixed(1)} on ${os.availableParallelism()} cores`,
    );

    const serve = async (keys: string[]): Promise<Backend> => {
      const served = await servePatchbay(
        {
          DATABASE_URL: db.url,
          PATCHBAY_ENCRYPTION_KEYS: keys.join(','),
          PATCHBAY_SQLITE_ROOT: sqliteRoot,
          PATCHBAY_POOL_IDLE_MS: '2000',
          // Rotation is about failed calls: the per-key rate limit is out of the way, as in the other load benchmarks.
          PATCHBAY_RATE_LIMIT_PER_KEY: '100000000',
        },
        folder,
      );
      return { served, base: `http://127.0.0.1:${served.port}`, inFlight: 0 };
    };
    for (let i = 0; i < SERVERS; i += 1) backends.push(await serve([keyA]));
    let live = [...backends];

    const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
    let turn = 0;
    const request = (credential: string, pathname: string, accept?: (body: unknown) => boolean, body?: unknown): Call => async () => {
      const backend = live[turn++ % live.length]!;
      backend.inFlight += 1;
      try {
        const answer = await httpRequest(agent, new URL(pathname, backend.base), {
          method: 'POST',
          headers: { authorization: `Bearer ${credential}` },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        return httpOutcome(answer, 200, accept);
      } finally {
        backend.inFlight -= 1;
      }
    };
    const anyConnector = () => seed.connectorIds[Math.floor(Math.random() * COUNT)]!;
    const nextKind = weighted(MIX);
    const next = () => {
      const kind = nextKind();
      if (kind === 'execute') return { kind, call: request(seed.apiKey, `/api/v1/connectors/${anyConnector()}/execute`, undefined, QUERY) };
      if (kind === 'test') return { kind, call: request(seed.apiKey, `/api/v1/connectors/${anyConnector()}/test`, testSucceeded) };
      const alias = `a${Math.floor(Math.random() * ATTACHED)}`;
      return { kind, call: request(seed.token, `/api/v1/agents/${seed.agentId}/connectors/${alias}/execute`, undefined, QUERY) };
    };

    /** Takes each server out of the rotation in turn, lets its calls finish, and brings it back with `keys`. */
    const rollingRestart = async (keys: string[], label: string) => {
      const started = performance.now();
      for (const [index, old] of backends.entries()) {
        live = live.filter((backend) => backend !== old);
        while (old.inFlight > 0) await sleep(5);
        old.served.child.kill('SIGTERM');
        const code = await old.served.exited;
        if (code !== 0) failures.push(`a server exited with code ${code} on SIGTERM`);
        const fresh = await serve(keys);
        backends[index] = fresh;
        live.push(fresh);
      }
      console.log(`  rolling restart with ${label}: ${((performance.now() - started) / 1000).toFixed(1)} s for ${SERVERS} servers`);
    };

    const log = new CallLog();
    let running = true;
    const started = performance.now();
    const load = driveClients(CLIENTS, next, () => running, log);

    await sleep(PHASE_S * 1000);
    console.log(`  load on A alone for ${PHASE_S} s: ${log.calls} calls so far, ${log.failed} failed`);
    await rollingRestart([keyA, keyB], `B ${ringB.primaryKeyId} added last (A,B)`);
    await rollingRestart([keyB, keyA], `B ${ringB.primaryKeyId} first (B,A)`);

    const reencrypt = await reencryptUntilDone(sequelize, db.url, [keyB, keyA], folder);
    if (reencrypt.failed) failures.push(`reencrypt could not re-encrypt ${reencrypt.failed} value(s)`);
    console.log(
      `  reencrypt: ${reencrypt.runs} run(s) of the command, ${reencrypt.seconds.toFixed(1)} s with the process start; ` +
        `${reencrypt.reencrypted} rows re-encrypted over ${reencrypt.rowsSeconds.toFixed(1)} s (${(reencrypt.reencrypted / reencrypt.rowsSeconds).toFixed(0)} rows/s), ` +
        `changed meanwhile ${reencrypt.changed}, failed ${reencrypt.failed}`,
    );
    const status = await new ReencryptService(sequelize, KeyRing.fromKeys([keyB, keyA])).status();
    const underB = status.find((row) => row.key_id === ringB.primaryKeyId)?.count ?? 0;
    const notUnderB = status.filter((row) => row.key_id !== ringB.primaryKeyId).reduce((sum, row) => sum + row.count, 0);
    console.log(`  rows under B: ${underB}; under any other key: ${notUnderB}`);
    if (notUnderB > 0 || underB !== COUNT) failures.push(`${notUnderB} value(s) not under the new key after reencrypt`);

    await rollingRestart([keyB], 'A removed (B)');
    const beforeLast = log.calls;
    await sleep(PHASE_S * 1000);
    running = false;
    await load;
    const elapsedS = (performance.now() - started) / 1000;
    console.log(`  load on B alone for ${PHASE_S} s: ${log.calls - beforeLast} calls`);
    log.print(elapsedS);
    if (log.failed) failures.push(`${log.failed} call(s) failed during the rotation`);

    const opened = openAll(await connectorRows(sequelize), ringB);
    console.log(`  with B alone: ${opened.opened} of ${COUNT} connector configs open${opened.error ? ` (first failure: ${opened.error})` : ''}`);
    if (opened.opened !== COUNT) failures.push(`${COUNT - opened.opened} connector config(s) do not open with B alone`);

    let afterFailed = 0;
    for (let i = 0; i < AFTER_EXECUTES; i += 1) {
      const outcome = await request(seed.apiKey, `/api/v1/connectors/${anyConnector()}/execute`, undefined, QUERY)();
      if (!outcome.ok) afterFailed += 1;
    }
    console.log(`  after the load, on the B-only servers: ${AFTER_EXECUTES - afterFailed} of ${AFTER_EXECUTES} executes succeed`);
    if (afterFailed) failures.push(`${afterFailed} execute(s) failed after the rotation`);
    agent.destroy();

    const checks = await scheduledChecks(sequelize);
    console.log(`  scheduled health checks during the run: ${checks.total}, failed: ${checks.failed}${checks.codes ? ` (${checks.codes})` : ''}`);
    if (checks.failed) failures.push(`${checks.failed} scheduled health check(s) failed`);

    if (failures.length) {
      console.log(`  FAIL: ${failures.join('; ')}`);
      process.exitCode = 1;
    } else {
      console.log('  PASS: no failed call, every row under the new key, everything opens without the old key');
    }
  } finally {
    for (const backend of backends) {
      if (backend.served.child.exitCode === null) backend.served.child.kill('SIGTERM');
      await backend.served.exited;
    }
    await sequelize.close();
    await db.drop();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The organisation, its admin's API key, the agent and its token, the connectors (in bulk) and the attachments. */
async function seedRotation(sequelize: Sequelize, databaseUrl: string) {
  const seeding: (() => Promise<void>)[] = [];
  try {
    const { app, admin, apiKey, agent, token, key } = await benchApp(sequelize, databaseUrl, 4, seeding);
    const connectorIds = await insertConnectors(app.db.models, KeyRing.fromKeys([key]), admin.organizationId, COUNT, (i) => ({
      name: `rotation-${i}`,
      connector_type: 'database',
      provider: 'sqlite',
      config: { path: 'rotation.sqlite' },
      health_check_interval_s: 300,
    }));
    for (let k = 0; k < Math.min(ATTACHED, COUNT); k += 1) {
      await app.services.attachments.attach(admin, connectorIds[k]!, { agent_id: agent.agent_id, alias: `a${k}` });
    }
    return { key, apiKey, token: token.token, agentId: agent.agent_id, connectorIds };
  } finally {
    for (const cleanup of seeding) await cleanup();
  }
}

/**
 * `patchbay reencrypt` as an operator runs it, again while it reports rows changed meanwhile. Beside the commands'
 * wall time (process start included), the rows under the new key are counted every 100 ms: from the first row
 * re-encrypted to the last is the re-encryption itself.
 */
async function reencryptUntilDone(sequelize: Sequelize, databaseUrl: string, keys: string[], cwd: string) {
  const primary = KeyRing.fromKeys(keys).primaryKeyId;
  const totals = { reencrypted: 0, changed: 0, failed: 0, runs: 0, seconds: 0, rowsSeconds: 0 };
  let firstRowAt: number | undefined;
  let lastRowAt = 0;
  let seen = -1;
  for (;;) {
    const started = performance.now();
    const child = spawnPatchbay(['reencrypt'], { DATABASE_URL: databaseUrl, PATCHBAY_ENCRYPTION_KEYS: keys.join(',') }, cwd);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit') as Promise<[number | null]>;
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      const [row] = await sequelize.query<{ count: string }>('SELECT COUNT(*) AS count FROM pb_connectors WHERE key_id = :primary', {
        type: QueryTypes.SELECT,
        replacements: { primary },
      });
      const count = Number(row?.count ?? 0);
      if (seen >= 0 && count > seen) {
        firstRowAt ??= performance.now();
        lastRowAt = performance.now();
      }
      seen = count;
      await sleep(100);
    }
    const [code] = await exited;
    totals.seconds += (performance.now() - started) / 1000;
    totals.runs += 1;
    const number = (pattern: RegExp) => Number(output.match(pattern)?.[1] ?? 0);
    const changed = number(/(\d+) changed meanwhile/);
    totals.reencrypted += number(/re-encrypted (\d+) value/);
    totals.changed += changed;
    totals.failed += number(/(\d+) failed/);
    if (code !== 0 && !totals.failed) throw new Error(`patchbay reencrypt exited with code ${code}: ${output.trim()}`);
    if (changed === 0 || totals.runs >= MAX_REENCRYPT_RUNS) {
      // Rows are seen in 100 ms steps: the first step's rows were re-encrypted during the 100 ms before it.
      totals.rowsSeconds = firstRowAt === undefined ? Number.NaN : (lastRowAt - firstRowAt) / 1000 + 0.1;
      return totals;
    }
  }
}

async function connectorRows(sequelize: Sequelize) {
  return sequelize.query<{ id: string; organization_id: string; config_encrypted: string; key_id: string }>(
    'SELECT id, organization_id, config_encrypted, key_id FROM pb_connectors',
    { type: QueryTypes.SELECT },
  );
}

/** Opens every row's config with `ring`; counts those that open and keeps the first failure's message. */
function openAll(rows: Awaited<ReturnType<typeof connectorRows>>, ring: KeyRing) {
  let opened = 0;
  let error: string | undefined;
  for (const row of rows) {
    try {
      ring.open({ organization_id: row.organization_id, connector_id: row.id }, row.config_encrypted, row.key_id);
      opened += 1;
    } catch (failure) {
      error ??= (failure as Error).message;
    }
  }
  return { opened, error };
}

/** Scheduled checks recorded so far, and the failed ones by error code. */
async function scheduledChecks(sequelize: Sequelize) {
  const rows = await sequelize.query<{ success: boolean; error_code: string | null; count: string }>(
    "SELECT success, error_code, COUNT(*) AS count FROM pb_connector_health_checks WHERE source = 'scheduled' GROUP BY success, error_code",
    { type: QueryTypes.SELECT },
  );
  const failedRows = rows.filter((row) => !row.success);
  return {
    total: rows.reduce((sum, row) => sum + Number(row.count), 0),
    failed: failedRows.reduce((sum, row) => sum + Number(row.count), 0),
    codes: failedRows.map((row) => `${row.error_code ?? 'none'} ${row.count}`).join(', '),
  };
}
