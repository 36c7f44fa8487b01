/**
 * bench/list-connectors: 100,000 connectors in one organisation, on SQLite and on PostgreSQL; median and p95 of
 * GET /api/v1/connectors?limit=50 for the first page, a middle page reached by cursor, and a filtered page.
 * Goal: p95 <= 20 ms per page on both.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { generateKey } from '../src/crypto/fernet.js';
import { KeyRing } from '../src/crypto/key-ring.js';
import { newId } from '../src/db/ids.js';
import { migrateUp } from '../src/db/migrator.js';
import { initModels } from '../src/db/models/index.js';
import { createSequelize } from '../src/db/sequelize.js';
import { AccountService } from '../src/services/accounts/account-service.js';
import { createTestDatabase, type Dialect } from '../test/support/db.js';
import { measure, ms } from './stats.js';

const COUNT = Number(process.env.BENCH_CONNECTORS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 200);
const providers = [
  ['database', 'postgresql', { host: '127.0.0.1', database: 'db', username: 'u', password: 'p4ssw0rd' }],
  ['database', 'redis', { host: '127.0.0.1' }],
  ['api', 'rest', { base_url: 'https://api.example.test' }],
  ['storage', 's3', { bucket: 'b' }],
] as const;

async function run(dialect: Dialect) {
  const db = await createTestDatabase(dialect);
  const sequelize = createSequelize(db.settings);
  try {
    await migrateUp(sequelize);
    const models = initModels(sequelize);
    const keyRing = KeyRing.fromKeys([generateKey()]);
    const accounts = new AccountService(models, sequelize);
    await accounts.createOrganization({ slug: 'bench' });
    const { apiKey, organization } = await accounts.addMember({ organization: 'bench', email: 'bench@example.test', role: 'member' });

    const started = Date.now();
    const base = Date.now() - COUNT * 1000;
    for (let offset = 0; offset < COUNT; offset += 2000) {
      const rows = [];
      for (let i = offset; i < Math.min(COUNT, offset + 2000); i += 1) {
        const [type, provider, config] = providers[i % providers.length]!;
        const id = newId();
        const sealed = keyRing.seal({ organization_id: organization.id, connector_id: id }, config);
        const at = new Date(base + i * 1000);
        rows.push({
          id,
          organization_id: organization.id,
          name: `connector-${i}`,
          connector_type: type,
          provider,
          config_encrypted: sealed.token,
          key_id: sealed.key_id,
          status: 'untested' as const,
          last_tested_at: null,
          last_test_result: null,
          last_error: null,
          created_by: null,
          description: null,
          created_at: at,
          updated_at: at,
        });
      }
      await models.Connector.bulkCreate(rows, { validate: false });
    }
    if (dialect === 'postgres') await sequelize.query('ANALYZE pb_connectors');
    const seededS = ((Date.now() - started) / 1000).toFixed(1);

    const config = loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', PATCHBAY_RATE_LIMIT_PER_KEY: '100000000' });
    const app = await buildApp({ config, keyRing, sequelize, logger: pino({ level: 'silent' }) });
    const headers = { authorization: `Bearer ${apiKey.key}` };
    const get = async (url: string) => {
      const response = await app.inject({ method: 'GET', url, headers });
      assert.equal(response.statusCode, 200, response.body);
      return response.json() as { data: unknown[]; next_cursor: string | null };
    };

    // A cursor from the middle of the list: walk there once with large pages.
    let cursor: string | null = null;
    for (let walked = 0; walked < COUNT / 2; walked += 200) cursor = (await get(`/api/v1/connectors?limit=200${cursor ? `&cursor=${cursor}` : ''}`)).next_cursor;
    assert.ok(cursor);
    const first = await measure(RUNS, async () => void (await get('/api/v1/connectors?limit=50')));
    const middle = await measure(RUNS, async () => void (await get(`/api/v1/connectors?limit=50&cursor=${cursor}`)));
    const filtered = await measure(RUNS, async () => void (await get('/api/v1/connectors?limit=50&connector_type=api')));
    await app.close();
    const verdict = (p95: number) => (p95 <= 20 ? 'ok' : 'OVER GOAL');
    console.log(`list-connectors ${dialect}: ${COUNT} connectors seeded in ${seededS} s, ${RUNS} requests per page`);
    for (const [name, r] of [['first page', first], ['middle page (cursor)', middle], ['filtered page', filtered]] as const) {
      console.log(`  ${name.padEnd(22)} median ${ms(r.median)}  p95 ${ms(r.p95)}  (goal p95 <= 20 ms: ${verdict(r.p95)})`);
    }
  } finally {
    await sequelize.close();
    await db.drop();
  }
}

export async function listConnectorsBench(): Promise<void> {
  for (const dialect of ['sqlite', 'postgres'] as const) await run(dialect);
}
