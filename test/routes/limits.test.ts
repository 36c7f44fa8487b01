import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, build } from '../support/app.js';

describe('rate limit and CORS', () => {
  it('answers 429 rate_limited past PATCHBAY_RATE_LIMIT_PER_KEY, counted per key', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_PER_KEY: '3' } });
    if (!ctx) return;
    const first = await ctx.user('member');
    const second = await ctx.user('member');
    for (let i = 0; i < 3; i += 1) {
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(first.key) })).statusCode, 200);
    }
    const limited = await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(first.key) });
    assert.equal(limited.statusCode, 429);
    const body = limited.json() as { code: string; retry_after_ms: number };
    assert.equal(body.code, 'rate_limited');
    assert.ok(body.retry_after_ms > 0);
    assert.ok(limited.headers['retry-after']);
    // Another key has its own budget.
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(second.key) })).statusCode, 200);
  });

  it('counts by principal: every spelling of the Authorization header shares one bucket', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_PER_KEY: '3' } });
    if (!ctx) return;
    const { key } = await ctx.user('member');
    const spellings = [`bearer ${key}`, `Bearer  ${key}`, `BEARER\t${key}`];
    const list = (authorization: string) => ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: { authorization } });
    for (const header of spellings) assert.equal((await list(header)).statusCode, 200);
    for (const header of [...spellings, `Bearer ${key} `]) {
      const response = await list(header);
      assert.equal(response.statusCode, 429, header);
      assert.equal((response.json() as { code: string }).code, 'rate_limited');
    }
  });

  it('gives each key of one user, and each agent token, its own bucket', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_PER_KEY: '2' } });
    if (!ctx) return;
    const first = await ctx.user('developer');
    const created = await ctx.app.inject({ method: 'POST', url: '/api/v1/api-keys', headers: bearer(first.key), payload: {} });
    assert.equal(created.statusCode, 201);
    const second = (created.json() as { key: string }).key;
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(first.key) })).statusCode, 200);
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(first.key) })).statusCode, 429);
    for (let i = 0; i < 2; i += 1) {
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(second) })).statusCode, 200);
    }
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/api-keys', headers: bearer(second) })).statusCode, 429);
    // An agent token of the same organisation, issued by another developer, counts apart from both keys.
    const other = await ctx.user('developer', { org: first.orgSlug });
    assert.equal((await ctx.app.inject({ method: 'POST', url: '/api/v1/agents', headers: bearer(other.key), payload: { id: 'limited' } })).statusCode, 201);
    const issued = await ctx.app.inject({ method: 'POST', url: '/api/v1/agents/limited/tokens', headers: bearer(other.key), payload: {} });
    const token = (issued.json() as { token: string }).token;
    const asAgent = () => ctx.app.inject({ method: 'GET', url: '/api/v1/agents/limited/connectors', headers: bearer(token) });
    assert.equal((await asAgent()).statusCode, 200);
    assert.equal((await asAgent()).statusCode, 200);
    assert.equal((await asAgent()).statusCode, 429);
  });

  it('limits failed authentications per address, without a lookup once spent; a working key goes on', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_FAILED_AUTH: '3', PATCHBAY_RATE_LIMIT_PER_KEY: '50' } });
    if (!ctx) return;
    const { key } = await ctx.user('member');
    // The working key authenticated once before the guessing starts, as a client in use has.
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/connectors', headers: bearer(key) })).statusCode, 200);
    const guess = (i: number) => ctx.app.inject({ method: 'GET', url: '/api/v1/connectors', headers: bearer(`pb_guess${i}`) });
    for (let i = 0; i < 3; i += 1) assert.equal((await guess(i)).statusCode, 401);
    let lookups = 0;
    const original = ctx.app.services.accounts.authenticate.bind(ctx.app.services.accounts);
    ctx.app.services.accounts.authenticate = async (candidate: string) => {
      lookups += 1;
      return original(candidate);
    };
    for (let i = 3; i < 8; i += 1) {
      const refused = await guess(i);
      assert.equal(refused.statusCode, 429);
      const body = refused.json() as { code: string; retry_after_ms: number };
      assert.equal(body.code, 'rate_limited');
      assert.ok(body.retry_after_ms > 0);
      assert.ok(Number(refused.headers['retry-after']) >= 1);
    }
    // Also a missing or malformed header, and an agent-token guess.
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/connectors' })).statusCode, 429);
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/connectors', headers: bearer('pbt_guess') })).statusCode, 429);
    assert.equal(lookups, 0, 'no lookup once the address is spent');
    // The key that authenticated lately still works from the same address; the health probes stay unlimited.
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/connectors', headers: bearer(key) })).statusCode, 200);
    assert.equal(lookups, 1);
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    // Another address has its own failed-authentication bucket.
    const elsewhere = await ctx.app.inject({ method: 'GET', url: '/api/v1/connectors', headers: bearer('pb_guess'), remoteAddress: '127.0.0.2' });
    assert.equal(elsewhere.statusCode, 401);
  });

  it('leaves the health probes unlimited, and counts other unauthenticated requests per address', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_PER_KEY: '1', PATCHBAY_RATE_LIMIT_FAILED_AUTH: '1' } });
    if (!ctx) return;
    for (let i = 0; i < 5; i += 1) {
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    }
    assert.equal((await ctx.app.inject({ method: 'GET', url: '/no/such/path' })).statusCode, 404);
    const limited = await ctx.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(limited.statusCode, 429);
    assert.equal((limited.json() as { code: string }).code, 'rate_limited');
  });

  it('allows only the configured browser origins', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_ALLOWED_ORIGINS: 'https://console.example.test' } });
    if (!ctx) return;
    const preflight = (origin: string) =>
      ctx.app.inject({
        method: 'OPTIONS',
        url: '/api/v1/connectors',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
    const allowed = await preflight('https://console.example.test');
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://console.example.test');
    const refused = await preflight('https://evil.example.test');
    assert.equal(refused.headers['access-control-allow-origin'], undefined);
  });
});
