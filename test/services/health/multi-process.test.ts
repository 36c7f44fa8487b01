import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { loadConfig } from '../../../src/config.js';
import { generateKey } from '../../../src/crypto/fernet.js';
import { KeyRing } from '../../../src/crypto/key-ring.js';
import { initModels } from '../../../src/db/models/index.js';
import { createSequelize } from '../../../src/db/sequelize.js';
import { createServices } from '../../../src/services/index.js';
import { spawnPatchbay } from '../../support/cli.js';
import { dialects, migratedDatabase } from '../../support/db.js';
import { closedPort, silentListener } from '../../support/listeners.js';
import { pgAt } from './support.js';

/** Services on their own Sequelize instance (their own connections), as another process would have. */
function servicesOn(url: string, keyRing: KeyRing, t: { after(fn: () => Promise<void>): void }) {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent' });
  const sequelize = createSequelize(config.database);
  t.after(() => sequelize.close());
  const models = initModels(sequelize);
  return { config, models, services: createServices({ config, sequelize, models, keyRing, log: pino({ level: 'silent' }) }) };
}

/** An organisation with `count` postgresql connectors (interval one hour), all due now. */
async function dueConnectors(url: string, keyRing: KeyRing, count: number, port: number, t: { after(fn: () => Promise<void>): void }) {
  const { services, models } = servicesOn(url, keyRing, t);
  const org = await services.accounts.createOrganization({ slug: `multi-${Date.now()}` });
  const context = { organizationId: org.id, actor: { type: 'system' as const, id: null } };
  for (let i = 0; i < count; i += 1) {
    await services.connectors.create(context, {
      name: `c${i}`,
      connector_type: 'database',
      provider: 'postgresql',
      config: pgAt(port, { connect_timeout_ms: 300 }),
      health_check_interval_s: 3600,
    });
  }
  await models.Connector.update({ next_check_at: new Date(Date.now() - 1000) }, { where: { organization_id: org.id } });
  return { models, organizationId: org.id };
}

for (const dialect of dialects) {
  describe(`claiming due checks on ${dialect}`, () => {
    it('gives two claimers racing on one database disjoint sets that cover every due connector', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const keyRing = KeyRing.fromKeys([generateKey()]);
      await dueConnectors(db.db.url, keyRing, 120, await closedPort(), t);
      const claimers = [servicesOn(db.db.url, keyRing, t), servicesOn(db.db.url, keyRing, t)];
      const claimed = await Promise.all(
        claimers.map(async ({ services }) => {
          const ids: string[] = [];
          for (;;) {
            const batch = await services.health.claimDue(7);
            if (batch.length === 0) return ids;
            ids.push(...batch.map((check) => check.id));
          }
        }),
      );
      const all = claimed.flat();
      assert.equal(all.length, 120, 'every due connector claimed');
      assert.equal(new Set(all).size, 120, 'none claimed twice');
    });
  });
}

describe('two `patchbay scheduler` processes on one PostgreSQL database', () => {
  it('run each due check exactly once', async (t) => {
    if (!dialects.includes('postgres')) {
      t.skip(`needs PostgreSQL as the app database; DB=${process.env.DB} leaves it out`);
      return;
    }
    const db = await migratedDatabase(t, 'postgres');
    if (!db) return;
    const key = generateKey();
    const count = 60;
    // A target that never answers: each check takes its 300 ms deadline, so both processes are busy together.
    const target = await silentListener(t);
    const { models, organizationId } = await dueConnectors(db.db.url, KeyRing.fromKeys([key]), count, target.port, t);

    const env = { DATABASE_URL: db.db.url, PATCHBAY_ENCRYPTION_KEYS: key, PATCHBAY_HEALTH_CONCURRENCY: '4', LOG_LEVEL: 'warn' };
    const processes = [spawnPatchbay(['scheduler'], env), spawnPatchbay(['scheduler'], env)];
    const stderr = processes.map(() => '');
    processes.forEach((child, i) => child.stderr.on('data', (chunk: Buffer) => (stderr[i] += chunk.toString())));
    const exits = processes.map((child) => once(child, 'exit'));
    t.after(() => processes.forEach((child) => child.exitCode === null && child.kill('SIGKILL')));

    const rows = () => models.ConnectorHealthCheck.count({ where: { organization_id: organizationId } });
    const deadline = Date.now() + 90_000;
    while ((await rows()) < count && Date.now() < deadline) await sleep(250);
    // Anything checked twice would show up now: every connector is due again only in an hour.
    await sleep(1500);
    for (const child of processes) child.kill('SIGTERM');
    const codes = (await Promise.all(exits)).map(([code]) => code as number | null);
    assert.deepEqual(codes, [0, 0], stderr.join('\n'));

    const checks = await models.ConnectorHealthCheck.findAll({ where: { organization_id: organizationId } });
    assert.equal(checks.length, count, stderr.join('\n'));
    assert.equal(new Set(checks.map((check) => check.connector_id)).size, count);
    assert.ok(checks.every((check) => check.source === 'scheduled' && check.error_code === 'timeout'));
  });
});

describe('patchbay serve and the scheduler', () => {
  it('runs scheduled checks in `serve`, and none in `serve --no-scheduler`', async (t) => {
    const db = await migratedDatabase(t, 'sqlite');
    if (!db) return;
    const key = generateKey();
    const { models, organizationId } = await dueConnectors(db.db.url, KeyRing.fromKeys([key]), 3, await closedPort(), t);
    const rows = () => models.ConnectorHealthCheck.count({ where: { organization_id: organizationId } });

    const serve = async (args: string[]) => {
      const port = await closedPort();
      const child = spawnPatchbay(['serve', '--port', String(port), ...args], { DATABASE_URL: db.db.url, PATCHBAY_ENCRYPTION_KEYS: key, LOG_LEVEL: 'warn' });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = once(child, 'exit');
      t.after(() => void (child.exitCode === null && child.kill('SIGKILL')));
      for (let attempt = 0; ; attempt += 1) {
        const up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false);
        if (up) break;
        assert.ok(attempt < 300 && child.exitCode === null, `serve did not come up: ${stderr}`);
        await sleep(100);
      }
      return {
        async stop() {
          child.kill('SIGTERM');
          const [code] = (await exited) as [number | null];
          assert.equal(code, 0, stderr);
        },
      };
    };

    const apiOnly = await serve(['--no-scheduler']);
    await sleep(2000);
    assert.equal(await rows(), 0, 'an API-only process checks nothing');
    await apiOnly.stop();

    const full = await serve([]);
    for (let attempt = 0; attempt < 300 && (await rows()) < 3; attempt += 1) await sleep(100);
    assert.equal(await rows(), 3);
    await full.stop();
  });
});
