import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build } from '../support/app.js';
import { client, ok, problem } from '../support/http.js';

interface AuditEvent {
  id: string;
  organization_id: string;
  actor_type: string;
  actor_id: string;
  action: string;
  target_type: string;
  target_id: string;
  outcome: string;
  request_id: string;
  created_at: string;
}
interface Page {
  data: AuditEvent[];
  next_cursor: string | null;
}

describe('audit-events route', () => {
  it('shows admins the events the API wrote, filtered and paginated, never a secret', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const developer = await ctx.user('developer', { org: admin.orgSlug });
    const member = await ctx.user('member', { org: admin.orgSlug });
    const asAdmin = client(ctx.app, admin.key);
    const asDeveloper = client(ctx.app, developer.key);
    const since = new Date(Date.now() - 1000).toISOString();

    ok(await asDeveloper('POST', '/agents', { id: 'agent-1' }), 201);
    const token = ok<{ id: string; token: string }>(await asDeveloper('POST', '/agents/agent-1/tokens', {}), 201);
    assert.equal((await asDeveloper('DELETE', `/agents/agent-1/tokens/${token.id}`)).statusCode, 204);
    assert.equal((await asDeveloper('DELETE', '/agents/agent-1')).statusCode, 204);
    const invitation = ok<{ token: string }>(await asAdmin('POST', '/members', { email: 'new@example.test', role: 'member' }), 201);
    const added = ok<{ member: { user_id: string }; api_key: { key: string } }>(
      await client(ctx.app, undefined)('POST', '/invitations/redeem', { token: invitation.token }),
      201,
    );
    ok(await asAdmin('PATCH', `/members/${added.member.user_id}`, { role: 'developer' }));
    assert.equal((await asAdmin('DELETE', `/members/${added.member.user_id}`)).statusCode, 204);

    const all = await asAdmin('GET', '/audit-events');
    const events = ok<Page>(all).data;
    assert.deepEqual(events.map((e) => e.action).sort(), [
      'agent.create',
      'agent.delete',
      'agent_token.create',
      'agent_token.revoke',
      'invitation.create',
      'invitation.redeem',
      'membership.delete',
      'membership.update',
    ]);
    assert.ok(events.every((e) => e.organization_id === admin.orgId && e.outcome === 'success' && e.request_id && e.actor_type === 'user'));
    const created = events.find((e) => e.action === 'agent.create');
    assert.equal(created?.actor_id, developer.userId);
    assert.equal(created?.target_id, 'agent-1');
    assert.equal(events.find((e) => e.action === 'agent_token.create')?.target_id, token.id);
    assert.ok(
      !all.body.includes(token.token) && !all.body.includes(added.api_key.key) && !all.body.includes(invitation.token),
      'no audit event holds a credential',
    );
    // Newest first.
    const times = events.map((e) => e.created_at);
    assert.deepEqual(times, [...times].sort().reverse());

    const byDeveloper = ok<Page>(await asAdmin('GET', `/audit-events?actor_id=${developer.userId}`)).data;
    assert.equal(byDeveloper.length, 4);
    assert.deepEqual(ok<Page>(await asAdmin('GET', '/audit-events?action=agent.create')).data.map((e) => e.target_id), ['agent-1']);
    assert.equal(ok<Page>(await asAdmin('GET', '/audit-events?target_id=agent-1')).data.length, 2);
    assert.equal(ok<Page>(await asAdmin('GET', '/audit-events?outcome=failure')).data.length, 0);
    assert.equal(ok<Page>(await asAdmin('GET', `/audit-events?since=${encodeURIComponent(since)}`)).data.length, 8);
    assert.equal(ok<Page>(await asAdmin('GET', `/audit-events?until=${encodeURIComponent(since)}`)).data.length, 0);

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = ok<Page>(await asAdmin('GET', `/audit-events?limit=3${cursor ? `&cursor=${cursor}` : ''}`));
      assert.ok(page.data.length <= 3);
      seen.push(...page.data.map((e) => e.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, events.map((e) => e.id));

    problem(await asAdmin('GET', '/audit-events?limit=201'), 422, 'validation_failed');
    problem(await asAdmin('GET', '/audit-events?limit=0'), 422, 'validation_failed');
    const badSince = problem(await asAdmin('GET', '/audit-events?since=yesterday'), 422, 'validation_failed');
    assert.deepEqual(badSince.errors?.map((e) => e.path), ['since']);
    problem(await asAdmin('GET', '/audit-events?outcome=maybe'), 422, 'validation_failed');
    problem(await asAdmin('GET', '/audit-events?cursor=nonsense'), 422, 'validation_failed');

    problem(await client(ctx.app, member.key)('GET', '/audit-events'), 403, 'forbidden');
    problem(await asDeveloper('GET', '/audit-events'), 403, 'forbidden');
    problem(await ctx.app.inject({ method: 'GET', url: '/api/v1/audit-events' }), 401, 'unauthenticated');
    // Another organisation's admin sees none of it.
    const stranger = await ctx.user('admin');
    assert.deepEqual(ok<Page>(await client(ctx.app, stranger.key)('GET', '/audit-events')).data, []);
  });

  it('names an agent by the token it used, and records failures too', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const asAdmin = client(ctx.app, admin.key);
    ok(await asAdmin('POST', '/agents', { id: 'agent-1' }), 201);
    const token = ok<{ id: string; token: string }>(await asAdmin('POST', '/agents/agent-1/tokens', {}), 201);
    const context = { organizationId: admin.orgId, actor: { type: 'user' as const, id: admin.userId }, role: 'admin' as const };
    const connector = await ctx.app.services.connectors.create(context, {
      name: 'off',
      connector_type: 'database',
      provider: 'postgresql',
      config: { host: '127.0.0.1', username: 'postgres', password: 'hunter2-secret', database: 'test' },
      enabled: false,
    });
    await ctx.app.services.attachments.attach(context, connector.id, { agent_id: 'agent-1', alias: 'db' });

    problem(await client(ctx.app, token.token)('POST', '/agents/agent-1/connectors/db/execute', { query: 'SELECT 1' }), 409, 'connector_disabled');
    const response = await asAdmin('GET', `/audit-events?actor_id=${token.id}`);
    const [execute, ...others] = ok<Page & { data: (AuditEvent & { detail: Record<string, unknown> })[] }>(response).data;
    assert.equal(others.length, 0);
    assert.equal(execute?.action, 'connector.execute');
    assert.equal(execute?.actor_type, 'agent');
    assert.equal(execute?.outcome, 'failure');
    assert.equal(execute?.detail.error_code, 'connector_disabled');
    assert.equal(ok<Page>(await asAdmin('GET', '/audit-events?outcome=failure')).data.length, 1);
    assert.ok(!response.body.includes('hunter2-secret') && !response.body.includes(token.token));
  });

  it('shows operators the events that belong to no organisation, and nobody else', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const operator = await ctx.user('admin', { operator: true });
    const admin = await ctx.user('admin');
    const asOperator = client(ctx.app, operator.key);
    const asAdmin = client(ctx.app, admin.key);

    const key = ok<{ id: string; key: string }>(await asAdmin('POST', '/api-keys', { name: 'laptop' }), 201);
    assert.equal((await asAdmin('DELETE', `/api-keys/${key.id}`)).statusCode, 204);
    ok(await asAdmin('POST', '/agents', { id: 'agent-1' }), 201);

    const response = await asOperator('GET', '/installation/audit-events');
    const events = ok<Page>(response).data;
    assert.deepEqual(events.map((e) => [e.action, e.target_id, e.actor_id, e.organization_id]).sort(), [
      ['api_key.create', key.id, admin.userId, null],
      ['api_key.revoke', key.id, admin.userId, null],
    ]);
    assert.ok(!response.body.includes(key.key));
    assert.deepEqual(ok<Page>(await asOperator('GET', '/installation/audit-events?action=api_key.create')).data.map((e) => e.action), ['api_key.create']);
    problem(await asOperator('GET', '/installation/audit-events?limit=0'), 422, 'validation_failed');
    problem(await asOperator('GET', '/installation/audit-events?action=a%00b'), 422, 'validation_failed');
    problem(await asAdmin('GET', '/audit-events?actor_id=a%00b'), 422, 'validation_failed');
    // An organisation's admin who is no operator may not; nor may an organisation header widen it.
    problem(await asAdmin('GET', '/installation/audit-events'), 403, 'forbidden');
    problem(await client(ctx.app, admin.key, admin.orgSlug)('GET', '/installation/audit-events'), 403, 'forbidden');
    problem(await ctx.app.inject({ method: 'GET', url: '/api/v1/installation/audit-events' }), 401, 'unauthenticated');
    // The organisation's own log does not carry them.
    assert.deepEqual(ok<Page>(await asAdmin('GET', '/audit-events')).data.map((e) => e.action), ['agent.create']);
  });
});
