/**
 * bench/health-scale: 10,000 connectors (BENCH_HEALTH_CONNECTORS) on PostgreSQL, each a rest connector to a local
 * HTTP listener, checked every minute by one scheduler process with the default concurrency (8). After one
 * interval of warm-up (first due times are spread over it), measures for BENCH_HEALTH_SECONDS (default 120):
 * scheduler lag (how late each check is claimed after its due time) p50/p95/max, the scheduler process's RSS
 * (max of one sample a second) and CPU. Goals: lag p95 <= 2 s, RSS < 200 MB.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKey } from '../src/crypto/fernet.js';
import { KeyRing } from '../src/crypto/key-ring.js';
import { migrateUp } from '../src/db/migrator.js';
import { initModels } from '../src/db/models/index.js';
import { createSequelize } from '../src/db/sequelize.js';
import { createTestDatabase } from '../test/support/db.js';
import type { WorkerReport } from './health-scale-worker.js';
import { insertConnectors } from './seed.js';
import { percentile } from './stats.js';

const COUNT = Number(process.env.BENCH_HEALTH_CONNECTORS ?? 10_000);
const INTERVAL_S = 60;
const MEASURE_S = Number(process.env.BENCH_HEALTH_SECONDS ?? 120);

export async function healthScaleBench(): Promise<void> {
  let requests = 0;
  const listener = http.createServer((_request, response) => {
    requests += 1;
    response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;

  const db = await createTestDatabase('postgres');
  const sequelize = createSequelize(db.settings);
  const key = generateKey();
  try {
    await migrateUp(sequelize);
    const models = initModels(sequelize);
    const org = await models.Organization.create({ slug: 'bench', name: 'bench' });
    await insertConnectors(models, KeyRing.fromKeys([key]), org.id, COUNT, (i) => ({
      name: `connector-${i}`,
      connector_type: 'api',
      provider: 'rest',
      config: { base_url: `http://127.0.0.1:${port}`, health_path: '/health' },
      health_check_interval_s: INTERVAL_S,
    }));

    const worker = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(import.meta.dirname, 'health-scale-worker.ts')], {
      env: { ...process.env, DATABASE_URL: db.url, PATCHBAY_ENCRYPTION_KEYS: key, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const reported = new Promise<WorkerReport>((resolve) => worker.once('message', (message) => resolve(message as WorkerReport)));
    console.log(`health-scale: ${COUNT} rest connectors, interval ${INTERVAL_S} s; warming up for one interval, then measuring ${MEASURE_S} s`);
    await sleep(INTERVAL_S * 1000);
    const before = requests;
    worker.send('measure');
    await sleep(MEASURE_S * 1000);
    worker.send('report');
    const report = await reported;
    const served = requests - before;
    await exited;

    const lags = [...report.lagsMs].sort((a, b) => a - b);
    const rssMb = Math.max(...report.rssSamples) / 1024 / 1024;
    const p95 = percentile(lags, 95);
    const expected = (COUNT / INTERVAL_S) * report.wallS;
    console.log(`  checks run ${lags.length} in ${report.wallS.toFixed(0)} s (expected ~${expected.toFixed(0)}), listener answered ${served}`);
    console.log(
      `  scheduler lag  p50 ${(percentile(lags, 50) / 1000).toFixed(2)} s  p95 ${(p95 / 1000).toFixed(2)} s  max ${((lags.at(-1) ?? 0) / 1000).toFixed(2)} s  (goal p95 <= 2 s: ${p95 <= 2000 ? 'ok' : 'OVER GOAL'})`,
    );
    console.log(`  scheduler process  RSS max ${rssMb.toFixed(0)} MB (goal < 200 MB: ${rssMb < 200 ? 'ok' : 'OVER GOAL'})  CPU ${report.cpuPercent.toFixed(0)} % of one core`);
  } finally {
    listener.close();
    await sequelize.close();
    await db.drop();
  }
}
