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
