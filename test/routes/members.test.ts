import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { build } from '../support/app.js';
import { client, ok, problem } from '../support/http.js';
import { inOrganization } from '../support/contexts.js';

interface Member {
  user_id: string;
  email: string;
  name: string | null;
  role: string;
}
interface Invitation {
  id: string;
  email: string;
  role: string;
  organization: { id: string; slug: string; name: string };
  status: string;
  expires_at: string;
  created_at: string;
  responded_at: string | null;
}
interface Created extends Invitation {
  token: string;
}
interface Redeemed {
  invitation: Invitation;
  member: Member;
  api_key: { id: string; key: string };
}
interface List<T> {
  data: T[];
  next_cursor: null;
}

const sha256 = (value: string) => createHash('sha256').update(value).digest('hex');

describe('members routes', () => {
  it('answers an invitation the same for every email, and makes nobody a member by itself', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const asAdmin = client(ctx.app, admin.key);
    const outsider = await ctx.user('admin');
    const outsiderEmail = (await ctx.models.User.findByPk(outsider.userId))?.email ?? '';
    const keysBefore = await ctx.models.ApiKey.count();

    const unknown = await asAdmin('POST', '/members', { email: 'New.Person@Example.test', role: 'developer', name: 'New Person' });
    const known = await asAdmin('POST', '/members', { email: outsiderEmail, role: 'developer' });
    const a = ok<Created>(unknown, 201);
    const b = ok<Created>(known, 201);
    // The same shape, field for field, and nothing that names an account or opens one.
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    assert.deepEqual(Object.keys(a).sort(), ['created_at', 'email', 'expires_at', 'id', 'organization', 'responded_at', 'role', 'status', 'token']);
    for (const [body, raw] of [[a, unknown.body], [b, known.body]] as const) {
      assert.equal(body.status, 'pending');
      assert.equal(body.role, 'developer');
      assert.deepEqual(body.organization, { id: admin.orgId, slug: admin.orgSlug, name: admin.orgSlug });
      assert.match(body.token, /^pbi_[A-Za-z0-9_-]{43}$/);
      assert.ok(!raw.includes('pbk_') && !raw.includes(outsider.userId) && !raw.includes('user_id'), raw);
      const days = (Date.parse(body.expires_at) - Date.parse(body.created_at)) / 86_400_000;
      assert.equal(Math.round(days), 7);
    }
    assert.equal(a.email, 'new.person@example.test');
    assert.equal(await ctx.models.ApiKey.count(), keysBefore, 'no key was issued');
    assert.equal(await ctx.models.User.count({ where: { email: 'new.person@example.test' } }), 0, 'no account was made');

    // Only the token's hash is stored.
    const stored = await ctx.models.Invitation.findByPk(a.id);
    assert.equal(stored?.token_hash, sha256(a.token));
    assert.ok(!JSON.stringify(stored?.toJSON()).includes(a.token));

    // Neither is a member until they answer; the outsider's key keeps working without a header.
    const members = ok<List<Member>>(await asAdmin('GET', '/members')).data;
    assert.deepEqual(members.map((m) => m.user_id), [admin.userId]);
    problem(await client(ctx.app, outsider.key, admin.orgSlug)('GET', '/members'), 404, 'not_found');
    ok(await client(ctx.app, outsider.key)('GET', '/members'));

    // The admin sees both open invitations, never their tokens.
    const open = await asAdmin('GET', '/members/invitations');
    assert.deepEqual(ok<List<Invitation>>(open).data.map((i) => i.id), [a.id, b.id]);
    assert.ok(!open.body.includes(a.token) && !open.body.includes(b.token) && !open.body.includes('token'));

    // Conflicts only about what the admin can see anyway: an open invitation, or a member of this organisation.
    problem(await asAdmin('POST', '/members', { email: 'new.person@example.test', role: 'member' }), 409, 'conflict');
    problem(await asAdmin('POST', '/members', { email: (await ctx.models.User.findByPk(admin.userId))?.email, role: 'member' }), 409, 'conflict');

    const invalid = problem(await asAdmin('POST', '/members', { email: 'not-an-email', role: 'owner' }), 422, 'validation_failed');
    assert.deepEqual(invalid.errors?.map((e) => e.path).sort(), ['email', 'role']);
    problem(await asAdmin('POST', '/members', { email: 'x@example.test', role: 'member', operator: true }), 422, 'validation_failed');
    const member = await ctx.user('member', { org: admin.orgSlug });
    const developer = await ctx.user('developer', { org: admin.orgSlug });
    for (const key of [member.key, developer.key]) {
      problem(await client(ctx.app, key)('POST', '/members', { email: 'y@example.test', role: 'member' }), 403, 'forbidden');
      problem(await client(ctx.app, key)('GET', '/members/invitations'), 403, 'forbidden');
      problem(await client(ctx.app, key)('DELETE', `/members/invitations/${a.id}`), 403, 'forbidden');
    }
    problem(await ctx.app.inject({ method: 'POST', url: '/api/v1/members', payload: { email: 'z@example.test', role: 'member' } }), 401, 'unauthenticated');
  });

  it('lets a new person redeem the token once, without a key, for their account and first key', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const asAdmin = client(ctx.app, admin.key);
    const invited = ok<Created>(await asAdmin('POST', '/members', { email: 'newcomer@example.test', role: 'developer', name: 'Suggested' }), 201);

    const redeem = (body: unknown, key?: string) => client(ctx.app, key)('POST', '/invitations/redeem', body);
    // A malformed or unknown token, a strange body: refused, nothing made.
    problem(await redeem({ token: 'pbi_nope' }), 404, 'not_found');
    problem(await redeem({ token: `pbi_${'A'.repeat(43)}` }), 404, 'not_found');
    problem(await redeem({}), 422, 'validation_failed');
    problem(await redeem({ token: invited.token, role: 'admin' }), 422, 'validation_failed');

    const response = await redeem({ token: invited.token, name: 'Newcomer' });
    const redeemed = ok<Redeemed>(response, 201);
    assert.equal(redeemed.member.email, 'newcomer@example.test');
    assert.equal(redeemed.member.name, 'Newcomer');
    assert.equal(redeemed.member.role, 'developer');
    assert.equal(redeemed.invitation.status, 'accepted');
    assert.match(redeemed.api_key.key, /^pbk_/);
    assert.ok(!response.body.includes(invited.token));

    // The key works at once, in the organisation, with the invited role.
    const asNewcomer = client(ctx.app, redeemed.api_key.key);
    const members = ok<List<Member>>(await asNewcomer('GET', '/members')).data;
    assert.deepEqual(members.map((m) => [m.user_id, m.role]), [
      [admin.userId, 'admin'],
      [redeemed.member.user_id, 'developer'],
    ]);
    ok(await asNewcomer('POST', '/agents', { id: 'agent-new' }), 201);

    // Single use: a second redeem answers like an unknown token, and makes nothing.
    problem(await redeem({ token: invited.token }), 404, 'not_found');
    assert.equal(await ctx.models.ApiKey.count({ where: { user_id: redeemed.member.user_id } }), 1);
    assert.deepEqual(ok<List<Invitation>>(await asAdmin('GET', '/members/invitations')).data, []);

    // An expired token answers the same, and a new invitation to that email is possible then.
    const late = ok<Created>(await asAdmin('POST', '/members', { email: 'late@example.test', role: 'member' }), 201);
    await ctx.models.Invitation.update({ expires_at: new Date(Date.now() - 1000) }, { where: { id: late.id } });
    assert.deepEqual(ok<List<Invitation>>(await asAdmin('GET', '/members/invitations')).data.map((i) => [i.id, i.status]), [[late.id, 'expired']]);
    problem(await redeem({ token: late.token }), 404, 'not_found');
    const again = ok<Created>(await asAdmin('POST', '/members', { email: 'late@example.test', role: 'member' }), 201);
    assert.notEqual(again.token, late.token);
    assert.equal((await ctx.models.Invitation.findByPk(late.id))?.status, 'expired');

    // A revoked token answers the same; revoking twice is a conflict, another organisation's is not found.
    assert.equal((await asAdmin('DELETE', `/members/invitations/${again.id}`)).statusCode, 204);
    problem(await redeem({ token: again.token }), 404, 'not_found');
    problem(await asAdmin('DELETE', `/members/invitations/${again.id}`), 409, 'conflict');
    const stranger = await ctx.user('admin');
    const theirs = ok<Created>(await client(ctx.app, stranger.key)('POST', '/members', { email: 'theirs@example.test', role: 'member' }), 201);
    problem(await asAdmin('DELETE', `/members/invitations/${theirs.id}`), 404, 'not_found');
    problem(await asAdmin('DELETE', '/members/invitations/no-such-invitation'), 404, 'not_found');

    // Every step is in the organisation's audit log, and no token is.
    const audit = await asAdmin('GET', '/audit-events');
    const actions = ok<List<{ action: string; actor_id: string | null; target_id: string }>>(audit).data;
    assert.deepEqual(actions.map((e) => e.action).sort(), [
      'agent.create',
      'invitation.create',
      'invitation.create',
      'invitation.create',
      'invitation.redeem',
      'invitation.revoke',
    ]);
    assert.equal(actions.find((e) => e.action === 'invitation.redeem')?.actor_id, redeemed.member.user_id);
    for (const token of [invited.token, late.token, again.token]) assert.ok(!audit.body.includes(token));
    assert.ok(!ctx.logs.text.includes(invited.token) && !ctx.logs.text.includes(redeemed.api_key.key), 'no token or key in the logs');
  });

  it('lets an existing account join only with its own key, and keeps its default organisation', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const asAdmin = client(ctx.app, admin.key);
    const existing = await ctx.user('developer');
    const email = (await ctx.models.User.findByPk(existing.userId))?.email ?? '';
    const asExisting = client(ctx.app, existing.key);
    const invited = ok<Created>(await asAdmin('POST', '/members', { email, role: 'member' }), 201);

    // The token alone does not add an existing account: the redeemer is told to sign in and accept.
    problem(await client(ctx.app, undefined)('POST', '/invitations/redeem', { token: invited.token }), 409, 'conflict');
    assert.equal(await ctx.models.Membership.count({ where: { user_id: existing.userId, organization_id: admin.orgId } }), 0);
    assert.equal(await ctx.models.User.count({ where: { email } }), 1);
    // ...and that attempt is on the record for the organisation.
    const denied = await ctx.models.AuditEvent.findOne({ where: { action: 'invitation.redeem', outcome: 'denied' } });
    assert.equal(denied?.organization_id, admin.orgId);

    // Another account can neither see nor answer it.
    const other = await ctx.user('member');
    const asOther = client(ctx.app, other.key);
    assert.deepEqual(ok<List<Invitation>>(await asOther('GET', '/invitations')).data, []);
    problem(await asOther('POST', `/invitations/${invited.id}/accept`), 404, 'not_found');
    problem(await asOther('POST', `/invitations/${invited.id}/decline`), 404, 'not_found');
    problem(await asExisting('POST', '/invitations/no-such-invitation/accept'), 404, 'not_found');

    const mine = ok<List<Invitation>>(await asExisting('GET', '/invitations')).data;
    assert.deepEqual(mine.map((i) => [i.id, i.organization.id, i.role, i.status]), [[invited.id, admin.orgId, 'member', 'pending']]);

    const accepted = ok<{ invitation: Invitation; member: Member }>(await asExisting('POST', `/invitations/${invited.id}/accept`));
    assert.equal(accepted.invitation.status, 'accepted');
    assert.equal(accepted.member.user_id, existing.userId);
    assert.equal(accepted.member.role, 'member');
    problem(await asExisting('POST', `/invitations/${invited.id}/accept`), 409, 'conflict');
    problem(await asExisting('POST', `/invitations/${invited.id}/decline`), 409, 'conflict');
    assert.deepEqual(ok<List<Invitation>>(await asExisting('GET', '/invitations')).data, []);

    // Without X-Organization-Id the key still acts in the first organisation it joined; the header picks the new one.
    const own = ok<List<Member>>(await asExisting('GET', '/members')).data;
    assert.deepEqual(own.map((m) => m.user_id), [existing.userId]);
    ok(await asExisting('POST', '/agents', { id: 'still-mine' }), 201);
    assert.ok(await ctx.models.Agent.findOne({ where: { agent_id: 'still-mine', organization_id: existing.orgId } }));
    const joined = ok<List<Member>>(await client(ctx.app, existing.key, admin.orgSlug)('GET', '/members')).data;
    assert.deepEqual(joined.map((m) => m.user_id), [admin.userId, existing.userId]);

    // Declining: the invitation closes and nobody joins.
    const second = await ctx.user('member');
    const secondEmail = (await ctx.models.User.findByPk(second.userId))?.email ?? '';
    const toDecline = ok<Created>(await asAdmin('POST', '/members', { email: secondEmail, role: 'admin' }), 201);
    const declined = ok<Invitation>(await client(ctx.app, second.key)('POST', `/invitations/${toDecline.id}/decline`));
    assert.equal(declined.status, 'declined');
    problem(await client(ctx.app, second.key)('POST', `/invitations/${toDecline.id}/accept`), 409, 'conflict');
    problem(await client(ctx.app, second.key, admin.orgSlug)('GET', '/members'), 404, 'not_found');
    problem(await client(ctx.app, undefined)('POST', '/invitations/redeem', { token: toDecline.token }), 404, 'not_found');

    // Agent tokens have no invitations.
    const agent = await ctx.app.services.agents.create(inOrganization(existing.orgId, existing.userId), { id: 'agent-x' });
    const token = await ctx.app.services.agents.issueToken(inOrganization(agent.organization_id, existing.userId), agent, {});
    problem(await client(ctx.app, token.token)('GET', '/invitations'), 403, 'forbidden');

    const events = await ctx.models.AuditEvent.findAll({ where: { organization_id: admin.orgId } });
    assert.deepEqual(events.map((e) => `${e.action} ${e.outcome}`).sort(), [
      'invitation.accept success',
      'invitation.create success',
      'invitation.create success',
      'invitation.decline success',
      'invitation.redeem denied',
    ]);
    assert.equal(events.find((e) => e.action === 'invitation.accept')?.actor_id, existing.userId);
  });

  it('takes twenty concurrent invitations on SQLite without a server error', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const asAdmin = client(ctx.app, admin.key);
    const emails = Array.from({ length: 20 }, (_, i) => `burst-${i % 15}@example.test`);
    const responses = await Promise.all(emails.map((email) => asAdmin('POST', '/members', { email, role: 'member' })));
    const statuses = responses.map((r) => r.statusCode);
    assert.deepEqual(statuses.filter((s) => s >= 500), [], responses.filter((r) => r.statusCode >= 500).map((r) => r.body).join('\n'));
    assert.equal(statuses.filter((s) => s === 201).length, 15);
    assert.equal(statuses.filter((s) => s === 409).length, 5);
    assert.equal(await ctx.models.Invitation.count({ where: { organization_id: admin.orgId, status: 'pending' } }), 15);
    // Redeeming them all at once too.
    const tokens = responses.filter((r) => r.statusCode === 201).map((r) => (r.json() as Created).token);
    const redeemed = await Promise.all([...tokens, ...tokens.slice(0, 5)].map((token) => client(ctx.app, undefined)('POST', '/invitations/redeem', { token })));
    assert.deepEqual(redeemed.filter((r) => r.statusCode >= 500).map((r) => r.body), []);
    assert.equal(redeemed.filter((r) => r.statusCode === 201).length, 15);
    assert.equal(redeemed.filter((r) => r.statusCode === 404).length, 5);
  });

  it('answers control characters and odd ids with a 4xx, never a server error', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin', { operator: true });
    const asAdmin = client(ctx.app, admin.key);
    const anonymous = client(ctx.app, undefined);
    const invited = ok<Created>(await asAdmin('POST', '/members', { email: 'nul@example.test', role: 'member' }), 201);
    problem(await asAdmin('POST', '/members', { email: 'other@example.test', role: 'member', name: 'a\u0000b' }), 422, 'validation_failed');
    problem(await anonymous('POST', '/invitations/redeem', { token: invited.token, name: 'x\u0007y' }), 422, 'validation_failed');
    problem(await anonymous('POST', '/invitations/redeem', { token: 'pbi_\u0000' }), 404, 'not_found');
    // A control character in an id is refused as such (422, docs/errors.md); any other odd id does not exist.
    for (const [id, status, code] of [
      ['abc%00', 422, 'validation_failed'],
      ['abc%0A', 422, 'validation_failed'],
      [encodeURIComponent('1 OR 1=1'), 404, 'not_found'],
      ['x'.repeat(90), 404, 'not_found'],
    ] as const) {
      problem(await asAdmin('DELETE', `/members/invitations/${id}`), status, code);
      problem(await asAdmin('POST', `/invitations/${id}/accept`), status, code);
      problem(await asAdmin('POST', `/invitations/${id}/decline`), status, code);
      problem(await asAdmin('PATCH', `/members/${id}`, { role: 'member' }), status, code);
      problem(await asAdmin('DELETE', `/members/${id}`), status, code);
      problem(await asAdmin('DELETE', `/api-keys/${id}`), status, code);
    }
    // The invitation is still there to redeem.
    ok(await anonymous('POST', '/invitations/redeem', { token: invited.token }), 201);
  });

  it('limits redeeming per client address, whatever Authorization header comes along', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_PER_KEY: '3' } });
    if (!ctx) return;
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await client(ctx.app, `pbk_random${i}`)('POST', '/invitations/redeem', { token: `pbi_${String(i).repeat(43)}` });
      statuses.push(response.statusCode);
    }
    assert.deepEqual(statuses, [404, 404, 404, 429]);
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
