import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build } from '../support/app.js';
import { client, ok, problem } from '../support/http.js';

interface Member {
  user_id: string;
  email: string;
  name: string | null;
  role: string;
}
interface Added {
  member: Member;
  api_key?: { key: string };
}

describe('members routes', () => {
  it('lists members to any member, and adds them for admins only', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const member = await ctx.user('member', { org: admin.orgSlug });
    const asAdmin = client(ctx.app, admin.key);
    const asMember = client(ctx.app, member.key);

    const listed = ok<{ data: Member[]; next_cursor: null }>(await asMember('GET', '/members'));
    assert.deepEqual(listed.data.map((m) => [m.user_id, m.role]), [
      [admin.userId, 'admin'],
      [member.userId, 'member'],
    ]);
    problem(await ctx.app.inject({ method: 'GET', url: '/api/v1/members' }), 401, 'unauthenticated');

    // A new user: created, with a first API key shown once that works at once.
    const added = ok<Added>(await asAdmin('POST', '/members', { email: 'New.Person@Example.test', role: 'developer', name: 'New Person' }), 201);
    assert.equal(added.member.email, 'new.person@example.test');
    assert.equal(added.member.role, 'developer');
    assert.equal(added.member.name, 'New Person');
    assert.match(added.api_key?.key ?? '', /^pbk_/);
    ok(await client(ctx.app, added.api_key?.key ?? '')('GET', '/members'));

    // An existing user (from another organisation) joins, but no key to their account is handed out.
    const outsider = await ctx.user('admin');
    const email = (await ctx.models.User.findByPk(outsider.userId))?.email ?? '';
    const keysBefore = await ctx.models.ApiKey.count({ where: { user_id: outsider.userId } });
    const joined = await asAdmin('POST', '/members', { email, role: 'member' });
    const body = ok<Added>(joined, 201);
    assert.equal(body.member.user_id, outsider.userId);
    assert.equal(body.api_key, undefined);
    assert.ok(!joined.body.includes('pbk_'));
    assert.equal(await ctx.models.ApiKey.count({ where: { user_id: outsider.userId } }), keysBefore);
    // ...and now needs to name the organisation.
    problem(await client(ctx.app, outsider.key)('GET', '/members'), 400, 'bad_request');
    ok(await client(ctx.app, outsider.key, admin.orgSlug)('GET', '/members'));

    problem(await asAdmin('POST', '/members', { email, role: 'member' }), 409, 'conflict');
    const invalid = problem(await asAdmin('POST', '/members', { email: 'not-an-email', role: 'owner' }), 422, 'validation_failed');
    assert.deepEqual(invalid.errors?.map((e) => e.path).sort(), ['email', 'role']);
    problem(await asAdmin('POST', '/members', { email: 'x@example.test', role: 'member', operator: true }), 422, 'validation_failed');
    problem(await asMember('POST', '/members', { email: 'y@example.test', role: 'member' }), 403, 'forbidden');
    const developer = await ctx.user('developer', { org: admin.orgSlug });
    problem(await client(ctx.app, developer.key)('POST', '/members', { email: 'y@example.test', role: 'member' }), 403, 'forbidden');
  });

  it('changes roles and removes members, keeping at least one admin', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const member = await ctx.user('member', { org: admin.orgSlug });
    const asAdmin = client(ctx.app, admin.key);
    const asMember = client(ctx.app, member.key);

    problem(await asAdmin('PATCH', `/members/${admin.userId}`, { role: 'member' }), 409, 'conflict');
    problem(await asAdmin('DELETE', `/members/${admin.userId}`), 409, 'conflict');
    problem(await asMember('PATCH', `/members/${member.userId}`, { role: 'admin' }), 403, 'forbidden');
    problem(await asMember('DELETE', `/members/${member.userId}`), 403, 'forbidden');

    const promoted = ok<Member>(await asAdmin('PATCH', `/members/${member.userId}`, { role: 'admin' }));
    assert.equal(promoted.role, 'admin');
    assert.equal(promoted.user_id, member.userId);
    // Now the member is an admin and may act as one.
    ok(await asMember('GET', '/audit-events'));

    const invalid = problem(await asAdmin('PATCH', `/members/${member.userId}`, { role: 'owner' }), 422, 'validation_failed');
    assert.deepEqual(invalid.errors?.map((e) => e.path), ['role']);
    problem(await asAdmin('PATCH', `/members/${member.userId}`, {}), 422, 'validation_failed');

    // Someone in another organisation is "not a member" here, before any body is looked at.
    const stranger = await ctx.user('admin');
    problem(await asAdmin('PATCH', `/members/${stranger.userId}`, { role: 'owner' }), 404, 'not_found');
    problem(await asAdmin('DELETE', `/members/${stranger.userId}`), 404, 'not_found');
    problem(await client(ctx.app, stranger.key)('DELETE', `/members/${member.userId}`), 404, 'not_found');

    // With two admins, the first may step down and then leave.
    ok(await asAdmin('PATCH', `/members/${admin.userId}`, { role: 'developer' }));
    problem(await asAdmin('GET', '/audit-events'), 403, 'forbidden');
    assert.equal((await asMember('DELETE', `/members/${admin.userId}`)).statusCode, 204);
    problem(await asAdmin('GET', '/members'), 404, 'not_found');
    const remaining = ok<{ data: Member[] }>(await asMember('GET', '/members')).data;
    assert.deepEqual(remaining.map((m) => [m.user_id, m.role]), [[member.userId, 'admin']]);

    const events = await ctx.models.AuditEvent.findAll({ where: { organization_id: admin.orgId } });
    assert.deepEqual(events.map((e) => `${e.action} ${e.target_id} ${e.actor_id}`).sort(), [
      `membership.delete ${admin.userId} ${member.userId}`,
      `membership.update ${admin.userId} ${admin.userId}`,
      `membership.update ${member.userId} ${admin.userId}`,
    ].sort());
  });
});
