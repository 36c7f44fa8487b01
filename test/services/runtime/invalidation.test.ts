import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { build, type TestApp } from '../../support/app.js';
import { dialects } from '../../support/db.js';
import { client, type Reply } from '../../support/http.js';
import { requireServer } from '../../support/servers.js';
import { asUser, inOrganization, installation } from '../../support/contexts.js';

/**
 * The run-time caches (services/runtime/principal-cache.ts) in one process: every change that affects a cached
 * credential or attachment is seen by the very next call. The TTL is set to ten minutes, so nothing here can
 * pass by an entry merely expiring.
 */

const PG_TARGET = { host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' };
const LONG_TTL = { PATCHBAY_CACHE_TTL_MS: '600000', PATCHBAY_RATE_LIMIT_PER_KEY: '100000' };

async function world(t: TestContext, dialect: 'sqlite' | 'postgres') {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const ctx = await build(t, { dialect, env: LONG_TTL });
  if (!ctx) return undefined;
  const { services } = ctx.app;
  const admin = await ctx.user('admin');
  const context = { organizationId: admin.orgId, actor: { type: 'user' as const, id: admin.userId }, role: 'admin' as const };
  const agent = await services.agents.create(inOrganization(admin.orgId, admin.userId), { id: 'agent-1' });
  const token = await services.agents.issueToken(inOrganization(agent.organization_id, admin.userId), agent, {});
  const connector = await services.connectors.create(context, {
    name: 'target',
    connector_type: 'database',
    provider: 'postgresql',
    config: PG_TARGET,
    health_check_interval_s: 0,
  });
  const instance = await services.attachments.attach(context, connector.id, { agent_id: 'agent-1', alias: 'db' });
  const execute = (alias = 'db', credential = token.token): Promise<Reply> =>
    client(ctx.app, credential)('POST', `/agents/agent-1/connectors/${alias}/execute`, { query: 'SELECT 1 AS one' });
  return { ctx, services, admin, context, agent, token, connector, instance, execute };
}

const codeOf = (reply: Reply) => (reply.statusCode < 300 ? 'ok' : (reply.json() as { code: string }).code);

/**
 * Asserts the call succeeds and leaves its answer cached, so that the next assertion sees an invalidation. Notices
 * of the setup's own writes (LISTEN, data_version) may still arrive and empty the cache once: call again until the
 * entry stays.
 */
async function cached(ctx: TestApp, call: () => Promise<Reply>) {
  for (let attempt = 0; ; attempt += 1) {
    assert.equal(codeOf(await call()), 'ok');
    const sizes = ctx.app.services.runtime.sizes;
    if (sizes.tokens + sizes.apiKeys > 0 && (sizes.attachments > 0 || sizes.derived > 0 || sizes.apiKeys > 0)) return;
    assert.ok(attempt < 100, `nothing stays cached: ${JSON.stringify(sizes)}`);
    await sleep(20);
  }
}

for (const dialect of dialects) {
  describe(`run-time caches on ${dialect}: a change is seen by the next call`, () => {
    it('agent tokens: revoked, expired, deleted by a bulk update, their agent deleted', async (t) => {
      const w = await world(t, dialect);
      if (!w) return;
      await cached(w.ctx, () => w.execute());
      await w.services.agents.revokeToken(inOrganization(w.agent.organization_id), w.agent, w.token.id);
      assert.equal(codeOf(await w.execute()), 'unauthenticated', 'revoked');

      const expiring = await w.services.agents.issueToken(inOrganization(w.agent.organization_id), w.agent, {
        expires_at: new Date(Date.now() + 1500).toISOString(),
      });
      await cached(w.ctx, () => w.execute('db', expiring.token));
      await sleep(1600);
      assert.equal(
        codeOf(await w.execute('db', expiring.token)),
        'unauthenticated',
        'expired: checked on every use from the cached row',
      );

      const bulk = await w.services.agents.issueToken(inOrganization(w.agent.organization_id), w.agent, {});
      await cached(w.ctx, () => w.execute('db', bulk.token));
      await w.ctx.app.db.models.AgentToken.update({ revoked_at: new Date() }, { where: { id: bulk.id } });
      assert.equal(codeOf(await w.execute('db', bulk.token)), 'unauthenticated', 'revoked by a model bulk update');

      const last = await w.services.agents.issueToken(inOrganization(w.agent.organization_id), w.agent, {});
      await cached(w.ctx, () => w.execute('db', last.token));
      await w.services.agents.delete(inOrganization(w.admin.orgId), 'agent-1');
      assert.equal(codeOf(await w.execute('db', last.token)), 'unauthenticated', 'agent deleted');
    });

    it('API keys: revoked, expired, role changed, membership removed', async (t) => {
      const w = await world(t, dialect);
      if (!w) return;
      const developer = await w.ctx.user('developer', { org: w.admin.orgSlug });
      const createAgent = (key: string, id: string) => client(w.ctx.app, key)('POST', '/agents', { id });
      await cached(w.ctx, () => client(w.ctx.app, developer.key)('GET', '/agents'));
      assert.equal(codeOf(await createAgent(developer.key, 'by-developer')), 'ok');
      await w.services.accounts.updateMembership(inOrganization(w.admin.orgId), developer.userId, 'member');
      assert.equal(codeOf(await createAgent(developer.key, 'by-member')), 'forbidden', 'demoted to member');

      assert.equal(codeOf(await client(w.ctx.app, developer.key)('GET', '/agents')), 'ok');
      await w.services.accounts.removeMembership(inOrganization(w.admin.orgId), developer.userId);
      assert.equal(codeOf(await client(w.ctx.app, developer.key)('GET', '/agents')), 'not_found', 'no longer a member');

      const other = await w.ctx.user('admin', { org: w.admin.orgSlug });
      assert.equal(codeOf(await client(w.ctx.app, other.key)('GET', '/agents')), 'ok');
      await w.services.accounts.revokeApiKey(installation, (await w.services.accounts.listApiKeys(other.userId))[0]?.id as string);
      assert.equal(codeOf(await client(w.ctx.app, other.key)('GET', '/agents')), 'unauthenticated', 'revoked');

      const expiring = await w.services.accounts.issueApiKey(asUser(w.admin.userId), w.admin.userId, { expiresAt: new Date(Date.now() + 1500) });
      assert.equal(codeOf(await client(w.ctx.app, expiring.key)('GET', '/agents')), 'ok');
      await sleep(1600);
      assert.equal(codeOf(await client(w.ctx.app, expiring.key)('GET', '/agents')), 'unauthenticated', 'expired');
    });

    it('attachments: updated (alias, limits), detached; connectors: disabled, config changed, deleted; tool lists', async (t) => {
      const w = await world(t, dialect);
      if (!w) return;
      const tools = async () =>
        (
          (await client(w.ctx.app, w.token.token)('GET', '/agents/agent-1/tools')).json() as { data: { name: string }[] }
        ).data.map((tool) => tool.name);
      await cached(w.ctx, () => w.execute());
      assert.ok((await tools()).includes('db__query'));

      await w.services.attachments.patch(w.context, w.instance.id, { limits: { max_rows: 1 }, alias: 'renamed' });
      assert.equal(codeOf(await w.execute('db')), 'not_found', 'the old alias is gone');
      assert.equal(codeOf(await w.execute('renamed')), 'ok');
      assert.ok((await tools()).includes('renamed__query'), 'the tool list follows the rename');
      const many = await client(w.ctx.app, w.token.token)('POST', '/agents/agent-1/connectors/renamed/execute', {
        query: 'SELECT 1 UNION ALL SELECT 2',
      });
      assert.equal((many.json() as { truncated: boolean }).truncated, true, 'the new max_rows applies');

      await w.services.connectors.update(w.context, w.connector.id, { enabled: false });
      assert.equal(codeOf(await w.execute('renamed')), 'connector_disabled');
      await w.services.connectors.update(w.context, w.connector.id, { enabled: true });
      assert.equal(codeOf(await w.execute('renamed')), 'ok');

      // The cached decrypted config goes with a config change: a database that does not exist now fails.
      await w.services.connectors.update(w.context, w.connector.id, { config: { database: 'pb_no_such_database' } });
      assert.notEqual(codeOf(await w.execute('renamed')), 'ok', 'the new config is used');
      await w.services.connectors.update(w.context, w.connector.id, { config: { database: 'test' } });
      assert.equal(codeOf(await w.execute('renamed')), 'ok');

      const second = await w.services.connectors.create(w.context, {
        name: 'second',
        connector_type: 'database',
        provider: 'postgresql',
        config: PG_TARGET,
        health_check_interval_s: 0,
      });
      await w.services.attachments.attach(w.context, second.id, { agent_id: 'agent-1', alias: 'other' });
      assert.ok((await tools()).includes('other__query'), 'a new attachment is a new tool at once');
      assert.equal(codeOf(await w.execute('other')), 'ok');
      await w.services.connectors.delete(w.context, second.id, true);
      assert.equal(codeOf(await w.execute('other')), 'not_found', 'connector deleted with its attachment');
      assert.ok(!(await tools()).includes('other__query'));

      await w.services.attachments.detach(w.context, w.instance.id);
      assert.equal(codeOf(await w.execute('renamed')), 'not_found', 'detached');
      assert.deepEqual(await tools(), []);
    });

    it('re-encryption drops the cached attachments (their configs were sealed anew by plain SQL)', async (t) => {
      const w = await world(t, dialect);
      if (!w) return;
      await cached(w.ctx, () => w.execute());
      assert.ok(w.services.runtime.sizes.attachments > 0);
      await w.services.reencrypt.reencrypt();
      assert.equal(w.services.runtime.sizes.attachments, 0);
      assert.equal(codeOf(await w.execute()), 'ok');
    });
  });
}
