import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { initModels } from '../../src/db/models/index.js';
import { AccountService } from '../../src/services/account-service.js';
import { PatchbayError } from '../../src/errors.js';
import { dialects, migratedDatabase } from '../support/db.js';

const rejectsWith = (code: string) => (error: unknown) => {
  assert.ok(error instanceof PatchbayError, `expected PatchbayError, got ${String(error)}`);
  assert.equal(error.code, code);
  return true;
};

for (const dialect of dialects) {
  describe(`accounts on ${dialect}`, () => {
    it('creates organisations with unique slugs', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const accounts = new AccountService(initModels(db.sequelize), db.sequelize);
      const org = await accounts.createOrganization({ slug: 'acme', name: 'Acme' });
      assert.equal(org.slug, 'acme');
      assert.equal((await accounts.findOrganization(org.id))?.slug, 'acme');
      await assert.rejects(accounts.createOrganization({ slug: 'acme' }), rejectsWith('conflict'));
      await assert.rejects(accounts.createOrganization({ slug: 'Not A Slug' }), rejectsWith('validation_failed'));
    });

    it('adds members, stores only the SHA-256 of API keys, and authenticates them', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const models = initModels(db.sequelize);
      const accounts = new AccountService(models, db.sequelize);
      await accounts.createOrganization({ slug: 'one' });
      await accounts.createOrganization({ slug: 'two' });
      const first = await accounts.addMember({ organization: 'one', email: 'Dev@Example.test', role: 'developer' });
      assert.equal(first.user.email, 'dev@example.test');
      assert.match(first.apiKey.key, /^pbk_[A-Za-z0-9_-]{43}$/);
      assert.equal(first.apiKey.prefix, first.apiKey.key.slice(0, 12));

      const stored = await models.ApiKey.findByPk(first.apiKey.id);
      assert.equal(stored?.key_hash, createHash('sha256').update(first.apiKey.key).digest('hex'));
      const everything = JSON.stringify(await models.ApiKey.findAll({ raw: true }));
      assert.ok(!everything.includes(first.apiKey.key), 'the key itself is never stored');

      // An existing email gains a membership and a new key.
      const second = await accounts.addMember({ organization: 'two', email: 'dev@example.test', role: 'admin' });
      assert.equal(second.created, false);
      assert.equal(second.user.id, first.user.id);
      assert.notEqual(second.apiKey.key, first.apiKey.key);
      await assert.rejects(accounts.addMember({ organization: 'two', email: 'dev@example.test', role: 'member' }), rejectsWith('conflict'));
      await assert.rejects(accounts.addMember({ organization: 'one', email: 'x@example.test', role: 'owner' }), rejectsWith('validation_failed'));
      await assert.rejects(accounts.addMember({ organization: 'nope', email: 'x@example.test', role: 'member' }), rejectsWith('not_found'));

      const principal = await accounts.authenticate(first.apiKey.key);
      assert.equal(principal?.user.id, first.user.id);
      assert.deepEqual(principal?.memberships.map((m) => [m.organization.slug, m.role]).sort(), [
        ['one', 'developer'],
        ['two', 'admin'],
      ]);
      assert.ok((await models.ApiKey.findByPk(first.apiKey.id))?.last_used_at, 'last use is recorded');

      assert.equal(await accounts.authenticate('pbk_' + 'A'.repeat(43)), null);
      assert.equal(await accounts.authenticate('not-a-key'), null);
      await accounts.revokeApiKey(first.apiKey.id);
      assert.equal(await accounts.authenticate(first.apiKey.key), null);
      assert.ok(await accounts.authenticate(second.apiKey.key));

      const expiring = await accounts.issueApiKey(first.user.id, { expiresAt: new Date(Date.now() + 60_000) });
      assert.ok(await accounts.authenticate(expiring.key));
      await models.ApiKey.update({ expires_at: new Date(Date.now() - 1000) }, { where: { id: expiring.id } });
      assert.equal(await accounts.authenticate(expiring.key), null);
    });

    it('keeps at least one admin per organisation', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const accounts = new AccountService(initModels(db.sequelize), db.sequelize);
      await accounts.createOrganization({ slug: 'solo' });
      const admin = await accounts.addMember({ organization: 'solo', email: 'a@example.test', role: 'admin' });
      const org = await accounts.requireOrganization('solo');
      await assert.rejects(accounts.updateMembership(org.id, admin.user.id, 'member'), rejectsWith('conflict'));
      await assert.rejects(accounts.removeMembership(org.id, admin.user.id), rejectsWith('conflict'));
      await accounts.addMember({ organization: 'solo', email: 'b@example.test', role: 'admin' });
      await accounts.updateMembership(org.id, admin.user.id, 'member');
      assert.deepEqual((await accounts.listMembers(org.id)).map((m) => m.role).sort(), ['admin', 'member']);
      await accounts.removeMembership(org.id, admin.user.id);
      assert.equal((await accounts.listMembers(org.id)).length, 1);
    });

    it('bootstraps organisation default with an operator admin once', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const accounts = new AccountService(initModels(db.sequelize), db.sequelize);
      const first = await accounts.bootstrap();
      assert.ok(first);
      assert.equal(first.organization.slug, 'default');
      const principal = await accounts.authenticate(first.apiKey.key);
      assert.equal(principal?.user.is_operator, true);
      assert.equal(principal?.memberships[0]?.role, 'admin');
      assert.equal(await accounts.bootstrap(), undefined);
    });
  });
}
