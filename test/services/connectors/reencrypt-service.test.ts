import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generateKey, keyId } from '../../../src/crypto/fernet.js';
import { KeyRing } from '../../../src/crypto/key-ring.js';
import { initModels, type Models } from '../../../src/db/models/index.js';
import { newId } from '../../../src/db/ids.js';
import { ReencryptService } from '../../../src/services/connectors/reencrypt-service.js';
import { lastLine, patchbay } from '../../support/cli.js';
import { dialects, migratedDatabase } from '../../support/db.js';

async function seedConnectors(models: Models, ring: KeyRing, count: number) {
  const org = await models.Organization.create({ slug: `o-${newId().slice(0, 8)}`, name: 'o' });
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const id = newId();
    const sealed = ring.seal({ organization_id: org.id, connector_id: id }, { host: 'db', password: `pw-${i}` });
    await models.Connector.create({
      id,
      organization_id: org.id,
      name: `c${i}`,
      connector_type: 'database',
      provider: 'postgresql',
      config_encrypted: sealed.token,
      key_id: sealed.key_id,
      last_tested_at: null,
      last_test_result: null,
      last_error: null,
      created_by: null,
      description: null,
    });
    ids.push(id);
  }
  return { org, ids };
}

for (const dialect of dialects) {
  describe(`key rotation on ${dialect}`, () => {
    it('re-encrypts under the new primary key in batches, without bumping versions, so the old key can go', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const models = initModels(db.sequelize);
      const a = generateKey();
      const b = generateKey();
      const { org, ids } = await seedConnectors(models, KeyRing.fromKeys([a]), 7);

      const rotated = KeyRing.fromKeys([b, a]);
      const service = new ReencryptService(db.sequelize, rotated);
      assert.deepEqual(
        (await service.status()).map((s) => [s.key_id, s.count, s.primary]).sort(),
        [
          [keyId(a), 7, false],
          [keyId(b), 0, true],
        ].sort(),
      );
      const batches: number[] = [];
      const report = await service.reencrypt({ batchSize: 3, onBatch: (done) => batches.push(done) });
      assert.equal(report.reencrypted, 7);
      assert.deepEqual(report.failed, []);
      assert.ok(batches.length >= 3, 'worked in batches');
      assert.equal((await service.reencrypt()).reencrypted, 0, 'resumable: nothing left the second time');

      const onlyB = KeyRing.fromKeys([b]);
      for (const [i, id] of ids.entries()) {
        const row = await models.Connector.findByPk(id);
        assert.ok(row);
        assert.equal(row.key_id, keyId(b));
        assert.equal(row.version, 1, 'the version is not bumped');
        assert.deepEqual(onlyB.open({ organization_id: org.id, connector_id: id }, row.config_encrypted, row.key_id), { host: 'db', password: `pw-${i}` });
      }
      // A ciphertext copied to another row does not open there.
      const [first, second] = await models.Connector.findAll({ where: { id: ids.slice(0, 2) } });
      assert.ok(first && second);
      assert.throws(() => onlyB.open({ organization_id: org.id, connector_id: second.id }, first.config_encrypted, first.key_id));
    });

    it('reports a row no key can open and re-encrypts the others', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const models = initModels(db.sequelize);
      const a = generateKey();
      const stranger = generateKey();
      const { ids } = await seedConnectors(models, KeyRing.fromKeys([a]), 2);
      await seedConnectors(models, KeyRing.fromKeys([stranger]), 1);
      const primary = generateKey();
      const report = await new ReencryptService(db.sequelize, KeyRing.fromKeys([primary, a])).reencrypt();
      assert.equal(report.reencrypted, 2);
      assert.equal(report.failed.length, 1, 'the row under an unknown key is reported, not lost');
      assert.doesNotMatch(report.failed[0]?.reason ?? '', /pw-/);
      for (const id of ids) assert.equal((await models.Connector.findByPk(id))?.key_id, keyId(primary));
    });
  });
}

describe('patchbay reencrypt', () => {
  it('rotates end to end through the CLI', async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-rotate-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const a = generateKey();
    const b = generateKey();
    const database = `sqlite:${path.join(dir, 'db.sqlite')}`;
    assert.equal(patchbay(['migrate'], { DATABASE_URL: database }).code, 0);
    // Seed through the library, under key A.
    const { createSequelize } = await import('../../../src/db/sequelize.js');
    const { parseDatabaseUrl } = await import('../../../src/config.js');
    const sequelize = createSequelize(parseDatabaseUrl(database));
    await seedConnectors(initModels(sequelize), KeyRing.fromKeys([a]), 3);
    await sequelize.close();

    const run = patchbay(['reencrypt', '--batch-size', '2'], { DATABASE_URL: database, PATCHBAY_ENCRYPTION_KEYS: `${b},${a}` });
    assert.equal(run.code, 0, run.stderr);
    assert.match(lastLine(run.stdout), new RegExp(`re-encrypted 3 value\\(s\\) under key ${keyId(b)}`));
    const status = patchbay(['encryption-keys', 'status'], { DATABASE_URL: database, PATCHBAY_ENCRYPTION_KEYS: b });
    assert.match(status.stdout, new RegExp(`^${keyId(b)}\\t3\\tprimary$`, 'm'));
    assert.doesNotMatch(status.stdout, new RegExp(keyId(a)));
  });
});
