/**
 * bench/execute-overhead: the same small statements in read mode (SELECT 1 and a 100-row select on PostgreSQL and
 * MariaDB; GET and a 100-element LRANGE on Redis), each at three layers in one run:
 * (a) the driver alone (pg, mysql2, node-redis) with the wrapping Patchbay's provider sends for a read;
 * (b) Patchbay's service layer: the harness alone on a pooled session, and the whole ExecutionService.executeRuntime
 *     (attachment lookup, decrypt, harness, audit write in the app database);
 *     BENCH_N sequential calls per layer (default 2000; fewer when they would take longer than BENCH_SECONDS);
 * (c) HTTP: POST /api/v1/agents/{id}/connectors/{alias}/execute with an agent token on a listening server, at
 *     concurrency 16 for BENCH_SECONDS per measurement (default 5), against a bare Fastify route running the same
 *     statement with the same driver and pool size, unwrapped. The load comes from a worker thread.
 * Each of (b) and (c) runs with SQLite (a temp folder) and with PostgreSQL (a scratch database) as the app database
 * (BENCH_APP_DB narrows it). Then a silent peer's connection test (silent-peer.ts).
 * Goals: (b) - (a) <= 0.3 ms median per call; (c) >= 50 % of the bare route's throughput; a silent peer's test
 * ends within connect_timeout_ms + 10 %.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import mysql2 from 'mysql2/promise';
import pg from 'pg';
import { createClient, createClientPool } from 'redis';
import { QueryTypes, type Sequelize } from 'sequelize';
import { migrateUp } from '../src/db/migrator.js';
import type { Connector } from '../src/db/models/index.js';
import { createSequelize } from '../src/db/sequelize.js';
import { poolKey } from '../src/providers/harness.js';
import { callSettings, runPipeline } from '../src/providers/postgresql/session.js';
import { effectiveLimits } from '../src/services/connectors/attachment-service.js';
import type { Services } from '../src/services/index.js';
import { createTestDatabase, type Dialect } from '../test/support/db.js';
import { benchApp } from './app.js';
import { CONCURRENCY, SECONDS, startLoadWorker, type LoadReport } from './load.js';
import { measureSilentPeer } from './silent-peer.js';
import { measure, ms } from './stats.js';

const N = Number(process.env.BENCH_N ?? 2000);
/** The app databases to run on: `BENCH_APP_DB="sqlite postgres"` (the default) or one of them. */
const APP_DATABASES = (process.env.BENCH_APP_DB ?? 'sqlite postgres').split(/[\s,]+/).filter((d): d is Dialect => d === 'sqlite' || d === 'postgres');
/** Connections per pool, Patchbay's (PATCHBAY_POOL_MAX, its default) and the bare route's alike. */
const POOL_MAX = 4;
const DELTA_GOAL_MS = 0.3;
const RATIO_GOAL = 0.5;
const PEER_GOAL = 1.1;

type Body = Record<string, unknown>;

interface Statement {
  label: string;
  body: Body;
  /** Rows (or list elements) every layer must return. */
  size: number;
}

/** One driver used directly, beside Patchbay. */
interface Driver {
  /** Layer (a): the statement with the wrapping Patchbay's provider sends for a read; resolves to the rows read. */
  run(body: Body): Promise<number>;
  /** The bare route's call: the statement alone, on a pool of POOL_MAX connections. */
  bare(body: Body): Promise<unknown>;
  close(): Promise<void>;
}

interface Target {
  providerId: 'postgresql' | 'mysql' | 'redis';
  config: Record<string, unknown>;
  statements: Statement[];
  open(): Promise<Driver>;
  /** Creates what the statements read; resolves to its removal. */
  seed(): Promise<() => Promise<void>>;
}

const limits = effectiveLimits(null);
const suffix = randomBytes(4).toString('hex');
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const MY = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' };
const REDIS = { host: '127.0.0.1', port: 6379 };
const table = `bench_rows_${suffix}`;
const key = `bench_${suffix}:small`;
const list = `bench_${suffix}:list`;

const targets: Target[] = [
  {
    providerId: 'postgresql',
    config: { host: PG.host, port: PG.port, username: PG.user, database: PG.database },
    statements: [
      { label: 'SELECT 1', body: { query: 'SELECT 1' }, size: 1 },
      { label: '100 rows', body: { query: `SELECT id, name, amount, created_at FROM ${table} ORDER BY id` }, size: 100 },
    ],
    async open() {
      const wrapped = new pg.Pool({ ...PG, max: POOL_MAX });
      const bare = new pg.Pool({ ...PG, max: POOL_MAX });
      return {
        async run(body) {
          const client = await wrapped.connect();
          try {
            // The provider's one round trip for a read: its settings statement and the statement, one pipeline.
            const settings = callSettings(undefined, { mode: 'read', limits }, []);
            const { rows } = await runPipeline(pg, client, settings, { text: String(body.query), values: [] }, limits.maxRows);
            return rows.length;
          } finally {
            client.release();
          }
        },
        bare: async (body) => ({ rows: (await bare.query(String(body.query))).rows }),
        close: async () => void (await Promise.all([wrapped.end(), bare.end()])),
      };
    },
    async seed() {
      await pgAdmin(
        `CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, amount numeric(10, 2) NOT NULL, created_at timestamptz NOT NULL);
         INSERT INTO ${table} SELECT g, 'customer ' || g, g * 1.25, now() - g * interval '1 hour' FROM generate_series(1, 100) g`,
      );
      return () => pgAdmin(`DROP TABLE IF EXISTS ${table}`);
    },
  },
  {
    providerId: 'mysql',
    config: { host: MY.host, port: MY.port, username: MY.user, database: MY.database },
    statements: [
      { label: 'SELECT 1', body: { query: 'SELECT 1' }, size: 1 },
      { label: '100 rows', body: { query: `SELECT id, name, amount, created_at FROM ${table} ORDER BY id` }, size: 100 },
    ],
    async open() {
      const wrapped = mysql2.createPool({ ...MY, connectionLimit: POOL_MAX, maxIdle: POOL_MAX });
      // The provider's read-only session, set once per connection (queued before the connection's first call).
      wrapped.pool.on('connection', (connection) => void connection.query('SET SESSION TRANSACTION READ ONLY'));
      const bare = mysql2.createPool({ ...MY, connectionLimit: POOL_MAX, maxIdle: POOL_MAX });
      return {
        async run(body) {
          // A prepared statement, as the provider runs every query (mysql2 keeps it prepared per connection).
          const [rows] = await wrapped.execute(String(body.query));
          return (rows as unknown[]).length;
        },
        bare: async (body) => ({ rows: (await bare.query(String(body.query)))[0] }),
        close: async () => void (await Promise.all([wrapped.end(), bare.end()])),
      };
    },
    async seed() {
      const connection = await mysql2.createConnection(MY);
      try {
        await connection.query(
          `CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, amount DECIMAL(10, 2) NOT NULL, created_at DATETIME NOT NULL)`,
        );
        const rows = Array.from({ length: 100 }, (_, i) => [
          i + 1,
          `customer ${i + 1}`,
          (i + 1) * 1.25,
          new Date(Date.now() - i * 3_600_000),
        ]);
        await connection.query(`INSERT INTO ${table} (id, name, amount, created_at) VALUES ?`, [rows]);
      } finally {
        await connection.end();
      }
      return async () => {
        const cleanup = await mysql2.createConnection(MY);
        await cleanup.query(`DROP TABLE IF EXISTS ${table}`);
        await cleanup.end();
      };
    },
  },
  {
    providerId: 'redis',
    config: { host: REDIS.host, port: REDIS.port },
    statements: [
      { label: 'GET', body: { command: ['GET', key] }, size: 1 },
      { label: 'LRANGE 100', body: { command: ['LRANGE', list, '0', '99'] }, size: 100 },
    ],
    async open() {
      const options = { socket: { ...REDIS, reconnectStrategy: false as const }, disableClientInfo: true };
      const client = createClient(options);
      await client.connect();
      const pool = createClientPool(options, { minimum: POOL_MAX, maximum: POOL_MAX });
      await pool.connect();
      return {
        // Read mode adds nothing on the wire for Redis: the provider sends the plain command.
        run: async (body) => sizeOf(await client.sendCommand(body.command as string[])),
        bare: async (body) => ({ reply: await pool.sendCommand(body.command as string[]) }),
        close: async () => {
          client.destroy();
          pool.destroy();
        },
      };
    },
    async seed() {
      const client = createClient({ socket: REDIS, disableClientInfo: true });
      await client.connect();
      await client.set(key, 'a small value');
      await client.rPush(
        list,
        Array.from({ length: 100 }, (_, i) => `element ${i + 1}`),
      );
      return async () => {
        await client.del([key, list]);
        client.destroy();
      };
    },
  },
];

async function pgAdmin(sql: string): Promise<void> {
  const client = new pg.Client(PG);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Rows in an execute result's data, or elements of a Redis reply (1 for a single value). */
function sizeOf(data: unknown): number {
  if (Array.isArray(data)) return data.length;
  const rows = (data as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? rows.length : 1;
}

type Timing = Awaited<ReturnType<typeof measure>>;

interface SequentialRow {
  name: string;
  raw: Timing;
  harness: Timing;
  service: Timing;
}

/**
 * N calls, or fewer when N would take longer than SECONDS (a service-layer call waits for its audit row's fsync,
 * which can take several milliseconds), but never under 100. The warm-up (N/10 calls, at most 200 or one second)
 * tells how long a call takes.
 */
async function measureBounded(fn: () => Promise<void>): Promise<Timing> {
  const started = performance.now();
  let calls = 0;
  while (calls < Math.min(200, Math.ceil(N / 10)) && performance.now() - started < 1000) {
    await fn();
    calls += 1;
  }
  const perCallMs = (performance.now() - started) / calls;
  return measure(Math.max(100, Math.min(N, Math.floor((SECONDS * 1000) / perCallMs))), fn, 0);
}

interface HttpRow {
  name: string;
  bare: LoadReport;
  patchbay: LoadReport;
}

/** What every section works with: the listening app and its services, one agent and its token, the drivers. */
interface Setup {
  services: Services;
  organizationId: string;
  agentId: string;
  token: { id: string; token: string };
  /** Each target's connector, attached to the agent with the provider id as alias. */
  connectors: Map<string, Connector>;
  drivers: Map<string, Driver>;
  patchbayPort: number;
  barePort: number;
}

export async function executeOverheadBench(): Promise<void> {
  for (const [index, dialect] of APP_DATABASES.entries()) await onAppDatabase(dialect, index === APP_DATABASES.length - 1);
}

async function onAppDatabase(dialect: Dialect, last: boolean): Promise<void> {
  const db = await createTestDatabase(dialect);
  const sequelize = createSequelize(db.settings);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await migrateUp(sequelize);
    const setup = await setUp(sequelize, db.url, cleanups);
    console.log(
      `execute-overhead: ${N} sequential calls per layer (fewer past ${SECONDS} s); HTTP ${SECONDS} s per measurement at concurrency ` +
        `${CONCURRENCY}; pools of ${POOL_MAX}; read mode, default limits; app database ${await describeAppDatabase(sequelize, dialect)}; ${loadAverage()}`,
    );
    await sequentialLayers(setup);
    await serviceParts(setup);
    await httpThroughput(setup);
    if (last) await silentPeer(setup);
    console.log(`  at the end: ${loadAverage()}`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error('cleanup failed:', error));
    await sequelize.close();
    await db.drop();
  }
}

/** The journal mode decides what the audit insert of every call costs on SQLite (an fsync or several per commit). */
async function describeAppDatabase(sequelize: Sequelize, dialect: Dialect): Promise<string> {
  if (dialect === 'postgres') return 'PostgreSQL (a scratch database on the local server)';
  const pragma = async (name: string) =>
    Object.values((await sequelize.query<Record<string, unknown>>(`PRAGMA ${name}`, { type: QueryTypes.SELECT }))[0] ?? {})[0];
  return `SQLite in a temp folder (journal_mode ${await pragma('journal_mode')}, synchronous ${await pragma('synchronous')})`;
}

/** The app listening on loopback with an agent, its token and one attachment per target; the drivers and the bare route. */
async function setUp(sequelize: Sequelize, databaseUrl: string, cleanups: (() => Promise<void>)[]): Promise<Setup> {
  const { app, admin, agent, token } = await benchApp(sequelize, databaseUrl, POOL_MAX, cleanups);
  const { attachments, connectors } = app.services;
  await app.listen({ port: 0, host: '127.0.0.1' });

  const setup: Setup = {
    services: app.services,
    organizationId: admin.organizationId,
    agentId: agent.agent_id,
    token,
    connectors: new Map(),
    drivers: new Map(),
    patchbayPort: (app.server.address() as AddressInfo).port,
    barePort: 0,
  };
  const bareApp = Fastify();
  cleanups.unshift(() => bareApp.close());
  for (const target of targets) {
    cleanups.unshift(await target.seed());
    const driver = await target.open();
    cleanups.unshift(() => driver.close());
    setup.drivers.set(target.providerId, driver);
    bareApp.post(`/${target.providerId}`, (request) => driver.bare(request.body as Body));
    const connector = await connectors.create(admin, {
      name: `bench-${target.providerId}`,
      connector_type: 'database',
      provider: target.providerId,
      config: target.config,
    });
    await attachments.attach(admin, connector.id, { agent_id: agent.agent_id, alias: target.providerId });
    setup.connectors.set(target.providerId, connector);
  }
  await bareApp.listen({ port: 0, host: '127.0.0.1' });
  setup.barePort = (bareApp.server.address() as AddressInfo).port;
  return setup;
}

/** Layers (a) and (b), one statement after another. */
async function sequentialLayers({ services, organizationId, agentId, token, connectors, drivers }: Setup): Promise<void> {
  console.log(
    `  ${'sequential, ms'.padEnd(24)}${'raw med/p95'.padStart(14)}${'harness'.padStart(14)}${'service'.padStart(14)}` +
      `   harness-raw   service-raw   (goal <= ${DELTA_GOAL_MS} ms)`,
  );
  let requestNumber = 0;
  for (const target of targets) {
    const driver = drivers.get(target.providerId) as Driver;
    const connector = connectors.get(target.providerId) as Connector;
    // The harness layer uses the session the service layer uses (the attachment has no override); decrypting and
    // the pool key are the service's work, done once here.
    const config = services.connectors.decrypt(connector);
    const key = poolKey(connector.id, connector.version, {});
    const harnessCall = (body: Body) =>
      services.harness.execute({
        providerId: target.providerId,
        poolKey: key,
        config,
        input: body,
        call: { mode: 'read', limits, boundParams: {}, connectorId: connector.id },
      });
    const serviceCall = (body: Body) =>
      services.execution.executeRuntime(
        { organizationId, actor: { type: 'agent', id: token.id }, requestId: `bench-${(requestNumber += 1)}` },
        agentId,
        target.providerId,
        body,
      );
    for (const { label, body, size } of target.statements) {
      const name = `${target.providerId} ${label}`;
      // Every layer reads the same answer before any is timed.
      assert.equal(await driver.run(body), size, `${name}: raw`);
      assert.equal(sizeOf((await harnessCall(body)).data), size, `${name}: harness`);
      assert.equal(sizeOf((await serviceCall(body)).data), size, `${name}: service`);
      const raw = await measureBounded(async () => void (await driver.run(body)));
      const viaHarness = await measureBounded(async () => void (await harnessCall(body)));
      const service = await measureBounded(async () => void (await serviceCall(body)));
      console.log(formatSequential({ name, raw, harness: viaHarness, service }));
    }
  }
}

/**
 * Where a run-time call's time goes besides the harness, each part alone, on the postgresql attachment: the token
 * and attachment lookups as a call makes them (from the cache after the first), what a cache miss reads, and one
 * audit row through the group-commit writer (alone, so a batch of one). HTTP adds the token lookup.
 */
async function serviceParts({ services, organizationId, agentId, token }: Setup): Promise<void> {
  const { instance, connector } = await services.attachments.byAlias(organizationId, agentId, 'postgresql');
  const parts = {
    'token lookup': () => services.agents.authenticateToken(token.token),
    'attachment lookup': () => services.execution.attachment(organizationId, agentId, 'postgresql'),
    'attachment read (cache miss)': () => services.attachments.byAlias(organizationId, agentId, 'postgresql'),
    decrypt: async () => services.connectors.decrypt(connector),
    'audit insert': () =>
      services.audit.record({
        organization_id: organizationId,
        actor: { type: 'agent', id: token.id },
        action: 'connector.execute',
        target_type: 'connector_instance',
        target_id: instance.id,
        outcome: 'success',
        detail: {
          connector_id: connector.id,
          instance_id: instance.id,
          agent_id: agentId,
          alias: 'postgresql',
          provider: 'postgresql',
          mode: 'read',
          rows: 1,
        },
        request_id: 'bench-parts',
      }),
  };
  const timed: string[] = [];
  for (const [part, fn] of Object.entries(parts))
    timed.push(`${part} ${ms((await measureBounded(async () => void (await fn()))).median)}`);
  console.log(`  parts, median: ${timed.join(', ')}`);
}

/** Layer (c): requests per second at CONCURRENCY, Patchbay's execute route against the bare route. */
async function httpThroughput({ agentId, token, patchbayPort, barePort }: Setup): Promise<void> {
  console.log(
    `  ${'HTTP, requests/s'.padEnd(24)}${'bare'.padStart(10)}${'patchbay'.padStart(10)}   ratio (goal >= ${RATIO_GOAL})   median/p95 ms bare | patchbay`,
  );
  const load = startLoadWorker();
  try {
    for (const target of targets) {
      for (const { label, body } of target.statements) {
        const json = JSON.stringify(body);
        const bare = await load.run({ kind: 'http', url: `http://127.0.0.1:${barePort}/${target.providerId}`, headers: {}, body: json });
        const patchbay = await load.run({
          kind: 'http',
          url: `http://127.0.0.1:${patchbayPort}/api/v1/agents/${agentId}/connectors/${target.providerId}/execute`,
          headers: { authorization: `Bearer ${token.token}` },
          body: json,
        });
        console.log(formatHttp({ name: `${target.providerId} ${label}`, bare, patchbay }));
      }
    }
  } finally {
    await load.close();
  }
}

async function silentPeer({ services }: Setup): Promise<void> {
  const timeoutsMs = [1000, 2000];
  const runs = 5;
  console.log(
    `  silent peer: harness.test, connect_timeout_ms ${timeoutsMs.join(' and ')}, ${runs} runs each; median/p95 elapsed, ratio (goal <= ${PEER_GOAL})`,
  );
  for (const result of await measureSilentPeer(services.harness, { timeoutsMs, runs })) {
    const ratio = result.median / result.timeoutMs;
    console.log(
      `    ${`${result.providerId} ${result.timeoutMs} ms`.padEnd(22)}${result.median.toFixed(0).padStart(6)} /${result.p95.toFixed(0).padStart(5)} ms` +
        `   ${ratio.toFixed(3)} ${verdict(ratio <= PEER_GOAL)}   (${[...new Set(result.codes)].join(',')})`,
    );
  }
}

const verdict = (ok: boolean) => (ok ? 'ok' : 'OVER');
const loadAverage = () => `load average ${os.loadavg()[0]?.toFixed(1)} on ${os.availableParallelism()} cores`;
const runs = (row: SequentialRow) => `  (n ${[row.raw, row.harness, row.service].map((r) => r.runs).join('/')})`;
const pair = (r: { median: number; p95: number }) => `${r.median.toFixed(2)}/${r.p95.toFixed(2)}`.padStart(14);
const delta = (layer: { median: number }, raw: { median: number }) => {
  const value = layer.median - raw.median;
  return `${value >= 0 ? '+' : ''}${value.toFixed(2)} ${verdict(value <= DELTA_GOAL_MS)}`.padStart(14);
};

function formatSequential(row: SequentialRow): string {
  return `  ${row.name.padEnd(24)}${pair(row.raw)}${pair(row.harness)}${pair(row.service)}${delta(row.harness, row.raw)}${delta(row.service, row.raw)}${runs(row)}`;
}

function formatHttp(row: HttpRow): string {
  const ratio = row.patchbay.perSecond / row.bare.perSecond;
  const failures = row.bare.failures + row.patchbay.failures;
  return (
    `  ${row.name.padEnd(24)}${row.bare.perSecond.toFixed(0).padStart(10)}${row.patchbay.perSecond.toFixed(0).padStart(10)}` +
    `   ${ratio.toFixed(2)} ${verdict(ratio >= RATIO_GOAL).padEnd(4)}             ` +
    `${row.bare.median.toFixed(2)}/${row.bare.p95.toFixed(2)} | ${row.patchbay.median.toFixed(2)}/${row.patchbay.p95.toFixed(2)}` +
    `  (n ${row.bare.requests}/${row.patchbay.requests})` +
    (failures ? `   ${failures} failed, e.g. ${row.patchbay.failure ?? row.bare.failure}` : '')
  );
}
