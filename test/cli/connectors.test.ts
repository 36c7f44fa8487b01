import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { generateKey } from '../../src/crypto/fernet.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { initModels } from '../../src/db/models/index.js';
import { createServices } from '../../src/services/index.js';
import { pgAt } from '../services/health/support.js';
import { patchbay } from '../support/cli.js';
import { migratedDatabase } from '../support/db.js';
import { closedPort } from '../support/listeners.js';
import { requireServer } from '../support/servers.js';

describe('patchbay connectors', () => {
  it('lists connectors one per line, and tests them one line each, exiting 1 when any test fails', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const db = await migratedDatabase(t, 'sqlite');
    if (!db) return;
    const key = generateKey();
    const models = initModels(db.sequelize);
    const services = createServices({
      config: loadConfig({ DATABASE_URL: db.db.url }),
      sequelize: db.sequelize,
      models,
      keyRing: KeyRing.fromKeys([key]),
      log: pino({ level: 'silent' }),
    });
    const org = await services.accounts.createOrganization({ slug: 'cli-org' });
    const context = { organizationId: org.id, actor: { type: 'system' as const, id: null } };
    const create = (name: string, config: Record<string, unknown>, enabled = true) =>
      services.connectors.create(context, { name, connector_type: 'database', provider: 'postgresql', config, enabled });
    const good = await create('good', pgAt(5432));
    const bad = await create('bad', pgAt(await closedPort(), { password: 'cli-canary-password' }));
    const off = await create('off', pgAt(5432), false);
    const env = { DATABASE_URL: db.db.url, PATCHBAY_ENCRYPTION_KEYS: key };

    const list = patchbay(['connectors', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    const listed = list.stdout.trim().split('\n').map((line) => line.split('\t'));
    assert.deepEqual(listed.map(([id, slug, name, , status]) => [id, slug, name, status]), [
      [good.id, 'cli-org', 'good', 'untested'],
      [bad.id, 'cli-org', 'bad', 'untested'],
      [off.id, 'cli-org', 'off', 'disabled'],
    ]);

    const all = patchbay(['connectors', 'test', '--all', '--org', 'cli-org'], env);
    assert.equal(all.code, 1, all.stderr);
    const lines = all.stdout.trim().split('\n');
    assert.equal(lines.length, 2, 'one line per enabled connector');
    assert.match(lines[0] ?? '', new RegExp(`^${good.id}\tgood\tpostgresql\tok\t\\d+ ms$`));
    assert.match(lines[1] ?? '', new RegExp(`^${bad.id}\tbad\tpostgresql\tfailed\tconnection_refused: `));
    assert.ok(!all.stdout.includes('cli-canary-password') && !all.stderr.includes('cli-canary-password'));
    assert.equal((await models.Connector.findByPk(good.id))?.status, 'healthy');
    assert.equal((await models.Connector.findByPk(bad.id))?.status, 'failing');
    assert.equal(await models.AuditEvent.count({ where: { action: 'connector.test', actor_type: 'system' } }), 2);

    const one = patchbay(['connectors', 'test', good.id], env);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout.trim().split('\n').length, 1);

    const nothing = patchbay(['connectors', 'test'], env);
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr.trim(), /^error: name connector ids, or use --all$/);
  });
});
