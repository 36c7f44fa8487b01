import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it, type TestContext } from 'node:test';
import sqlite3 from 'sqlite3';
import { errorCodes, isErrorCode } from '../../src/errors.js';
import { build, type TestApp } from '../support/app.js';
import { client, ok } from '../support/http.js';
import { requireServer } from '../support/servers.js';

/**
 * A seeded fuzz run over the served OpenAPI document: every operation, valid and mutated, as every kind of caller.
 * Replay a run with FUZZ_SEED=<seed> (printed as a diagnostic); FUZZ_REQUESTS changes the count, and
 * FUZZ_DIALECT=postgres runs it on a PostgreSQL database instead of SQLite.
 *
 * Whatever is mutated, nothing here may make the app dial anything but loopback: connector configs and webhook
 * URLs only ever take loopback addresses, and providers only those whose servers run on this machine.
 */

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 2000);

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  return { next, int, pick, chance: (p: number) => next() < p };
}
type Rng = ReturnType<typeof prng>;

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  format?: string;
  pattern?: string;
};
interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  parameters: { name: string; in: 'path' | 'query' }[];
  body?: JsonSchema;
}

const deepJson = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const deepValue = (depth: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i += 1) value = { a: value };
  return value;
};

/** Strings that name or identify nothing well: control characters, lone surrogates, huge, odd but printable. */
const ODD_STRINGS = [
  '',
  ' ',
  'a\u0000b',
  '\u0000',
  'x\u0001y',
  'tab\there',
  'line\nbreak',
  'del\u007f',
  'c1\u0085',
  'lone\ud800',
  'lone\udfff',
  '😀',
  'é',
  '../../etc/passwd',
  "'; DROP TABLE pb_agents; --",
  '%00',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  'x'.repeat(300),
  'y'.repeat(70_000),
];
/** Values of any type, for a field whose type is wrong. */
const ODD_VALUES: unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e308,
  -0,
  true,
  false,
  [],
  [null],
  {},
  { __proto__: { polluted: true } },
  deepValue(20),
  deepValue(63),
  'string',
];

/** Path parameter values, percent-encoded as a client would send them. */
const ODD_PARAMS = [
  'abc%00',
  '%00',
  'a%01b',
  'x%7F',
  '%C2%85',
  '%ED%A0%80',
  '%zz',
  '%',
  'a'.repeat(129),
  'a'.repeat(5000),
  '..',
  '%2e%2e',
  'a%2Fb',
  '%F0%9F%98%80',
  'null',
  '0',
  '-1',
  '00000000-0000-0000-0000-000000000000',
  "'%20OR%20'1'%3D'1",
  'agt_' + 'Z'.repeat(12),
];

/** Query values, percent-encoded. */
const ODD_QUERY = ['', '%00', 'a%00b', '-1', '0', '201', '1e309', 'NaN', 'true', 'x'.repeat(3000), '%E2%80%AE', '[]', '%7B%7D', 'a,b,,c'];

/** Loopback only: these go where a host or URL goes. */
const LOOPBACK_HOSTS = ['127.0.0.1', '127.0.0.2', '::1'];
const LOOPBACK_URLS = ['http://127.0.0.1:9/hook', 'https://127.0.0.1:1/', 'http://[::1]:9/x', 'ftp://127.0.0.1/', 'not a url', '', 'http://'];
const HOST_KEYS = new Set(['host', 'hostname', 'servers', 'brokers', 'url', 'base_url', 'endpoint', 'wsdl_url', 'connection_string', 'queue_url', 'token_url', 'account', 'api_endpoint']);

interface Seeded {
  ctx: TestApp;
  sentinel: string;
  orgSlug: string;
  orgId: string;
  otherOrgSlug: string;
  keys: { admin: string; developer: string; member: string; otherOrgAdmin: string };
  tokens: { own: string; other: string };
  ids: Record<string, string>;
}

async function seed(t: TestContext): Promise<Seeded | undefined> {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const root = mkdtempSync(path.join(os.tmpdir(), 'patchbay-fuzz-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await new Promise<void>((resolve, reject) => {
    const db = new sqlite3.Database(path.join(root, 'fuzz.db'), (error) => {
      if (error) return reject(error);
      db.exec("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items (name) VALUES ('one'), ('two');", (execError) =>
        db.close(() => (execError ? reject(execError) : resolve())),
      );
    });
  });
  const ctx = await build(t, { dialect: process.env.FUZZ_DIALECT === 'postgres' ? 'postgres' : 'sqlite', env: { PATCHBAY_SQLITE_ROOT: root, PATCHBAY_RATE_LIMIT_PER_KEY: '1000000' } });
  if (!ctx) return undefined;
  const sentinel = `sentinel-${randomBytes(12).toString('hex')}`;
  const admin = await ctx.user('admin', { operator: true });
  const developer = await ctx.user('developer', { org: admin.orgSlug });
  const member = await ctx.user('member', { org: admin.orgSlug });
  const victim = await ctx.user('member', { org: admin.orgSlug });
  const otherOrgAdmin = await ctx.user('admin');
  const asAdmin = client(ctx.app, admin.key);

  const pg = ok<{ id: string }>(
    await asAdmin('POST', '/connectors', {
      name: 'pg',
      connector_type: 'database',
      provider: 'postgresql',
      config: { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres', password: sentinel },
    }),
    201,
  );
  const lite = ok<{ id: string }>(
    await asAdmin('POST', '/connectors', { name: 'lite', connector_type: 'database', provider: 'sqlite', config: { path: 'fuzz.db' } }),
    201,
  );
  const doomed = ok<{ id: string }>(
    await asAdmin('POST', '/connectors', { name: 'doomed', connector_type: 'database', provider: 'sqlite', config: { path: 'fuzz.db' } }),
    201,
  );
  for (const id of ['agent-a', 'agent-b', 'agent-doomed']) ok(await asAdmin('POST', '/agents', { id, name: id }), 201);
  const attachPg = ok<{ id: string }>(await asAdmin('POST', `/connectors/${pg.id}/attach`, { agent_id: 'agent-a', alias: 'pg' }), 201);
  ok(await asAdmin('POST', `/connectors/${lite.id}/attach`, { agent_id: 'agent-a', alias: 'lite', mode: 'read_write' }), 201);
  const doomedAttachment = ok<{ id: string }>(
    await asAdmin('POST', `/connectors/${lite.id}/attach`, { agent_id: 'agent-b', alias: 'doomed' }),
    201,
  );
  const own = ok<{ id: string; token: string }>(await asAdmin('POST', '/agents/agent-a/tokens', { name: 'own' }), 201);
  const spare = ok<{ id: string }>(await asAdmin('POST', '/agents/agent-a/tokens', { name: 'spare' }), 201);
  const other = ok<{ token: string }>(await asAdmin('POST', '/agents/agent-b/tokens', {}), 201);
  const spareKey = ok<{ id: string }>(await asAdmin('POST', '/api-keys', { name: 'spare' }), 201);
  const webhook = ok<{ id: string }>(
    await asAdmin('POST', '/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['connector.deleted'], secret: 'w'.repeat(24) }),
    201,
  );
  const doomedHook = ok<{ id: string }>(
    await asAdmin('POST', '/webhooks', { url: 'http://127.0.0.1:9/doomed', events: ['connector.failing'], secret: 'd'.repeat(24) }),
    201,
  );
  const registry = ok<{ agent_classes: { uuid: string }[]; connector_classes: { uuid: string }[] }>(await asAdmin('GET', '/registry'));
  return {
    ctx,
    sentinel,
    orgSlug: admin.orgSlug,
    orgId: admin.orgId,
    otherOrgSlug: otherOrgAdmin.orgSlug,
    keys: { admin: admin.key, developer: developer.key, member: member.key, otherOrgAdmin: otherOrgAdmin.key },
    tokens: { own: own.token, other: other.token },
    ids: {
      pg: pg.id,
      lite: lite.id,
      doomed: doomed.id,
      instance: attachPg.id,
      doomedInstance: doomedAttachment.id,
      spareToken: spare.id,
      spareKey: spareKey.id,
      webhook: webhook.id,
      doomedHook: doomedHook.id,
      victim: victim.userId,
      developerUser: '',
      agentClass: registry.agent_classes[0]?.uuid ?? randomUuid(),
      connectorClass: registry.connector_classes[0]?.uuid ?? randomUuid(),
    },
  };
}

const randomUuid = () => `${randomBytes(4).toString('hex')}-0000-4000-8000-${randomBytes(6).toString('hex')}`;

/** The valid value of a path parameter: deletes aim at resources kept for them, so the rest stays reachable. */
function pathValue(s: Seeded, op: Operation, name: string, rng: Rng): string {
  const deleting = op.method === 'DELETE';
  const { ids } = s;
  switch (name) {
    case 'id':
      if (op.path.startsWith('/api/v1/agents')) return deleting && !op.path.includes('/tokens/') && !op.path.endsWith('/mcp') ? 'agent-doomed' : rng.pick(['agent-a', 'agent-a', 'agent-b']);
      if (op.path.startsWith('/api/v1/webhooks')) return deleting ? ids.doomedHook! : ids.webhook!;
      return deleting ? ids.doomed! : rng.pick([ids.pg!, ids.lite!]);
    case 'instance_id':
      return deleting ? ids.doomedInstance! : ids.instance!;
    case 'token_id':
      return ids.spareToken!;
    case 'key_id':
      return ids.spareKey!;
    case 'user_id':
      return ids.victim!;
    case 'alias':
      return rng.pick(['pg', 'lite']);
    case 'uuid':
      return op.path.includes('agent-classes') ? ids.agentClass! : ids.connectorClass!;
    default:
      return 'unknown-id';
  }
}

const pgConfig = () => ({ host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' });
const liteConfig = () => ({ path: 'fuzz.db' });

function validConfig(rng: Rng): { provider: string; connector_type: string; config: Record<string, unknown> } {
  return rng.pick([
    { provider: 'postgresql', connector_type: 'database', config: pgConfig() },
    { provider: 'sqlite', connector_type: 'database', config: liteConfig() },
    { provider: 'redis', connector_type: 'database', config: { host: '127.0.0.1', port: 6379 } },
    { provider: 'mysql', connector_type: 'database', config: { host: '127.0.0.1', port: 3306, username: 'root', database: 'test' } },
  ]);
}

const QUERIES = [
  { query: 'SELECT 1 AS one' },
  { query: 'SELECT :a AS a', params: { a: 1 } },
  { query: 'SELECT :a AS a', params: { a: 'text' } },
  { query: 'SELECT * FROM items' },
  { operation: 'describe' },
  { query: 'SELECT 1; SELECT 2' },
  { query: 'CREATE TABLE fuzz_t (x int)' },
  { query: '/* unterminated' },
  { query: '(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((SELECT 1)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))' },
  { query: 'SELECT ' + '('.repeat(5000) + '1' + ')'.repeat(5000) },
  { query: "SELECT 'a\u0000b'" },
  { query: 'SELECT $1', params: {} },
];

/** A body the operation accepts; half the time with the schema's optional fields too, so that they get mutated. */
function validBody(s: Seeded, op: Operation, rng: Rng, n: number): unknown {
  const known = knownBody(s, op, rng, n);
  if (known === undefined) return op.body ? fromSchema(op.body, rng, 'body', n) : undefined;
  if (Array.isArray(known) || !op.body?.properties || rng.chance(0.5)) return known;
  return { ...(fromSchema(op.body, rng, 'body', n) as Record<string, unknown>), ...(known as Record<string, unknown>) };
}

/** A body the operation accepts, as far as a generator knows the product. */
function knownBody(s: Seeded, op: Operation, rng: Rng, n: number): unknown {
  const key = `${op.method} ${op.path}`;
  if (key.endsWith('/execute')) return { ...rng.pick(QUERIES) };
  if (key.endsWith('/mcp')) {
    return rng.pick([
      { jsonrpc: '2.0', id: n, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } },
      { jsonrpc: '2.0', id: n, method: 'tools/list' },
      { jsonrpc: '2.0', id: n, method: 'tools/call', params: { name: rng.pick(['pg__query', 'lite__query', 'pg__describe', 'nope__x']), arguments: { ...rng.pick(QUERIES) } } },
      [{ jsonrpc: '2.0', id: n, method: 'tools/list' }, { jsonrpc: '2.0', method: 'notifications/initialized' }],
      { jsonrpc: '2.0', id: n, method: 'ping' },
    ]);
  }
  if (key === 'POST /api/v1/connectors/') return { name: `fuzz-${n}`, ...validConfig(rng) };
  if (key === 'POST /api/v1/connectors/test') return validConfig(rng);
  if (key === 'PUT /api/v1/connectors/{id}') return rng.pick([{ description: `d${n}` }, { config: { password: s.sentinel } }, { config: { port: 5432 } }, { name: `renamed-${n}` }]);
  if (key === 'POST /api/v1/connectors/{id}/attach') return { agent_id: rng.pick(['agent-a', 'agent-b']), alias: `a${n}` };
  if (key === 'PATCH /api/v1/connectors/instances/{instance_id}') return rng.pick([{ limits: { max_rows: 10 } }, { config_override: { database: 'test' } }, { alias: 'pg' }, { mode: 'read' }]);
  if (key === 'POST /api/v1/members/') return { email: `fuzz-${n}@example.test`, role: rng.pick(['member', 'developer']) };
  if (key === 'POST /api/v1/webhooks/') return { url: 'http://127.0.0.1:9/hook', events: ['connector.deleted'], secret: 's'.repeat(20) };
  if (key === 'POST /api/v1/agents/') return { id: `agent-${n}`, name: `fuzz ${n}` };
  return undefined;
}

/** A value that satisfies the schema, roughly; fields that would reach the network are kept on loopback. */
function fromSchema(schema: JsonSchema, rng: Rng, name: string, n: number): unknown {
  if (schema.anyOf) return fromSchema(schema.anyOf.find((branch) => branch.type !== 'null') ?? {}, rng, name, n);
  if (schema.enum) return rng.pick(schema.enum);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      if (name === 'config' || name === 'config_override') return liteConfig();
      const out: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(schema.properties ?? {})) {
        if (schema.required?.includes(key) || rng.chance(0.3)) out[key] = fromSchema(child, rng, key, n);
      }
      return out;
    }
    case 'array':
      return Array.from({ length: Math.max(schema.minItems ?? 0, 1) }, () => fromSchema(schema.items ?? {}, rng, name, n));
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, Math.min(schema.maximum ?? 100, 10));
    case 'boolean':
      return rng.chance(0.5);
    case 'string':
      if (HOST_KEYS.has(name)) return rng.pick(LOOPBACK_URLS);
      if (schema.format === 'date-time') return new Date(Date.now() + 86_400_000).toISOString();
      if (schema.format === 'email') return `fuzz-${n}@example.test`;
      if (schema.pattern) return `a${n}`;
      return `fuzz-${n}`.padEnd(schema.minLength ?? 1, 'x');
    default:
      return `fuzz-${n}`;
  }
}

/** One field of a body, replaced: wrong types, odd strings, huge and deep values; hosts and URLs stay loopback. */
function mutateField(body: unknown, rng: Rng): unknown {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return rng.pick(ODD_VALUES);
  const copy = { ...(body as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const key = keys.length && rng.chance(0.85) ? rng.pick(keys) : rng.pick(['surprise', 'mode', 'operation', 'params', '__proto__', 'constructor']);
  const current = copy[key];
  if ((key === 'config' || key === 'config_override') && current && typeof current === 'object') {
    const config = { ...(current as Record<string, unknown>) };
    const field = rng.pick([...Object.keys(config), 'password', 'port', 'surprise', 'database', 'schema', 'connection_string', 'path']);
    config[field] = HOST_KEYS.has(field)
      ? rng.pick([...LOOPBACK_HOSTS, null, 5, { a: 1 }, ['127.0.0.1']])
      : rng.pick([...ODD_VALUES, ...ODD_STRINGS, 'fuzz.db', '../outside.db', '/etc/passwd']);
    copy[key] = config;
  } else if (HOST_KEYS.has(key)) {
    copy[key] = rng.pick([...LOOPBACK_URLS, null, 5, [], deepValue(63)]);
  } else if (key === 'params' && current && typeof current === 'object') {
    copy[key] = { ...(current as Record<string, unknown>), a: rng.pick([...ODD_VALUES, ...ODD_STRINGS]) };
  } else {
    copy[key] = rng.pick([...ODD_VALUES, ...ODD_STRINGS]);
  }
  return copy;
}

type Caller = { name: string; headers: Record<string, string> };

function callers(s: Seeded): Caller[] {
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  return [
    { name: 'none', headers: {} },
    { name: 'bad key', headers: bearer(`pbk_${randomBytes(16).toString('hex')}`) },
    { name: 'bad token', headers: bearer(`pbt_${randomBytes(16).toString('hex')}`) },
    { name: 'member', headers: bearer(s.keys.member) },
    { name: 'developer', headers: bearer(s.keys.developer) },
    { name: 'admin', headers: bearer(s.keys.admin) },
    { name: 'other org admin', headers: bearer(s.keys.otherOrgAdmin) },
    { name: 'other agent', headers: bearer(s.tokens.other) },
    { name: 'own agent', headers: bearer(s.tokens.own) },
  ];
}

/** Headers a client may send, spelled oddly (never a byte HTTP itself forbids: no NUL, CR or LF). */
function oddHeaders(s: Seeded, caller: Caller, rng: Rng): Record<string, string> {
  const credential = caller.headers.authorization?.split(' ')[1] ?? s.keys.member;
  return rng.pick<Record<string, string>>([
    { authorization: `bearer ${credential}` },
    { authorization: `BEARER  ${credential}` },
    { authorization: `Bearer\t${credential}` },
    { authorization: `Bearer ${credential} ` },
    { authorization: `Bearer ${credential} extra` },
    { authorization: `Basic ${Buffer.from(`u:${credential}`).toString('base64')}` },
    { authorization: 'Bearer' },
    { authorization: 'Bearer ' },
    { authorization: `Bearer ${'k'.repeat(5000)}` },
    { authorization: `Bearer ${credential}\u00e9` },
    { authorization: `Token ${credential}` },
    { ...caller.headers, 'x-organization-id': s.otherOrgSlug },
    { ...caller.headers, 'x-organization-id': s.orgId },
    { ...caller.headers, 'x-organization-id': '' },
    { ...caller.headers, 'x-organization-id': 'o'.repeat(5000) },
    { ...caller.headers, 'x-organization-id': 'org\tname' },
    { ...caller.headers, 'x-organization-id': '\u00ff\u00fe' },
    { ...caller.headers, 'x-organization-id': "' OR 1=1 --" },
    { ...caller.headers, 'if-match': rng.pick(['"1"', '"-1"', 'W/"1"', '*', '"99999999999999999999"', 'yesterday', '""']) },
    { ...caller.headers, accept: rng.pick(['text/event-stream', 'application/xml', '*/*', 'application/json, text/event-stream', '']) },
    { ...caller.headers, 'mcp-session-id': 'x' },
  ]);
}

interface Request {
  method: Operation['method'];
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

function buildRequest(s: Seeded, op: Operation, caller: Caller, rng: Rng, n: number): { request: Request; mutation: string } {
  let pathParams = Object.fromEntries(op.parameters.filter((p) => p.in === 'path').map((p) => [p.name, encodeURIComponent(pathValue(s, op, p.name, rng))]));
  const query: [string, string][] = [];
  let headers: Record<string, string> = { ...caller.headers };
  let body = validBody(s, op, rng, n);
  let payload: string | undefined = body === undefined ? undefined : JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = 'application/json';

  const kinds = ['valid', 'param', 'query', 'field', 'field', 'body', 'headers', 'caller'] as const;
  const mutation = rng.pick(kinds);
  switch (mutation) {
    case 'param': {
      const names = Object.keys(pathParams);
      if (names.length) pathParams = { ...pathParams, [rng.pick(names)]: rng.pick(ODD_PARAMS) };
      else query.push(['id', rng.pick(ODD_QUERY)]);
      break;
    }
    case 'query': {
      const declared = op.parameters.filter((p) => p.in === 'query').map((p) => p.name);
      const name = declared.length && rng.chance(0.8) ? rng.pick(declared) : rng.pick(['surprise', '__proto__', 'limit', 'cursor']);
      const value = rng.chance(0.2)
        ? Buffer.from(JSON.stringify(rng.pick<unknown>([['2020-01-01T00:00:00Z', 'a\u0000b'], ['x', 1], [{}, []], deepValue(10), 'str', null, ['2020-01-01T00:00:00Z', '1'.repeat(400)]]))).toString('base64url')
        : rng.pick(ODD_QUERY);
      query.push([name, value]);
      if (rng.chance(0.3)) query.push([name, rng.pick(ODD_QUERY)]);
      break;
    }
    case 'field':
      body = mutateField(body ?? {}, rng);
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
      break;
    case 'body': {
      const choice = rng.pick([
        ['{"name": "x",', 'application/json'],
        ['', 'application/json'],
        ['null', 'application/json'],
        ['42', 'application/json'],
        ['"text"', 'application/json'],
        ['[]', 'application/json'],
        ['[1, 2]', 'application/json'],
        ['{"__proto__": {"polluted": true}}', 'application/json'],
        ['{"constructor": {"prototype": {"polluted": true}}}', 'application/json'],
        [deepJson(65), 'application/json'],
        [deepJson(5000), 'application/json'],
        [`{"a": "${'\\u0000'.repeat(10)}"}`, 'application/json'],
        ['{"a": "\\ud800"}', 'application/json'],
        [`[${'0,'.repeat(100_000)}0]`, 'application/json'],
        [payload ?? '{}', 'text/plain'],
        [payload ?? '{}', 'application/xml'],
        [payload ?? '{}', 'application/json; charset=latin1'],
        [payload ?? '{}', 'APPLICATION/JSON'],
        [payload ?? '{}', 'application/jsonx'],
        [payload ?? '{}', 'multipart/form-data; boundary=x'],
        [payload ?? '{}', 'application/x-www-form-urlencoded'],
        [payload ?? '{}', ''],
        ['\u00ff\u00fe{}', 'application/json'],
      ] as const);
      payload = choice[0];
      headers['content-type'] = choice[1];
      break;
    }
    case 'headers':
      headers = { ...headers, ...oddHeaders(s, caller, rng) };
      break;
    case 'caller':
    case 'valid':
      break;
  }
  if (op.method === 'DELETE' && op.path.includes('/connectors/{id}') && rng.chance(0.5)) query.push(['force', rng.pick(['true', 'false', 'yes', '%00'])]);
  const url =
    op.path.replace(/\{(\w+)\}/g, (_, name: string) => pathParams[name] ?? 'x') + (query.length ? `?${query.map(([k, v]) => `${encodeURIComponent(k)}=${v}`).join('&')}` : '');
  return { request: { method: op.method, url, headers, payload }, mutation };
}

it('answers every operation of the OpenAPI document, valid or mutated, as every caller: no 500, problem+json with a registered code, no secret', async (t) => {
  const s = await seed(t);
  if (!s) return;
  const seedValue = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : randomInt(2 ** 31);
  t.diagnostic(`FUZZ_SEED=${seedValue}`);
  const rng = prng(seedValue);
  const document = (await s.ctx.app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json() as {
    paths: Record<string, Record<string, { parameters?: Operation['parameters']; requestBody?: { content: Record<string, { schema: JsonSchema }> } }>>;
  };
  const operations: Operation[] = Object.entries(document.paths).flatMap(([route, methods]) =>
    Object.entries(methods).map(([method, spec]) => ({
      method: method.toUpperCase() as Operation['method'],
      path: route,
      parameters: spec.parameters ?? [],
      body: spec.requestBody?.content['application/json']?.schema,
    })),
  );
  assert.ok(operations.length >= 40, `only ${operations.length} operations in the document`);
  // Deletes last, so the rest meets the seeded resources; every operation gets its share.
  const order = [...operations.filter((op) => op.method !== 'DELETE'), ...operations.filter((op) => op.method === 'DELETE')];
  const share = Math.max(1, Math.floor(REQUESTS / order.length));
  const everyone = callers(s);
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let n = 0;
  for (const op of order) {
    for (let i = 0; i < share; i += 1) {
      n += 1;
      // Mostly callers who get past authorisation, so that the mutations reach validation and the services.
      const privileged = op.path.includes('/{alias}/') || op.path.endsWith('/mcp') ? 'own agent' : rng.pick(['admin', 'admin', 'developer']);
      const caller = rng.chance(0.55) ? (everyone.find((c) => c.name === privileged) as Caller) : rng.pick(everyone);
      const { request, mutation } = buildRequest(s, op, caller, rng, n);
      const response = await s.ctx.app.inject({ method: request.method, url: request.url, headers: request.headers, payload: request.payload });
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      const label = `#${n} ${request.method} ${request.url.slice(0, 160)} as ${caller.name} (${mutation}${request.headers['content-type'] ? `, ${request.headers['content-type']}` : ''}) → ${response.statusCode}`;
      const text = `${response.body}${JSON.stringify(response.headers)}`;
      if (text.includes(s.sentinel) || text.includes(encodeURIComponent(s.sentinel))) failures.push(`${label}: the secret is in the answer`);
      if (response.statusCode === 500) {
        failures.push(`${label}: ${response.body.slice(0, 300)}`);
        continue;
      }
      if (response.statusCode < 400) continue;
      const type = String(response.headers['content-type'] ?? '');
      if (!type.startsWith('application/problem+json')) {
        failures.push(`${label}: not problem+json (${type}): ${response.body.slice(0, 200)}`);
        continue;
      }
      const problem = response.json() as { code?: unknown; status?: unknown };
      if (!isErrorCode(problem.code)) failures.push(`${label}: code ${String(problem.code)} is not in the registry`);
      else if (errorCodes[problem.code].status !== response.statusCode || problem.status !== response.statusCode) {
        failures.push(`${label}: code ${problem.code} with status ${response.statusCode} (body says ${String(problem.status)})`);
      }
      // 5xx other than 500 are an upstream's failure (502, 504): only ever for a call that reached one.
      if (response.statusCode > 500 && !/\/(execute|mcp|test)(\?|$)/.test(request.url.split('?')[0] + '?')) failures.push(`${label}: upstream status without an upstream`);
    }
  }
  for (const line of s.ctx.logs.lines) {
    if (line.includes(s.sentinel) || line.includes(encodeURIComponent(s.sentinel))) failures.push(`the secret is in a log line: ${line.slice(0, 300)}`);
  }
  t.diagnostic(`${n} requests over ${order.length} operations; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
  assert.deepEqual(failures.slice(0, 25), [], `${failures.length} failures with FUZZ_SEED=${seedValue}`);
});


