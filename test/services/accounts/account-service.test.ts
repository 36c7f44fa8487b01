import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { initModels } from '../../../src/db/models/index.js';
import { AccountService } from '../../../src/services/accounts/account-service.js';
import { PatchbayError } from '../../../src/errors.js';
import { dialects, migratedDatabase } from '../../support/db.js';
import { asUser, inOrganization, installation } from '../../support/contexts.js';

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
      await accounts.revokeApiKey(installation, first.apiKey.id);
      assert.equal(await accounts.authenticate(first.apiKey.key), null);
      assert.ok(await accounts.authenticate(second.apiKey.key));

      const expiring = await accounts.issueApiKey(asUser(first.user.id), first.user.id, { expiresAt: new Date(Date.now() + 60_000) });
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
      await assert.rejects(accounts.updateMembership(inOrganization(org.id), admin.user.id, 'member'), rejectsWith('conflict'));
      await assert.rejects(accounts.removeMembership(inOrganization(org.id), admin.user.id), rejectsWith('conflict'));
      await accounts.addMember({ organization: 'solo', email: 'b@example.test', role: 'admin' });
      await accounts.updateMembership(inOrganization(org.id), admin.user.id, 'member');
      assert.deepEqual((await accounts.listMembers(org.id)).map((m) => m.role).sort(), ['admin', 'member']);
      await accounts.removeMembership(inOrganization(org.id), admin.user.id);
      assert.equal((await accounts.listMembers(org.id)).length, 1);
    });

    it('lists memberships in the order joined, the first being the default organisation', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const accounts = new AccountService(initModels(db.sequelize), db.sequelize);
      // Slugs in the reverse of the joining order, so that no other order passes by chance.
      for (const slug of ['zulu', 'mike', 'alpha']) await accounts.createOrganization({ slug });
      const first = await accounts.addMember({ organization: 'zulu', email: 'u@example.test', role: 'member' });
      const mike = await accounts.requireOrganization('mike');
      const alpha = await accounts.requireOrganization('alpha');
      const invited = await accounts.invite(inOrganization(mike.id), { email: 'U@example.test', role: 'developer' });
      await accounts.acceptInvitation(asUser(first.user.id), first.user, invited.id);
      await accounts.addMember({ organization: 'alpha', email: 'u@example.test', role: 'admin' });
      const principal = await accounts.authenticate(first.apiKey.key);
      assert.deepEqual(principal?.memberships.map((m) => m.organization.slug), ['zulu', 'mike', 'alpha']);
      // Leaving the first makes the next one joined the default.
      await accounts.addMember({ organization: 'zulu', email: 'keeper@example.test', role: 'admin' });
      await accounts.removeMembership(inOrganization(principal?.memberships[0]?.organization.id ?? ''), first.user.id);
      assert.deepEqual((await accounts.authenticate(first.apiKey.key))?.memberships.map((m) => m.organization.id), [mike.id, alpha.id]);
    });

    it('lets one of many concurrent invitations, redeems and removals win, and never errs', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const models = initModels(db.sequelize);
      const accounts = new AccountService(models, db.sequelize);
      const org = await accounts.createOrganization({ slug: 'busy' });
      const settle = async <T>(work: Promise<T>[]) => {
        const results = await Promise.allSettled(work);
        const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : r.reason instanceof PatchbayError ? r.reason.code : String(r.reason)));
        return { results, codes: codes.sort() };
      };

      // The same email ten times at once: one invitation, nine conflicts (the check, or the unique index).
      const invites = await settle(Array.from({ length: 10 }, () => accounts.invite(inOrganization(org.id), { email: 'same@example.test', role: 'member' })));
      assert.deepEqual(invites.codes, ['conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'conflict', 'ok']);
      const created = invites.results.find((r) => r.status === 'fulfilled');
      assert.ok(created?.status === 'fulfilled');
      assert.equal(created.value.token.slice(0, 4), 'pbi_');

      // One token redeemed eight times at once: one account, seven "no such invitation".
      const redeems = await settle(Array.from({ length: 8 }, () => accounts.redeemInvitation({}, { token: created.value.token })));
      assert.deepEqual(redeems.codes, ['not_found', 'not_found', 'not_found', 'not_found', 'not_found', 'not_found', 'not_found', 'ok']);
      assert.equal(await models.User.count({ where: { email: 'same@example.test' } }), 1);
      assert.equal(await models.ApiKey.count(), 1);

      // Two admins removing each other at once: one goes, the other stays.
      const a = await accounts.addMember({ organization: 'busy', email: 'a@example.test', role: 'admin' });
      const b = await accounts.addMember({ organization: 'busy', email: 'b@example.test', role: 'admin' });
      const removals = await settle([accounts.removeMembership(inOrganization(org.id), a.user.id), accounts.removeMembership(inOrganization(org.id), b.user.id)]);
      assert.deepEqual(removals.codes, ['conflict', 'ok']);
      assert.equal(await models.Membership.count({ where: { organization_id: org.id, role: 'admin' } }), 1);

      // Revoking an API key names its owner (for the audit log).
      assert.equal((await accounts.revokeApiKey(installation, a.apiKey.id)).user_id, a.user.id);
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
