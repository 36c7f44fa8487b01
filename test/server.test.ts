import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, build } from './support/app.js';
import { asUser, installation } from './support/contexts.js';

const assertProblem = (response: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number, code: string) => {
  assert.equal(response.statusCode, status);
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
  const body = response.json() as Record<string, unknown>;
  assert.equal(body.code, code);
  assert.equal(body.status, status);
  assert.equal(body.type, `urn:patchbay:error:${code}`);
  for (const member of ['title', 'detail', 'instance', 'request_id']) assert.equal(typeof body[member], 'string', member);
  return body;
};

describe('server skeleton', () => {
  it('answers /healthz and /readyz', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const health = await ctx.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(health.statusCode, 200);
    assert.deepEqual(health.json(), { status: 'ok' });
    const ready = await ctx.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(ready.json(), { status: 'ready', database: 'sqlite' });
  });

  it('answers 503 on /readyz when the database is gone', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    await ctx.app.db.sequelize.close();
    const ready = await ctx.app.inject({ method: 'GET', url: '/readyz' });
    assert.equal(ready.statusCode, 503);
  });

  it('answers 401 unauthenticated for a missing, malformed, unknown, revoked or expired key', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const { key, userId } = await ctx.user('member');
    const ok = await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(key) });
    assert.equal(ok.statusCode, 200);

    const cases: Record<string, Record<string, string>> = {
      missing: {},
      malformed: { authorization: 'Basic dXNlcjpwYXNz' },
      empty: { authorization: 'Bearer ' },
      unknown: bearer('pbk_' + 'x'.repeat(43)),
      garbage: bearer('definitely-not-a-key'),
    };
    for (const [name, headers] of Object.entries(cases)) {
      const response = await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers });
      assertProblem(response, 401, 'unauthenticated');
      assert.match(String(response.headers['www-authenticate']), /^Bearer/, name);
    }

    const second = await ctx.accounts.issueApiKey(asUser(userId), userId);
    await ctx.accounts.revokeApiKey(installation, second.id);
    assertProblem(await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(second.key) }), 401, 'unauthenticated');

    const expiring = await ctx.accounts.issueApiKey(asUser(userId), userId, { expiresAt: new Date(Date.now() + 60_000) });
    await ctx.models.ApiKey.update({ expires_at: new Date(Date.now() - 1) }, { where: { id: expiring.id } });
    assertProblem(await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(expiring.key) }), 401, 'unauthenticated');
  });

  it('answers problem+json 404 for an unknown route', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    assertProblem(await ctx.app.inject({ method: 'GET', url: '/api/v1/nothing-here' }), 404, 'not_found');
  });

  it('answers 400 for malformed JSON, 422 with field paths for a bad body, 413 for a huge body', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_BODY_LIMIT_BYTES: '2048' } });
    if (!ctx) return;
    const { key } = await ctx.user('member');
    const headers = { ...bearer(key), 'content-type': 'application/json' };
    assertProblem(await ctx.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: '{"name":' }), 400, 'bad_request');
    const invalid = assertProblem(
      await ctx.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: { name: 42, surprise: true } }),
      422,
      'validation_failed',
    );
    const paths = (invalid.errors as { path: string }[]).map((e) => e.path);
    assert.ok(paths.includes('name'), `errors name the field: ${JSON.stringify(paths)}`);
    assertProblem(
      await ctx.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers, payload: { name: 'x'.repeat(4096) } }),
      413,
      'payload_too_large',
    );
  });

  it('lets a user create, list and revoke their own API keys, shown once', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const { key } = await ctx.user('member');
    const created = await ctx.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(key), payload: { name: 'laptop' } });
    assert.equal(created.statusCode, 201);
    const body = created.json() as { id: string; key: string; prefix: string };
    assert.match(body.key, /^pbk_/);
    const listed = await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(key) });
    const keys = (listed.json() as { data: Record<string, unknown>[] }).data;
    assert.equal(keys.length, 2);
    assert.ok(!JSON.stringify(keys).includes(body.key), 'a listed key never shows the key itself');
    const revoked = await ctx.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${body.id}`, headers: bearer(key) });
    assert.equal(revoked.statusCode, 204);
    assertProblem(await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(body.key) }), 401, 'unauthenticated');
    // Another user's key id is "not found", never revoked.
    const other = await ctx.user('member');
    const foreign = await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(other.key) });
    const foreignId = (foreign.json() as { data: { id: string }[] }).data[0]?.id;
    assertProblem(await ctx.app.inject({ method: 'DELETE', url: `/api/v1/api-keys/${foreignId}`, headers: bearer(key) }), 404, 'not_found');
  });

  it('serves a valid OpenAPI 3.1 document and a docs page', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const response = await ctx.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = response.json() as { openapi: string; paths: Record<string, unknown> };
    assert.equal(document.openapi, '3.1.0');
    assert.ok(document.paths['/api/v1/api-keys/']);
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const result = await new Validator().validate(document as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
    const docs = await ctx.app.inject({ method: 'GET', url: '/docs/' });
    assert.equal(docs.statusCode, 200);
  });

  it('never logs the Authorization header', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const { key } = await ctx.user('member');
    await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(key) });
    await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(key + 'x') });
    assert.ok(ctx.logs.lines.length > 0);
    assert.ok(!ctx.logs.text.includes(key));
  });
});

describe('requests without a body', () => {
  it('treat a bodiless POST as an empty object', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const { key } = await ctx.user('member');
    const created = await ctx.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(key) });
    assert.equal(created.statusCode, 201, created.body);
  });
});
