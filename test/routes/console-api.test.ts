import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { SECURE_COOKIE, PLAIN_COOKIE } from '../../src/plugins/console-session.js';
import { catalogueForRegistry } from '../../src/providers/catalogue.js';
import { SessionService, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from '../../src/services/accounts/session-service.js';
import { build, type TestApp } from '../support/app.js';
import { client, ok, problem } from '../support/http.js';
import { closedPort } from '../support/listeners.js';
import { requireServer } from '../support/servers.js';
import { asUser, installation } from '../support/contexts.js';

const pg = { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' };
const LOOPBACK = 'http://127.0.0.1';

/** Signs in as a browser would on loopback; returns the cookie pair to send back. */
async function signIn(app: FastifyInstance, key: string, host = '127.0.0.1') {
  const response = await app.inject({ method: 'POST', url: '/api/v1/sessions', headers: { host, origin: `http://${host}` }, payload: { api_key: key } });
  const setCookie = String(response.headers['set-cookie'] ?? '');
  return { response, setCookie, cookie: setCookie.split(';')[0] as string };
}

const cookieCall = (app: FastifyInstance, cookie: string, headers: Record<string, string> = {}) =>
  (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown) =>
    app.inject({ method, url: `/api/v1${url}`, headers: { host: '127.0.0.1', cookie, ...headers }, payload: payload as never });

const consoleHeaders = { 'x-patchbay-console': '1', origin: LOOPBACK };

async function auditActions(ctx: TestApp): Promise<string[]> {
  return (await ctx.models.AuditEvent.findAll({ order: [['created_at', 'ASC']] })).map((e) => `${e.action}:${e.outcome}`);
}

describe('console sessions', () => {
  it('trades an API key for an HttpOnly, SameSite=Strict, __Host- cookie on loopback, plain over http elsewhere', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const { response, setCookie } = await signIn(ctx.app, admin.key);
    const body = ok<{ user: { id: string }; organizations: { slug: string; role: string }[]; session: { expires_at: string } }>(response, 201);
    assert.equal(body.user.id, admin.userId);
    assert.deepEqual(body.organizations.map((o) => [o.slug, o.role]), [[admin.orgSlug, 'admin']]);
    assert.match(setCookie, new RegExp(`^${SECURE_COOKIE}=pbs_[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict; Max-Age=\\d+; Secure$`));
    assert.ok(!response.body.includes(admin.key), 'the key is not echoed');
    assert.ok(!response.body.includes(setCookie.split(';')[0]?.split('=')[1] as string), 'the session value is only in the cookie');

    const remote = await signIn(ctx.app, admin.key, 'patchbay.example.test');
    assert.match(remote.setCookie, new RegExp(`^${PLAIN_COOKIE}=pbs_\\S+; Path=/; HttpOnly; SameSite=Strict; Max-Age=\\d+$`));
    // The session row keeps a hash, never the value.
    const rows = await ctx.models.ConsoleSession.findAll();
    assert.equal(rows.length, 2);
    for (const row of rows) assert.ok(!setCookie.includes(row.token_hash));
  });

  it('authenticates by cookie, needs the console header and our Origin for changes, and signs out', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const { cookie } = await signIn(ctx.app, admin.key);
    const plain = cookieCall(ctx.app, cookie);
    const me = ok<{ user: { id: string }; session: { expires_at: string } | null }>(await plain('GET', '/me'));
    assert.equal(me.user.id, admin.userId);
    assert.ok(me.session?.expires_at);
    ok(await plain('GET', '/connectors'));

    // CSRF: an unsafe request without the header, or from another origin, is refused.
    problem(await plain('POST', '/agents', { id: 'agent-csrf' }), 403, 'forbidden');
    problem(await cookieCall(ctx.app, cookie, { 'x-patchbay-console': '1', origin: 'http://evil.example' })('POST', '/agents', { id: 'agent-csrf' }), 403, 'forbidden');
    problem(await cookieCall(ctx.app, cookie, { 'x-patchbay-console': '1' })('POST', '/agents', { id: 'agent-csrf' }), 403, 'forbidden');
    ok(await cookieCall(ctx.app, cookie, consoleHeaders)('POST', '/agents', { id: 'agent-csrf' }), 201);

    // An Authorization header wins over the cookie.
    const other = await ctx.user('member');
    const bearerWins = await ctx.app.inject({ method: 'GET', url: '/api/v1/me', headers: { host: '127.0.0.1', cookie, authorization: `Bearer ${other.key}` } });
    assert.equal(ok<{ user: { id: string } }>(bearerWins).user.id, other.userId);

    // Sign-in from another origin is refused before the key is even looked at.
    const crossSite = await ctx.app.inject({ method: 'POST', url: '/api/v1/sessions', headers: { host: '127.0.0.1', origin: 'http://evil.example' }, payload: { api_key: admin.key } });
    problem(crossSite, 403, 'forbidden');

    problem(await plain('DELETE', '/sessions/current'), 403, 'forbidden');
    const out = await cookieCall(ctx.app, cookie, consoleHeaders)('DELETE', '/sessions/current');
    assert.equal(out.statusCode, 204);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    problem(await plain('GET', '/me'), 401, 'unauthenticated');
    // Signing out again is harmless.
    assert.equal((await cookieCall(ctx.app, cookie, consoleHeaders)('DELETE', '/sessions/current')).statusCode, 204);

    const actions = await auditActions(ctx);
    assert.ok(actions.includes('session.login:success'));
    assert.ok(actions.includes('session.logout:success'));
    const login = await ctx.models.AuditEvent.findOne({ where: { action: 'session.login' } });
    assert.equal(login?.organization_id, admin.orgId, 'the organisation admins see sign-ins');
  });

  it('refuses unknown keys (audited), and ends sessions when their API key is revoked', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const wrong = 'pbk_' + 'A'.repeat(43);
    problem((await signIn(ctx.app, wrong)).response, 401, 'unauthenticated');
    problem((await signIn(ctx.app, 'not a key at all')).response, 401, 'unauthenticated');
    const failed = await ctx.models.AuditEvent.findAll({ where: { action: 'session.login_failed' } });
    assert.equal(failed.length, 2);
    for (const event of failed) assert.ok(!JSON.stringify(event.toJSON()).includes(wrong), 'the presented value is not recorded');
    assert.ok(!ctx.logs.text.includes(wrong), 'nor logged');

    const key = await ctx.accounts.issueApiKey(asUser(admin.userId), admin.userId);
    const { cookie } = await signIn(ctx.app, key.key);
    ok(await cookieCall(ctx.app, cookie)('GET', '/me'));
    await ctx.accounts.revokeApiKey(installation, key.id);
    problem(await cookieCall(ctx.app, cookie)('GET', '/me'), 401, 'unauthenticated');
  });

  it('expires after the idle time and after the absolute lifetime however active', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    let now = new Date('2030-01-01T00:00:00Z');
    const sessions = new SessionService(ctx.models, () => now);
    const principal = (await ctx.accounts.authenticate(admin.key))!;

    const idle = await sessions.start({}, principal);
    now = new Date(now.getTime() + SESSION_IDLE_MS - 1000);
    assert.ok(await sessions.authenticate(idle.token), 'still live just before the idle limit');
    now = new Date(now.getTime() + SESSION_IDLE_MS - 1000);
    assert.ok(await sessions.authenticate(idle.token), 'activity moved the idle limit on');
    now = new Date(now.getTime() + SESSION_IDLE_MS + 1000);
    assert.equal(await sessions.authenticate(idle.token), null, 'idle too long');

    const busy = await sessions.start({}, principal);
    const end = now.getTime() + SESSION_ABSOLUTE_MS;
    while (now.getTime() < end - SESSION_IDLE_MS / 2) {
      now = new Date(now.getTime() + SESSION_IDLE_MS / 2);
      assert.ok(await sessions.authenticate(busy.token));
    }
    now = new Date(end + 1);
    assert.equal(await sessions.authenticate(busy.token), null, 'past the absolute lifetime');
    // The next sign-in sweeps both expired rows away.
    await sessions.start({}, principal);
    assert.equal(await ctx.models.ConsoleSession.count(), 1);
  });

  it('never lets CORS carry credentials', async (t) => {
    const ctx = await build(t, { env: { PATCHBAY_ALLOWED_ORIGINS: 'https://app.example.test' } });
    if (!ctx) return;
    const preflight = await ctx.app.inject({
      method: 'OPTIONS',
      url: '/api/v1/me',
      headers: { origin: 'https://app.example.test', 'access-control-request-method': 'GET' },
    });
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.test');
    assert.equal(preflight.headers['access-control-allow-credentials'], undefined);
  });
});

async function seeded(t: TestContext) {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const ctx = await build(t);
  if (!ctx) return undefined;
  const admin = await ctx.user('admin');
  const call = client(ctx.app, admin.key);
  return { ctx, admin, call };
}

describe('console views of connectors', () => {
  it('lists each connector with its recent checks, oldest first, in one page', async (t) => {
    const s = await seeded(t);
    if (!s) return;
    const good = ok<{ id: string }>(await s.call('POST', '/connectors', { name: 'good', connector_type: 'database', provider: 'postgresql', config: pg }), 201);
    const bad = ok<{ id: string }>(
      await s.call('POST', '/connectors', { name: 'bad', connector_type: 'database', provider: 'postgresql', config: { ...pg, port: await closedPort() } }),
      201,
    );
    ok(await s.call('POST', '/connectors', { name: 'never', connector_type: 'database', provider: 'postgresql', config: pg }), 201);
    for (let i = 0; i < 3; i++) ok(await s.call('POST', `/connectors/${good.id}/test`));
    ok(await s.call('POST', `/connectors/${bad.id}/test`));
    const list = ok<{ data: { name: string; recent_health: { success: boolean; latency_ms: number; checked_at: string }[] }[] }>(await s.call('GET', '/connectors'));
    const byName = Object.fromEntries(list.data.map((c) => [c.name, c.recent_health]));
    assert.deepEqual(byName.good?.map((c) => c.success), [true, true, true]);
    assert.deepEqual(byName.bad?.map((c) => c.success), [false]);
    assert.deepEqual(byName.never, []);
    const times = byName.good?.map((c) => c.checked_at) ?? [];
    assert.deepEqual(times, [...times].sort());
  });

  it('answers which agents use a connector', async (t) => {
    const s = await seeded(t);
    if (!s) return;
    const connector = ok<{ id: string }>(await s.call('POST', '/connectors', { name: 'shared', connector_type: 'database', provider: 'postgresql', config: pg }), 201);
    ok(await s.call('POST', '/agents', { id: 'agent-a' }), 201);
    ok(await s.call('POST', '/agents', { id: 'agent-b' }), 201);
    ok(await s.call('POST', `/connectors/${connector.id}/attach`, { agent_id: 'agent-a', alias: 'db' }), 201);
    ok(await s.call('POST', `/connectors/${connector.id}/attach`, { agent_id: 'agent-b', alias: 'orders' }), 201);
    const attachments = ok<{ data: { agent_id: string; alias: string }[] }>(await s.call('GET', `/connectors/${connector.id}/attachments`));
    assert.deepEqual(attachments.data.map((a) => `${a.agent_id}/${a.alias}`).sort(), ['agent-a/db', 'agent-b/orders']);
    const stranger = await s.ctx.user('admin');
    problem(await client(s.ctx.app, stranger.key)('GET', `/connectors/${connector.id}/attachments`), 404, 'not_found');
  });

  it('tests a draft with the stored secrets only while no destination field changed', async (t) => {
    const s = await seeded(t);
    if (!s) return;
    const secret = `draft-secret-${Date.now()}`;
    const connector = ok<{ id: string }>(
      await s.call('POST', '/connectors', { name: 'drafted', connector_type: 'database', provider: 'postgresql', config: { ...pg, password: secret } }),
      201,
    );
    // Same place: the stored password comes along (trust auth accepts it), and nothing is recorded.
    const same = ok<{ success: boolean }>(await s.call('POST', `/connectors/${connector.id}/test-draft`, { config: { database: 'postgres', password: '********' } }));
    assert.equal(same.success, true);
    assert.equal(await s.ctx.models.ConnectorHealthCheck.count(), 0, 'a draft test records no health');

    // A new host: the stored password must be entered again.
    const moved = problem(await s.call('POST', `/connectors/${connector.id}/test-draft`, { config: { host: 'localhost' } }), 422, 'validation_failed');
    assert.deepEqual(moved.errors?.map((e) => e.path), ['config.password']);
    const port = await closedPort();
    const entered = ok<{ success: boolean; error_code?: string }>(await s.call('POST', `/connectors/${connector.id}/test-draft`, { config: { port, password: 'typed-again' } }));
    assert.equal(entered.error_code, 'connection_refused');
    // Removing the secret in the draft needs nothing re-entered.
    ok(await s.call('POST', `/connectors/${connector.id}/test-draft`, { config: { host: 'localhost', password: null } }));
    problem(await s.call('POST', `/connectors/${connector.id}/test-draft`, { config: { port: 'x' } }), 422, 'validation_failed');

    const stored = ok<{ config: Record<string, unknown> }>(await s.call('GET', `/connectors/${connector.id}`));
    assert.equal(stored.config.port, 5432, 'the draft changed nothing');
    assert.ok(!s.ctx.logs.text.includes(secret));
    const audit = await s.ctx.models.AuditEvent.findAll({ where: { action: 'connector.test_draft' } });
    assert.ok(audit.length >= 3);
    assert.ok(!JSON.stringify(audit.map((a) => a.toJSON())).includes(secret));
  });
});

describe('catalogue field metadata', () => {
  it('gives every field a label, group and order, enums, formats and visibility rules', () => {
    const catalogue = catalogueForRegistry();
    for (const provider of catalogue) {
      assert.deepEqual(provider.fields.map((f) => f.order), provider.fields.map((_, i) => i), provider.id);
      for (const field of provider.fields) {
        assert.ok(field.label.length > 0);
        assert.ok(['Connection', 'Authentication', 'TLS', 'Advanced'].includes(field.group), `${provider.id}.${field.name}`);
        if (field.format === 'pem' || field.format === 'json') assert.equal(field.multiline, true);
      }
    }
    const field = (provider: string, name: string) => catalogue.find((p) => p.id === provider)?.fields.find((f) => f.name === name);
    assert.equal(field('postgresql', 'host')?.format, 'hostname');
    assert.equal(field('postgresql', 'host')?.label, 'Host');
    assert.equal(field('postgresql', 'password')?.group, 'Authentication');
    assert.equal(field('postgresql', 'tls_ca')?.format, 'pem');
    assert.deepEqual(field('postgresql', 'tls_ca')?.visible_when, { ssl: [true] });
    assert.equal(field('postgresql', 'connect_timeout_ms')?.label, 'Connect timeout (ms)');
    assert.equal(field('rest', 'base_url')?.format, 'uri');
    assert.deepEqual(field('rest', 'token')?.visible_when, { auth_type: ['bearer'] });
    assert.deepEqual(field('rest', 'auth_type')?.enum, ['none', 'bearer', 'basic', 'api_key', 'oauth2_client_credentials']);
    assert.equal(field('gcs', 'credentials_json')?.format, 'json');
  });

  it('serves the metadata on GET /connectors/types', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('member');
    const types = ok<{ data: { providers: { provider: string; fields: { name: string; label: string; group: string; visible_when?: unknown }[] }[] }[] }>(
      await client(ctx.app, admin.key)('GET', '/connectors/types'),
    );
    const rest = types.data.flatMap((t) => t.providers).find((p) => p.provider === 'rest');
    assert.deepEqual(rest?.fields.find((f) => f.name === 'token'), { ...rest?.fields.find((f) => f.name === 'token'), label: 'Token', group: 'Authentication', visible_when: { auth_type: ['bearer'] } });
  });
});

describe('console static serving', () => {
  async function withBuild(t: TestContext) {
    const dir = await mkdtemp(path.join(tmpdir(), 'patchbay-console-build-'));
    await mkdir(path.join(dir, 'assets'));
    await writeFile(
      path.join(dir, 'index.html'),
      '<!doctype html><html><head><script type="module" crossorigin src="/console/assets/app-abc123.js"></script><link rel="stylesheet" href="/console/assets/app-abc123.css"></head><body><div id="root"></div></body></html>',
    );
    await writeFile(path.join(dir, 'assets', 'app-abc123.js'), 'console.log(1)');
    await writeFile(path.join(dir, 'assets', 'app-abc123.css'), 'body{}');
    const { buildApp } = await import('../../src/app.js');
    const base = await build(t);
    if (!base) return undefined;
    const app = await buildApp({ config: base.config, keyRing: base.keyRing, sequelize: base.models.ApiKey.sequelize!, consoleDir: dir, logger: pino({ level: 'silent' }) });
    t.after(() => app.close());
    return app;
  }

  it('serves index.html with no-store and a fresh nonce in the exact CSP, immutable assets, and / redirects', async (t) => {
    const app = await withBuild(t);
    if (!app) return;
    const first = await app.inject({ method: 'GET', url: '/console/' });
    const second = await app.inject({ method: 'GET', url: '/console/o/default/connectors' });
    for (const page of [first, second]) {
      assert.equal(page.statusCode, 200);
      assert.equal(page.headers['cache-control'], 'no-store');
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
    }
    const nonce = (csp: unknown) => /'nonce-([^']+)'/.exec(String(csp))?.[1] as string;
    const n1 = nonce(first.headers['content-security-policy']);
    assert.notEqual(n1, nonce(second.headers['content-security-policy']), 'a fresh nonce per response');
    assert.equal(
      first.headers['content-security-policy'],
      `default-src 'self'; script-src 'self' 'nonce-${n1}'; style-src 'self' 'nonce-${n1}'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'`,
    );
    assert.ok(first.body.includes(`<script nonce="${n1}" type="module"`));
    const asset = await app.inject({ method: 'GET', url: '/console/assets/app-abc123.js' });
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['cache-control']), /immutable/);
    const root = await app.inject({ method: 'GET', url: '/' });
    assert.equal(root.statusCode, 302);
    assert.equal(root.headers.location, '/console/');
    // The API stays problem+json.
    const missing = await app.inject({ method: 'GET', url: '/api/v1/nothing-here' });
    assert.equal(missing.statusCode, 404);
    assert.match(String(missing.headers['content-type']), /problem\+json/);
  });

  it('serves no console without a build', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const { buildApp } = await import('../../src/app.js');
    const app = await buildApp({ config: ctx.config, keyRing: ctx.keyRing, sequelize: ctx.models.ApiKey.sequelize!, consoleDir: path.join(tmpdir(), 'no-such-console-build'), logger: pino({ level: 'silent' }) });
    t.after(() => app.close());
    assert.equal((await app.inject({ method: 'GET', url: '/console/' })).statusCode, 404);
    assert.equal((await app.inject({ method: 'GET', url: '/' })).statusCode, 404);
  });
});
