/**
 * bench/mcp: PostgreSQL `SELECT 1` through an agent's attachment at concurrency 16 for BENCH_SECONDS each, three
 * ways in one run: a bare Fastify route with the same driver and pool size; Patchbay's REST run-time path
 * (POST …/connectors/{alias}/execute); and Patchbay's MCP endpoint, `tools/call` through the official MCP client
 * (one connected client per concurrent caller, initialised before the measurement). With SQLite and with
 * PostgreSQL as the app database (BENCH_APP_DB narrows it).
 * Goal: the MCP path costs at most 1.5x the REST path per call (REST throughput / MCP throughput <= 1.5). Beside
 * it, the server's own CPU time per call: the official MCP client in the load worker costs several times a plain
 * HTTP POST and shares the cores, which throughput alone does not tell apart from the server's cost.
 */
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import Fastify from 'fastify';
import pg from 'pg';
import { migrateUp } from '../src/db/migrator.js';
import { createSequelize } from '../src/db/sequelize.js';
import { createTestDatabase, type Dialect } from '../test/support/db.js';
import { benchApp } from './app.js';
import { CONCURRENCY, SECONDS, startLoadWorker, type LoadReport } from './load.js';

const POOL_MAX = 4;
const MCP_GOAL = 1.5;
const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const APP_DATABASES = (process.env.BENCH_APP_DB ?? 'sqlite postgres')
  .split(/[\s,]+/)
  .filter((d): d is Dialect => d === 'sqlite' || d === 'postgres');

export async function mcpBench(): Promise<void> {
  console.log(
    `mcp: PostgreSQL SELECT 1 at concurrency ${CONCURRENCY}, ${SECONDS} s per measurement, pools of ${POOL_MAX}; ` +
      `load average ${os.loadavg()[0]?.toFixed(1)} on ${os.availableParallelism()} cores`,
  );
  console.log(
    `  ${'app database'.padEnd(12)}${'bare/s'.padStart(9)}${'rest/s'.padStart(9)}${'mcp/s'.padStart(9)}   rest/bare  mcp/bare  rest/mcp (goal <= ${MCP_GOAL})   median ms bare | rest | mcp` +
      '   server CPU ms/call bare | rest | mcp, mcp/rest',
  );
  for (const dialect of APP_DATABASES) await onAppDatabase(dialect);
}

async function onAppDatabase(dialect: Dialect): Promise<void> {
  const db = await createTestDatabase(dialect);
  const sequelize = createSequelize(db.settings);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await migrateUp(sequelize);
    const { app, admin, agent, token } = await benchApp(sequelize, db.url, POOL_MAX, cleanups);
    const { attachments, connectors } = app.services;
    const connector = await connectors.create(admin, {
      name: 'bench-postgresql',
      connector_type: 'database',
      provider: 'postgresql',
      config: { host: PG.host, port: PG.port, username: PG.user, database: PG.database },
    });
    await attachments.attach(admin, connector.id, { agent_id: agent.agent_id, alias: 'pg' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/api/v1/agents/${agent.agent_id}`;

    const pool = new pg.Pool({ ...PG, max: POOL_MAX });
    cleanups.unshift(() => pool.end());
    const bareApp = Fastify();
    cleanups.unshift(() => bareApp.close());
    bareApp.post('/pg', async (request) => ({
      rows: (await pool.query(String((request.body as { query: string }).query))).rows,
    }));
    await bareApp.listen({ port: 0, host: '127.0.0.1' });
    const barePort = (bareApp.server.address() as AddressInfo).port;

    const load = startLoadWorker();
    cleanups.unshift(() => load.close());
    const body = JSON.stringify({ query: 'SELECT 1' });
    const bare = await load.run({ kind: 'http', url: `http://127.0.0.1:${barePort}/pg`, headers: {}, body });
    const rest = await load.run({
      kind: 'http',
      url: `${base}/connectors/pg/execute`,
      headers: { authorization: `Bearer ${token.token}` },
      body,
    });
    const mcp = await load.run({
      kind: 'mcp',
      url: `${base}/mcp`,
      token: token.token,
      tool: 'pg__query',
      args: { query: 'SELECT 1' },
    });
    console.log(format(dialect, bare, rest, mcp));
  } finally {
    for (const cleanup of cleanups) await cleanup().catch((error: unknown) => console.error('cleanup failed:', error));
    await sequelize.close();
    await db.drop();
  }
}

function format(dialect: Dialect, bare: LoadReport, rest: LoadReport, mcp: LoadReport): string {
  const restPerMcp = rest.perSecond / mcp.perSecond;
  const failures = bare.failures + rest.failures + mcp.failures;
  return (
    `  ${dialect.padEnd(12)}${[bare, rest, mcp].map((r) => r.perSecond.toFixed(0).padStart(9)).join('')}` +
    `   ${(rest.perSecond / bare.perSecond).toFixed(2).padStart(9)} ${(mcp.perSecond / bare.perSecond).toFixed(2).padStart(9)}` +
    `  ${restPerMcp.toFixed(2).padStart(8)} ${restPerMcp <= MCP_GOAL ? 'ok  ' : 'OVER'}             ` +
    `${[bare, rest, mcp].map((r) => r.median.toFixed(2)).join(' | ')}  (n ${[bare, rest, mcp].map((r) => r.requests).join('/')})` +
    `   ${[bare, rest, mcp].map((r) => r.serverCpuMs.toFixed(2)).join(' | ')}, ${(mcp.serverCpuMs / rest.serverCpuMs).toFixed(2)}` +
    (failures ? `   ${failures} failed, e.g. ${mcp.failure ?? rest.failure ?? bare.failure}` : '')
  );
}
