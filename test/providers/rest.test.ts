import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecuteResult } from '../../src/providers/harness.js';
import { describeFields } from '../../src/providers/registry.js';
import rest from '../../src/providers/rest.js';
import { bearerAllow, bearerOf, startRestPeer, type RestPeer, type RestPeerOptions } from '../support/http-peers.js';
import { describeProvider, expectFailure, openPeer, type Call, type Config } from './conformance.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const token = unique('Canary-token');
const peer = await startRestPeer({ allow: bearerAllow(token) });
after(() => peer.stop());

const config = { base_url: peer.baseUrl, auth_type: 'bearer', token, health_path: '/health' };
const call = (input: Record<string, unknown>, mode?: Call['mode']): Call => ({ input, mode });
type Answer = { status: number; headers: Record<string, unknown>; body: unknown; body_encoding: string };
const answer = (result: ExecuteResult) => result.data as Answer;
/** Requests the peer saw that were not GET or HEAD: a write refused in read mode must never arrive. */
const writesSeen = (target: RestPeer) => target.requests.filter((request) => !['GET', 'HEAD'].includes(request.method)).length;

describeProvider(rest, {
  config,
  at: ({ host, port }) => ({ ...config, base_url: `http://${host}:${port}/api` }),
  probe: call({ path: '/health' }),
  schema: {
    bad: [
      { config: { ...config, base_url: 'ftp://127.0.0.1/api' }, path: 'base_url' },
      { config: { base_url: peer.baseUrl, auth_type: 'bearer' }, path: 'token' },
      { config: { ...config, health_path: 'health' }, path: 'health_path' },
      { config: { ...config, headers: { Host: 'elsewhere.example' } }, path: 'headers' },
      { config: { ...config, auth_type: 'oauth2_client_credentials' }, path: 'token_url' },
    ],
  },
  connectionTest: { message: /^HTTP 200 \(pb-test-peer\/1\.0\) from GET \/health$/ },
  auth: { configs: [{ ...config, token: unique('wrong-token') }] },
  tls: { config: ({ host, port }) => ({ ...config, base_url: `https://${host}:${port}/api` }) },
  secrets: {
    configs: [
      { ...config, headers: { 'X-Canary': unique('Canary-header') } },
      { base_url: peer.baseUrl, auth_type: 'basic', username: 'someone', password: unique('Canary-password') },
      { base_url: peer.baseUrl, auth_type: 'api_key', api_key: unique('Canary-key'), api_key_name: 'key', api_key_in: 'query' },
    ],
  },
  operations: [
    {
      name: 'POST creates an item in read_write mode: 201 with the item',
      ...call({ method: 'POST', path: '/items', body: { id: 'conformance-1', name: 'kept' } }, 'read_write'),
      check: async (result, via) => {
        assert.equal(answer(result).status, 201);
        assert.deepEqual(answer(result).body, { id: 'conformance-1', name: 'kept' });
        assert.deepEqual(answer(await via.execute(call({ path: '/items/conformance-1' }))).body, { id: 'conformance-1', name: 'kept' });
      },
    },
    {
      name: 'GET with query and headers: they arrive, and the bearer token in the echo is masked',
      ...call({ path: '/echo?a=1', query: { b: [2, 3], c: true }, headers: { 'X-Trace': 'abc' } }),
      check: (result) => {
        const { status, body, body_encoding: encoding } = answer(result);
        const echo = body as { query: Record<string, string>; headers: Record<string, string> };
        assert.equal(status, 200);
        assert.equal(encoding, 'json');
        assert.deepEqual(echo.query, { a: '1', b: '3', c: 'true' }); // the echo keeps the last of a repeated name
        assert.equal(echo.headers['x-trace'], 'abc');
        assert.equal(echo.headers.authorization, 'Bearer ********');
      },
    },
    {
      name: 'DELETE removes it (read_write); an upstream 404 afterwards is data, not an error',
      ...call({ method: 'DELETE', path: '/items/conformance-1' }, 'read_write'),
      check: async (result, via) => {
        assert.equal(answer(result).status, 204);
        const gone = answer(await via.execute(call({ path: '/items/conformance-1' })));
        assert.equal(gone.status, 404);
        assert.deepEqual(gone.body, { error: 'no item conformance-1' });
      },
    },
  ],
  readMode: {
    writes: [
      call({ method: 'POST', path: '/items', body: { id: 'refused', name: 'x' } }),
      call({ method: 'PUT', path: '/items/refused', body: { id: 'refused' } }),
      call({ method: 'PATCH', path: '/items/refused', body: { id: 'refused' } }),
      call({ method: 'DELETE', path: '/items/refused' }),
      call({ method: 'OPTIONS', path: '/items' }),
    ],
    snapshot: async () => ({ items: [...peer.items.entries()], writesSeen: writesSeen(peer) }),
  },
  truncation: {
    maxBytes: {
      ...call({ path: '/bytes/5000' }),
      limit: 100,
      check: (result) => assert.equal(answer(result).body, 'x'.repeat(100)),
      exact: call({ path: '/bytes/100' }),
    },
  },
  // HTTP opens connections per request: a peer stopped and started on its port drops the kept-alive ones.
  restart: { restartPeer: () => peer.restart() },
});

/** A pooled session on `settings`, or on the suite's peer and config. */
const open = (t: TestContext, settings: Config = config) => openPeer(t, rest, settings);

/** A REST peer of the test's own, stopped afterwards. */
async function ownPeer(t: TestContext, options: RestPeerOptions = {}): Promise<RestPeer> {
  const started = await startRestPeer(options);
  t.after(() => started.stop());
  return started;
}

describe('rest', () => {
  test('the path stays under the base URL: URLs are invalid, climbing out is scope_denied', async (t) => {
    const api = open(t);
    for (const path of ['http://other.host/x', '//other.host/x', '\\\\other.host\\x']) {
      const error = await expectFailure(api.execute(call({ path })));
      assert.equal(error.code, 'validation_failed', path);
      assert.deepEqual(error.errors?.map((item) => item.path), ['path']);
    }
    for (const path of ['/../admin', '/items/../../admin', '/%2e%2e/admin', '/items/..%2F..%2Fadmin', '/..\\admin']) {
      assert.equal((await expectFailure(api.execute(call({ path })))).code, 'scope_denied', path);
    }
    assert.ok(!peer.requests.some((request) => request.url.startsWith('/admin')), 'a request reached /admin');
    // Dot segments that stay under the base path are fine.
    assert.equal(answer(await api.execute(call({ path: '/items/../health' }))).status, 200);
  });

  test('redirects are followed within the base URL only; others come back as the 3xx answer', async (t) => {
    const api = open(t);
    const other = await ownPeer(t);
    const inside = answer(await api.execute(call({ path: '/redirect', query: { to: '/api/health' } })));
    assert.equal(inside.status, 200);
    const offOrigin = answer(await api.execute(call({ path: '/redirect', query: { to: `${other.baseUrl}/echo`, status: 307 } })));
    assert.equal(offOrigin.status, 307);
    assert.equal(offOrigin.headers.location, `${other.baseUrl}/echo`);
    assert.equal(other.requests.length, 0, 'the redirect off the origin was followed');
    assert.equal(answer(await api.execute(call({ path: '/redirect', query: { to: '/admin' } }))).status, 302);
  });

  test('read mode refuses POST with read_only before sending it, and allows GET and HEAD', async (t) => {
    const api = open(t);
    const before = writesSeen(peer);
    const error = await expectFailure(api.execute(call({ method: 'POST', path: '/items', body: { id: 'x' } })));
    assert.equal(error.code, 'read_only');
    assert.equal(writesSeen(peer), before);
    const head = answer(await api.execute(call({ method: 'HEAD', path: '/health' })));
    assert.deepEqual([head.status, head.body], [200, '']);
    assert.equal(answer(await api.execute(call({ method: 'GET', path: '/health' }))).status, 200);
  });

  test('timeout_ms: an answer that does not come in time is timeout, and the session still works', async (t) => {
    const api = open(t);
    const error = await expectFailure(api.execute({ ...call({ path: '/sleep/3000' }), limits: { timeoutMs: 200 } }));
    assert.equal(error.code, 'timeout');
    assert.equal(answer(await api.execute(call({ path: '/health' }))).status, 200);
  });

  test('a body on GET or HEAD is invalid', async (t) => {
    const error = await expectFailure(open(t).execute(call({ method: 'GET', path: '/items', body: { a: 1 } })));
    assert.deepEqual(error.errors?.map((item) => item.path), ['body']);
  });

  test('upstream 404 and 500 are data; JSON, text, binary and gzip bodies are shaped by content type', async (t) => {
    const api = open(t);
    for (const status of [404, 500, 503]) {
      const result = answer(await api.execute(call({ path: `/status/${status}` })));
      assert.deepEqual([result.status, result.body], [status, { status }]);
    }
    assert.deepEqual(answer(await api.execute(call({ path: '/bytes/3' }))).body, 'xxx');
    const binary = answer(await api.execute(call({ path: '/binary' })));
    assert.deepEqual([binary.body, binary.body_encoding], [Buffer.from([0, 1, 2, 254, 255]).toString('base64'), 'base64']);
    assert.deepEqual(answer(await api.execute(call({ path: '/gzip' }))).body, { compressed: true });
  });

  test('max_bytes cuts a JSON body, which then comes back as text, truncated: true', async (t) => {
    const result = await open(t).execute({ ...call({ path: '/echo' }), limits: { maxBytes: 20 } });
    assert.equal(result.truncated, true);
    assert.deepEqual([answer(result).body_encoding, (answer(result).body as string).length], ['text', 20]);
  });

  test('the connection test: 401 and 403 are auth_failed, 404 upstream_not_found; execute still works past a 404', async (t) => {
    const api = open(t);
    const test403 = await api.harness.test('rest', { ...config, health_path: '/status/403' });
    assert.equal(test403.error_code, 'auth_failed');
    const test404 = await api.harness.test('rest', { ...config, health_path: '/status/404' });
    assert.equal(test404.error_code, 'upstream_not_found');
    const other = openPeer(t, rest, { ...config, health_path: '/status/404' });
    assert.equal(answer(await other.execute(call({ path: '/health' }))).status, 200);
  });

  test('an API key in the query: sent, masked in the echo, and not to be set by a call', async (t) => {
    const key = unique('query-key');
    const keyed = await ownPeer(t, { allow: (_req, url) => url.searchParams.get('key') === key });
    const api = open(t, { base_url: keyed.baseUrl, auth_type: 'api_key', api_key: key, api_key_name: 'key', api_key_in: 'query' });
    const echo = answer(await api.execute(call({ path: '/echo', query: { q: 'x' } })));
    assert.deepEqual((echo.body as { query: unknown }).query, { q: 'x', key: '********' });
    assert.ok(keyed.requests.at(-1)?.url.includes(`key=${key}`));
    assert.equal((await expectFailure(api.execute(call({ path: '/echo', query: { key: 'mine' } })))).code, 'scope_denied');
    assert.equal((await expectFailure(api.execute(call({ path: '/echo?key=mine' })))).code, 'scope_denied');
  });

  test('connector headers are secret: masked in answers, listed as secret, and a call cannot change them', async (t) => {
    assert.equal(describeFields(rest).find((field) => field.name === 'headers')?.secret, true);
    const tenant = unique('tenant');
    const api = open(t, { ...config, headers: { 'X-Tenant': tenant } });
    const echo = answer(await api.execute(call({ path: '/echo' })));
    assert.equal((echo.body as { headers: Record<string, string> }).headers['x-tenant'], '********');
    assert.equal(peer.requests.at(-1)?.headers['x-tenant'], tenant);
    for (const name of ['x-tenant', 'Authorization']) {
      const error = await expectFailure(api.execute(call({ path: '/echo', headers: { [name]: 'other' } })));
      assert.equal(error.code, 'scope_denied', name);
    }
  });

  test('basic auth: the Basic header an upstream echoes is masked too', async (t) => {
    const password = unique('basic-password');
    const guarded = await ownPeer(t, { allow: (req) => req.headers.authorization?.startsWith('Basic ') === true });
    const api = open(t, { base_url: guarded.baseUrl, auth_type: 'basic', username: 'user', password });
    const echo = answer(await api.execute(call({ path: '/echo' })));
    assert.equal((echo.body as { headers: Record<string, string> }).headers.authorization, 'Basic ********');
  });

  describe('oauth2_client_credentials', () => {
    const clientId = 'patchbay-client';
    const clientSecret = unique('client-secret');
    async function oauthPeer(t: TestContext, lifetimeS: number) {
      const started: RestPeer = await ownPeer(t, {
        oauth2: { clientId, clientSecret, lifetimeS },
        allow: (req) => started.validToken(bearerOf(req)),
      });
      const settings = {
        base_url: started.baseUrl,
        auth_type: 'oauth2_client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
        token_url: `${started.origin}/oauth/token`,
        scopes: ['items:read'],
      };
      return { server: started, settings };
    }

    test('the token is fetched once for 10 concurrent calls, and refreshed once when revoked', async (t) => {
      const { server, settings } = await oauthPeer(t, 3600);
      const api = open(t, settings);
      const first = await Promise.all(Array.from({ length: 10 }, () => api.execute(call({ path: '/items' }))));
      assert.deepEqual(new Set(first.map((result) => answer(result).status)), new Set([200]));
      assert.equal(server.tokensIssued, 1);
      server.revokeTokens(); // every call now meets a 401, drops the token, and the refresh is shared
      const second = await Promise.all(Array.from({ length: 10 }, () => api.execute(call({ path: '/items' }))));
      assert.deepEqual(new Set(second.map((result) => answer(result).status)), new Set([200]));
      assert.equal(server.tokensIssued, 2);
    });

    test('a token is used until it expires, then fetched again', async (t) => {
      const { server, settings } = await oauthPeer(t, 2);
      const api = open(t, settings);
      await api.execute(call({ path: '/items' }));
      assert.equal(server.tokensIssued, 1);
      await sleep(2_500); // the 2 s token is dropped at 1.8 s
      assert.equal(answer(await api.execute(call({ path: '/items' }))).status, 200);
      assert.equal(server.tokensIssued, 2);
    });

    test('a wrong client secret: auth_failed', async (t) => {
      const { settings } = await oauthPeer(t, 3600);
      const result = await open(t).harness.test('rest', { ...settings, client_secret: unique('wrong-secret') });
      assert.equal(result.error_code, 'auth_failed', result.message);
    });
  });
});
