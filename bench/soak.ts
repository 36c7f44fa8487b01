/**
 * bench/soak: BENCH_SOAK_CLIENTS concurrent clients (default 500) for BENCH_SOAK_SECONDS (default 60) against one
 * `patchbay serve` process on a fresh PostgreSQL app database, the load coming from this process. Each client has
 * its own admin API key and its own agent token (rate limits are per principal, at the server's default), and
 * loops over a mix of calls on 200 connectors (160 sqlite, 40 redis; 50 agents with 10 attachments each):
 * list (GET /connectors), create (a new sqlite connector), update (a description), test, execute over REST and
 * tools/call over MCP (the official client, one per client, initialised before the measurement).
 * Prints throughput, p50/p99 per kind, failures by code, the server's open sockets and pool gauges before and
 * after (after: once PATCHBAY_POOL_IDLE_MS, 5 s here, and the app database pool's idle time have passed), the
 * highest pool gauges and event loop delay seen during the load, its RSS and heap over time, and its live heap and
 * RSS right after a full collection before and after the load (heap-probe.mjs). RSS over the run follows the heap
 * size V8 picks for the allocation rate (it rose 12 to 35 % from the middle to the last third of runs whose live
 * heap stayed flat), so memory is judged after a full collection.
 * FAIL (exit code 1) when a call failed with any code but rate_limited, when a socket or pooled session is still
 * open after the load, when the live heap grew more than LIVE_HEAP_BOUND_MB or the RSS rose under the load, or when
 * the server does not stop cleanly on SIGTERM.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Sequelize } from 'sequelize';
import { migrateUp } from '../src/db/migrator.js';
import { createSequelize } from '../src/db/sequelize.js';
import { servePatchbay } from '../test/support/cli.js';
import { createTestDatabase } from '../test/support/db.js';
import { redisCommand } from '../test/support/redis.js';
import { benchApp } from './app.js';
import { connectMcp, httpRequest } from './load.js';
import { CallLog, driveClients, httpOutcome, mcpOutcome, testSucceeded, weighted, type Call } from './mix.js';
import { sqliteItemsFile } from './seed.js';
import { summarize } from './stats.js';
import { cpuMs, formatGauges, formatSockets, heapProbeEnv, liveHeapMb, rssMb, serverGauges, socketCounts, type ServerGauges, type SocketCounts } from './server-process.js';

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 60);
const CLIENTS = Number(process.env.BENCH_SOAK_CLIENTS ?? 500);
const CONNECTORS = 200;
const AGENTS = 50;
const ALIASES = 10;
const POOL_IDLE_MS = 5000;
/** The app database pool's idle time (src/db/sequelize.ts), after which its spare connections close. */
const DB_POOL_IDLE_MS = 10_000;
/**
 * Allowed growth of the live heap (what a full collection leaves) from before the load to after it: the caches the
 * load fills (1,000 credentials, 50 agents' attachments and tools) take about 8 MB.
 */
const LIVE_HEAP_BOUND_MB = 16;
/**
 * RSS must be flat under the load: the median of its last third at most this much above the median of its middle
 * third. RSS after a full collection is printed, not bounded: the allocator keeps the pages of the load's peak heap,
 * so it follows the peak, while a leak shows in the live heap and in a rising RSS.
 */
const RSS_FLAT_BOUND = 0.1;
const MIX = [
  ['list', 15],
  ['create', 5],
  ['update', 10],
  ['test', 10],
  ['execute', 30],
  ['mcp', 30],
] as const;
const ALLOWED_CODES = new Set(['rate_limited']);

interface SoakClient {
  apiKey: string;
  token: string;
  agentId: string;
  mcp?: Client;
}

export async function soakBench(): Promise<void> {
  const suffix = randomBytes(4).toString('hex');
  const folder = mkdtempSync(path.join(os.tmpdir(), 'patchbay-soak-'));
  const sqliteRoot = path.join(folder, 'sqlite');
  const redisKey = `bench_soak_${suffix}`;
  const probeFile = path.join(folder, 'heap-probe.json');
  const db = await createTestDatabase('postgres');
  const sequelize = createSequelize(db.settings);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await migrateUp(sequelize);
    mkdirSync(sqliteRoot);
    await sqliteItemsFile(sqliteRoot, 'soak.sqlite', 100);
    await redisCommand(['SET', redisKey, 'soak']);
    cleanups.push(async () => void (await redisCommand(['DEL', redisKey])));

    console.log(`soak: seeding ${CONNECTORS} connectors, ${AGENTS} agents with ${ALIASES} attachments each, ${CLIENTS} users and agent tokens`);
    const seed = await seedSoak(sequelize, db.url);
    const served = await servePatchbay(
      {
        DATABASE_URL: db.url,
        PATCHBAY_ENCRYPTION_KEYS: seed.key,
        PATCHBAY_SQLITE_ROOT: sqliteRoot,
        PATCHBAY_POOL_IDLE_MS: String(POOL_IDLE_MS),
        // 500 clients share one process: its app-database pool is the queue they all wait in.
        PATCHBAY_DB_POOL_MAX: '30',
        ...heapProbeEnv(probeFile),
      },
      folder,
    );
    const stopServer = async () => {
      if (served.child.exitCode === null) served.child.kill('SIGTERM');
      return served.exited;
    };
    cleanups.unshift(async () => void (await stopServer()));
    const pid = served.child.pid!;
    const base = `http://127.0.0.1:${served.port}`;

    // At rest, as after the load: the connections start-up used have left the app database pool.
    await sleep(DB_POOL_IDLE_MS + 1000);
    const socketsBefore = socketCounts(pid, served.port);
    const gaugesBefore = await serverGauges(base);
    const heapBefore = await liveHeapMb(pid, probeFile);
    console.log(`  server pid ${pid}, RSS ${rssMb(pid).toFixed(0)} MB; load average ${os.loadavg()[0]?.toFixed(1)} on ${os.availableParallelism()} cores`);
    console.log(`  before: sockets ${formatSockets(socketsBefore)}`);
    console.log(`          ${formatGauges(gaugesBefore)}`);

    // REST and MCP alike go over this agent, so that destroying it closes every client connection at once.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 * CLIENTS });
    const clients = seed.clients;
    // Initialised 50 at a time, as a fleet of agents would come up, not all in the same millisecond.
    for (let i = 0; i < clients.length; i += 50) {
      await Promise.all(clients.slice(i, i + 50).map(async (client) => void (client.mcp = await connectMcp(`${base}/api/v1/agents/${client.agentId}/mcp`, client.token, agent))));
    }

    const nextKind = weighted(MIX);
    let created = 0;
    let updated = 0;
    const call = (client: SoakClient, method: string, url: string, expected: number, body?: unknown, accept?: (body: unknown) => boolean): Call => async () =>
      httpOutcome(
        await httpRequest(agent, new URL(url, base), {
          method,
          headers: { authorization: `Bearer ${client.apiKey}` },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
        expected,
        accept,
      );
    const next = (index: number): { kind: string; call: Call } => {
      const client = clients[index]!;
      const kind = nextKind();
      const connectorId = seed.connectorIds[Math.floor(Math.random() * CONNECTORS)]!;
      const alias = Math.floor(Math.random() * ALIASES);
      const input = alias % 5 === 0 ? { command: ['GET', redisKey] } : { query: 'SELECT id, name FROM items WHERE id <= 10' };
      switch (kind) {
        case 'list':
          return { kind, call: call(client, 'GET', '/api/v1/connectors?limit=50', 200) };
        case 'create':
          created += 1;
          return {
            kind,
            call: call(client, 'POST', '/api/v1/connectors', 201, {
              name: `soak-new-${index}-${created}`,
              connector_type: 'database',
              provider: 'sqlite',
              config: { path: 'soak.sqlite' },
            }),
          };
        case 'update':
          updated += 1;
          return { kind, call: call(client, 'PUT', `/api/v1/connectors/${connectorId}`, 200, { description: `soak update ${updated}` }) };
        case 'test':
          return { kind, call: call(client, 'POST', `/api/v1/connectors/${connectorId}/test`, 200, undefined, testSucceeded) };
        case 'execute':
          return {
            kind,
            call: async () =>
              httpOutcome(
                await httpRequest(agent, new URL(`/api/v1/agents/${client.agentId}/connectors/c${alias}/execute`, base), {
                  method: 'POST',
                  headers: { authorization: `Bearer ${client.token}` },
                  body: JSON.stringify(input),
                }),
                200,
              ),
          };
        default:
          return { kind, call: () => mcpOutcome(client.mcp!, `c${alias}__${'command' in input ? 'command' : 'query'}`, input) };
      }
    };

    const log = new CallLog();
    const rss: number[] = [];
    const during = { dbInUse: 0, dbWaiting: 0, providerSessions: 0, eventLoopP99Ms: 0 };
    const heap: number[] = [];
    let tick = 0;
    const sampler = setInterval(() => {
      rss.push(rssMb(pid));
      if (tick++ % 5 === 0) {
        serverGauges(base).then(
          (gauges) => {
            heap.push(gauges.heapUsedMb);
            for (const name of Object.keys(during) as (keyof typeof during)[]) during[name] = Math.max(during[name], gauges[name]);
          },
          () => undefined, // a scrape that fails under load is a sample missed, not the benchmark's end
        );
      }
    }, 1000);
    const serverCpuBefore = cpuMs(`/proc/${pid}/stat`);
    const benchCpuBefore = process.cpuUsage();
    const started = performance.now();
    const until = started + SECONDS * 1000;
    console.log(`  ${CLIENTS} clients for ${SECONDS} s; mix ${MIX.map(([kind, weight]) => `${kind} ${weight} %`).join(', ')}`);
    await driveClients(CLIENTS, next, () => performance.now() < until, log);
    const elapsedS = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const serverCpu = (cpuMs(`/proc/${pid}/stat`) - serverCpuBefore) / 1000 / elapsedS;
    const benchCpu = process.cpuUsage(benchCpuBefore);
    log.print(elapsedS);
    console.log(
      `  during (max of a scrape every 5 s): app database pool in use ${during.dbInUse}, waiting ${during.dbWaiting}; ` +
        `pooled connector sessions ${during.providerSessions}; event loop delay p99 ${during.eventLoopP99Ms.toFixed(0)} ms`,
    );
    console.log(
      `  CPU: server ${(serverCpu * 100).toFixed(0)} % of one core, this load generator ${(((benchCpu.user + benchCpu.system) / 1e6 / elapsedS) * 100).toFixed(0)} %; ` +
        `load average ${os.loadavg()[0]?.toFixed(1)}`,
    );

    await Promise.all(clients.map((client) => client.mcp?.close()));
    agent.destroy();
    const settled = await settle(pid, served.port, base, socketsBefore, gaugesBefore);
    console.log(`  after (${settled.waitedS} s idle): sockets ${formatSockets(settled.sockets)}`);
    console.log(`          ${formatGauges(settled.gauges)}`);
    const heapAfter = await liveHeapMb(pid, probeFile);
    console.log(`  server RSS MB, one sample a second, every ${Math.max(1, Math.round(rss.length / 12))} s: ${thin(rss, 12).map((mb) => mb.toFixed(0)).join(' ')}`);
    console.log(`  server heap used MB (garbage included), every 5 s: ${heap.map((mb) => mb.toFixed(0)).join(' ')}`);
    const heapGrowth = heapAfter.heapUsed - heapBefore.heapUsed;
    const rssGrowth = heapAfter.rss / heapBefore.rss - 1;
    const third = Math.floor(rss.length / 3);
    const rssRise = summarize(rss.slice(2 * third)).median / summarize(rss.slice(third, 2 * third)).median - 1;
    console.log(
      `  after a full collection, before -> after the load: live heap ${heapBefore.heapUsed.toFixed(1)} -> ${heapAfter.heapUsed.toFixed(1)} MB ` +
        `(+${heapGrowth.toFixed(1)}, bound ${LIVE_HEAP_BOUND_MB}), external ${heapBefore.external.toFixed(1)} -> ${heapAfter.external.toFixed(1)} MB, ` +
        `RSS ${heapBefore.rss.toFixed(0)} -> ${heapAfter.rss.toFixed(0)} MB (${(rssGrowth * 100).toFixed(1)} %); ` +
        `RSS under load, last third over middle third: ${(rssRise * 100).toFixed(1)} % (bound ${RSS_FLAT_BOUND * 100} %)`,
    );

    const exitCode = await stopServer();
    const failures = [
      ...[...log.errors.entries()].filter(([code]) => !ALLOWED_CODES.has(code)).map(([code, { count }]) => `${count} call(s) failed with ${code}`),
      ...(settled.leaked ? [`still open after the load: ${settled.leaked}`] : []),
      ...(heapGrowth > LIVE_HEAP_BOUND_MB ? [`the live heap grew ${heapGrowth.toFixed(1)} MB`] : []),
      ...(rssRise > RSS_FLAT_BOUND ? [`RSS rose ${(rssRise * 100).toFixed(1)} % over the last third of the load`] : []),
      ...(exitCode === 0 ? [] : [`the server exited with code ${exitCode} on SIGTERM`]),
    ];
    if (failures.length) {
      console.log(`  FAIL: ${failures.join('; ')}`);
      process.exitCode = 1;
    } else {
      console.log(`  PASS: only ${[...ALLOWED_CODES].join(', ')} allowed (${log.errors.get('rate_limited')?.count ?? 0}), nothing left open, memory within its bounds`);
    }
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error('cleanup failed:', error));
    await sequelize.close();
    await db.drop();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The connectors, agents, attachments and credentials of the soak, made through the services of an app in this process. */
async function seedSoak(sequelize: Sequelize, databaseUrl: string) {
  const seeding: (() => Promise<void>)[] = [];
  try {
    const { app, admin, key } = await benchApp(sequelize, databaseUrl, 4, seeding);
    const { accounts, agents, attachments, connectors } = app.services;
    const connectorIds: string[] = [];
    for (let i = 0; i < CONNECTORS; i += 1) {
      const redis = i % 5 === 0;
      const connector = await connectors.create(admin, {
        name: `soak-${i}`,
        connector_type: 'database',
        provider: redis ? 'redis' : 'sqlite',
        config: redis ? { host: '127.0.0.1', port: 6379 } : { path: 'soak.sqlite' },
      });
      connectorIds.push(connector.id);
    }
    // Alias c<j> of agent n is connector 10n + j (mod 200): the redis ones are exactly the aliases c0 and c5.
    const agentIds: string[] = [];
    for (let n = 0; n < AGENTS; n += 1) {
      const agent = await agents.create(admin, { id: `soak-agent-${n}` });
      agentIds.push(agent.agent_id);
      for (let j = 0; j < ALIASES; j += 1) {
        await attachments.attach(admin, connectorIds[(n * ALIASES + j) % CONNECTORS]!, { agent_id: agent.agent_id, alias: `c${j}` });
      }
    }
    const clients: SoakClient[] = [];
    for (let i = 0; i < CLIENTS; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, CLIENTS - i) }, async (_, k) => {
          const index = i + k;
          const member = await accounts.addMember({ organization: 'bench', email: `soak-${index}@example.test`, role: 'admin' });
          const agent = await agents.require(admin.organizationId, agentIds[index % AGENTS]!);
          const token = await agents.issueToken(admin, agent, {});
          return { apiKey: member.apiKey.key, token: token.token, agentId: agent.agent_id };
        }),
      );
      clients.push(...batch);
    }
    return { key, connectorIds, clients };
  } finally {
    for (const cleanup of seeding) await cleanup();
  }
}

/**
 * Waits for the server to let go of what the load opened: accepted connections, connector sessions (after
 * PATCHBAY_POOL_IDLE_MS) and spare app-database connections (after their idle time). Polls once a second for
 * up to both idle times plus 15 s; `leaked` names what is still above its count before the load.
 */
async function settle(pid: number, port: number, base: string, before: SocketCounts, gaugesBefore: ServerGauges) {
  const started = performance.now();
  const deadline = started + POOL_IDLE_MS + DB_POOL_IDLE_MS + 15_000;
  // App-database connections the pool itself holds (idle or in use) are its own, not a leak: the scheduler and the
  // writer keep a few warm. Counted beside them, a socket the pool does not know of is one.
  const unpooled = (sockets: SocketCounts, gauges: ServerGauges) => ({ ...sockets, postgresql: sockets.postgresql - gauges.dbIdle - gauges.dbInUse });
  const baseline = unpooled(before, gaugesBefore);
  for (;;) {
    const sockets = socketCounts(pid, port);
    const gauges = await serverGauges(base);
    const now = unpooled(sockets, gauges);
    const above = (Object.keys(baseline) as (keyof SocketCounts)[])
      .filter((kind) => now[kind] > baseline[kind])
      .map((kind) => `${now[kind] - baseline[kind]} ${kind} socket(s)${kind === 'postgresql' ? ' outside the pool' : ''}`);
    if (gauges.providerSessions > gaugesBefore.providerSessions) above.push(`${gauges.providerSessions - gaugesBefore.providerSessions} connector session(s)`);
    const waitedS = Math.round((performance.now() - started) / 1000);
    if (above.length === 0 || performance.now() > deadline) return { sockets, gauges, waitedS, leaked: above.join(', ') };
    await sleep(1000);
  }
}

/** About `count` samples spread evenly over the series, the last one included. */
function thin(samples: number[], count: number): number[] {
  const step = Math.max(1, Math.round(samples.length / count));
  return samples.filter((_, i) => i % step === 0 || i === samples.length - 1);
}
