import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { FieldError } from '../../src/errors.js';
import { getProvider } from '../../src/providers/registry.js';
import { writesFor, type Provider } from '../../src/providers/types.js';
import { minimalConfigs } from '../support/minimal-configs.js';

// The config catalogue of the providers that have no driver yet (postgresql, which has one, is not listed):
// schema, cross-field rules, operations and what each request writes. The conformance suite takes over as
// drivers land.
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';

/** The smallest good config of each provider (postgresql is tested on its own). */
const { postgresql: _postgresql, ...minimal } = minimalConfigs;

/** A connection string or URL given together with the separate fields it replaces. */
const both: Record<string, Record<string, unknown>> = {
  mysql: { host: 'db.internal', connection_string: 'mysql://app:pw@db.internal/app' },
  mongodb: { host: 'mongo.internal', connection_string: 'mongodb://mongo.internal/app' },
  redis: { host: 'cache.internal', url: 'redis://cache.internal:6379' },
  redis_pubsub: { password: 'pw-123', url: 'redis://cache.internal:6379' },
  rabbitmq: { host: 'mq.internal', url: 'amqp://guest:guest@mq.internal' },
  mqtt: { port: 8883, url: 'mqtts://broker.internal' },
  azure_blob: { container: 'c1', connection_string: 'UseDevelopmentStorage=true', account_name: 'acct1', sas_token: 'sv=1' },
};

const ids = Object.keys(minimal);
const providers = new Map<string, Provider>();
for (const id of ids) {
  const found = getProvider(id);
  if (found) providers.set(id, found);
}

function provider(id: string): Provider {
  const found = providers.get(id);
  assert.ok(found, id);
  return found;
}

/** Schema (unknown fields refused, as the registry does) then the provider's cross-field rules. */
function validate(id: string, config: Record<string, unknown>): { data?: Record<string, unknown>; errors: FieldError[] } {
  const p = provider(id);
  const parsed = p.config.strict().safeParse(config);
  if (!parsed.success) return { errors: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) };
  return { data: parsed.data, errors: p.refine?.(parsed.data) ?? [] };
}

const failsAt = (id: string, config: Record<string, unknown>, path: string) => {
  const { errors } = validate(id, config);
  assert.ok(
    errors.some((e) => e.path === path),
    `${id}: expected an error at ${path}, got ${JSON.stringify(errors)}`,
  );
};

const writes = (id: string, operation: string, input: unknown) => {
  const op = provider(id).operations[operation];
  assert.ok(op, `${id}.${operation}`);
  return writesFor(op, op.input.parse(input));
};

const fields = (p: Provider) => Object.entries(p.config.shape as Record<string, z.ZodType>);

describe('provider catalogue', () => {
  for (const id of ids) {
    describe(id, () => {
      it('is the default export of its own file, named by its id', () => {
        const p = provider(id);
        assert.equal(p.id, id);
        assert.ok(['database', 'api', 'storage', 'messaging'].includes(p.type));
        assert.ok(p.description.length > 0);
        // A provider whose driver has landed is proven by its conformance run instead (registry.test.ts).
        if (p.connect === undefined) assert.equal(p.classify(new Error('x')), undefined);
      });

      it('parses its minimal config with defaults applied', () => {
        const { data, errors } = validate(id, minimal[id] ?? {});
        assert.deepEqual(errors, []);
        assert.ok(data);
        if (id !== 'sqlite') {
          assert.equal(data.connect_timeout_ms, 5000);
          assert.equal(data.tls_reject_unauthorized, true);
        }
      });

      it('describes every field; secrets are never overridable, nor hosts, URLs, buckets or containers', () => {
        for (const [name, field] of fields(provider(id))) {
          const meta = field.meta() ?? {};
          assert.ok(typeof meta.description === 'string' && meta.description.length > 0, `${id}.${name} has no description`);
          if (meta.overridable === true) {
            assert.notEqual(meta.secret, true, `${id}.${name} is secret and overridable`);
            assert.ok(!/host|endpoint|url|bucket|container|server|broker|path/.test(name), `${id}.${name} is overridable`);
          }
        }
      });

      it('refuses unknown fields', () => {
        failsAt(id, { ...minimal[id], colour: 'blue' }, '');
      });

      it('declares its operations, each with a described input', () => {
        const p = provider(id);
        assert.ok(Object.keys(p.operations).length > 0);
        if (p.defaultOperation !== undefined) assert.ok(p.operations[p.defaultOperation], 'default is an operation');
        for (const [name, op] of Object.entries(p.operations)) {
          assert.ok(op.description.length > 0, `${id}.${name}`);
          assert.ok(op.input instanceof z.ZodObject, `${id}.${name} input is an object`);
          assert.ok(op.input.def.catchall instanceof z.ZodNever, `${id}.${name} refuses unknown fields`);
        }
      });
    });
  }

  it('marks the shared secrets secret', () => {
    const secretNames = new Set([
      'password',
      'token',
      'api_key',
      'client_secret',
      'connection_string',
      'url',
      'secret_access_key',
      'session_token',
      'credentials_json',
      'account_key',
      'sas_token',
      'nkey_seed',
      'tls_key',
    ]);
    for (const p of providers.values()) {
      for (const [name, field] of fields(p)) {
        if (secretNames.has(name)) assert.equal(field.meta()?.secret, true, `${p.id}.${name}`);
      }
    }
  });

  it('makes the DESIGN.md section 7 boundaries overridable', () => {
    const expected: Record<string, string[]> = {
      mysql: ['database'],
      mongodb: ['database'],
      redis: ['db'],
      redis_pubsub: ['db', 'channel'],
      s3: ['prefix'],
      minio: ['prefix'],
      gcs: ['prefix'],
      azure_blob: ['prefix'],
      kafka: ['topic'],
      rabbitmq: ['exchange', 'queue'],
      mqtt: ['topic'],
      nats: ['subject'],
    };
    for (const p of providers.values()) {
      const overridable = fields(p)
        .filter(([, f]) => f.meta()?.overridable === true)
        .map(([n]) => n);
      assert.deepEqual(overridable.sort(), (expected[p.id] ?? []).sort(), p.id);
    }
  });

  it('refuses a connection string together with the separate fields, and requires one of them', () => {
    for (const [id, config] of Object.entries(both)) {
      const { errors } = validate(id, config);
      assert.ok(errors.length > 0, `${id} accepted both`);
    }
    for (const id of ['mysql', 'mongodb', 'redis', 'redis_pubsub', 'rabbitmq', 'mqtt']) failsAt(id, {}, 'host');
    failsAt('azure_blob', { container: 'c1' }, 'connection_string');
    failsAt('azure_blob', { container: 'c1', account_key: 'a2V5' }, 'account_name');
    failsAt('azure_blob', { container: 'c1', account_name: 'acct1', account_key: 'a2V5', sas_token: 'sv=1' }, 'sas_token');
    assert.deepEqual(validate('azure_blob', { container: 'c1', account_name: 'acct1', sas_token: 'sv=1' }).errors, []);
  });

  it('lets an overridden database or db stand beside a connection string', () => {
    assert.deepEqual(validate('mysql', { connection_string: 'mysql://u:p@h/app', database: 'other' }).errors, []);
    assert.deepEqual(validate('redis', { url: 'rediss://h:6380/1', db: 2 }).errors, []);
  });

  it('keeps network fields to their ranges and pairs', () => {
    failsAt('redis', { host: 'h', port: 0 }, 'port');
    failsAt('redis', { host: 'h', port: 65536 }, 'port');
    failsAt('redis', { host: 'h', db: 16 }, 'db');
    failsAt('mysql', { host: 'h', connect_timeout_ms: 99 }, 'connect_timeout_ms');
    failsAt('mysql', { host: 'h', connect_timeout_ms: 60_001 }, 'connect_timeout_ms');
    failsAt('mysql', { host: 'h', tls_cert: PEM }, 'tls_key');
    failsAt('mysql', { host: 'h', tls_ca: 'not pem' }, 'tls_ca');
    failsAt('mysql', { host: '' }, 'host');
    failsAt('mysql', { host: 'mysql://db.internal' }, 'host');
    failsAt('mysql', { connection_string: 'postgres://x' }, 'connection_string');
    failsAt('kafka', { brokers: [] }, 'brokers');
    failsAt('kafka', { brokers: ['no-port'] }, 'brokers.0');
    failsAt('kafka', { brokers: ['k:9092'], username: 'u', password: 'p' }, 'sasl_mechanism');
    failsAt('kafka', { brokers: ['k:9092'], sasl_mechanism: 'plain' }, 'username');
    failsAt('nats', { servers: ['nats://u:p@h:4222'] }, 'servers.0');
    failsAt('nats', { servers: ['h:4222'], token: 'tok', nkey_seed: 'SUABC' }, 'nkey_seed');
    failsAt('s3', { bucket: 'b', access_key_id: 'AKIA' }, 'secret_access_key');
    assert.equal(validate('minio', { bucket: 'b', endpoint: 'http://m:9000' }).data?.force_path_style, true);
    assert.equal(validate('s3', { bucket: 'b' }).data?.force_path_style, false);
    failsAt('minio', { bucket: 'b' }, 'endpoint');
  });

  it('keeps sqlite inside its root', () => {
    for (const path of ['/etc/passwd', '../x.db', 'a/../../x.db', 'a\\..\\x.db', 'C:\\x.db', 'file:x.db?mode=rw']) {
      failsAt('sqlite', { path }, 'path');
    }
    assert.equal(validate('sqlite', { path: 'x.db' }).data?.readonly, false);
  });

  it('takes http(s) URLs without credentials', () => {
    failsAt('rest', { base_url: 'ftp://api.example.com' }, 'base_url');
    failsAt('rest', { base_url: 'https://user:pw@api.example.com' }, 'base_url');
    failsAt('graphql', { endpoint: 'not a url' }, 'endpoint');
    failsAt('rest', { base_url: 'https://a.example', headers: { 'Bad Name': 'x' } }, 'headers.Bad Name');
    failsAt('rest', { base_url: 'https://a.example', headers: { Host: 'evil.example' } }, 'headers');
  });

  it('asks each auth_type for its fields', () => {
    const base = { base_url: 'https://api.example.com' };
    failsAt('rest', { ...base, auth_type: 'bearer' }, 'token');
    failsAt('rest', { ...base, auth_type: 'basic', username: 'u' }, 'password');
    failsAt('graphql', { endpoint: 'https://g.example', auth_type: 'api_key', api_key: 'k-123' }, 'api_key_name');
    for (const field of ['client_id', 'client_secret', 'token_url']) {
      failsAt('rest', { ...base, auth_type: 'oauth2_client_credentials' }, field);
    }
    assert.deepEqual(validate('rest', { ...base, auth_type: 'bearer', token: 'tok-123' }).errors, []);
    assert.equal(validate('rest', base).data?.api_key_in, 'header');
    failsAt('soap', { wsdl_url: 'https://s.example/?wsdl', ws_security: true }, 'username');
  });
});

describe('what a request writes', () => {
  it('redis: only the read list reads', () => {
    assert.equal(writes('redis', 'command', { command: ['GET', 'k'] }), false);
    assert.equal(writes('redis', 'command', { command: ['hgetall', 'k'] }), false);
    assert.equal(writes('redis', 'command', { command: ['MEMORY', 'USAGE', 'k'] }), false);
    assert.equal(writes('redis', 'command', { command: ['MEMORY', 'PURGE'] }), true);
    assert.equal(writes('redis', 'command', { command: ['SET', 'k', 'v'] }), true);
    assert.equal(writes('redis', 'command', { command: ['FLUSHALL'] }), true);
    assert.equal(provider('redis').operations.command?.input.safeParse({ command: [] }).success, false);
  });

  it('sql: anything but a single read statement writes', () => {
    for (const id of ['mysql', 'sqlite']) {
      assert.equal(writes(id, 'query', { query: 'SELECT * FROM t WHERE note = :note', params: { note: 'update' } }), false);
      assert.equal(writes(id, 'query', { query: "SELECT 'delete' AS word" }), false);
      assert.equal(writes(id, 'query', { query: 'UPDATE t SET a = 1' }), true);
      assert.equal(writes(id, 'query', { query: 'SELECT 1; DROP TABLE t' }), true);
      assert.equal(writes(id, 'query', { query: 'WITH x AS (SELECT 1) DELETE FROM t' }), true);
    }
    assert.equal(writes('mysql', 'query', { query: "SELECT 1--1 INTO OUTFILE 'x.csv'" }), true);
    assert.equal(writes('mysql', 'query', { query: "SELECT 1 /*!50000 INTO OUTFILE 'x.csv' */" }), true);
  });

  it('mongodb: inserts, updates, deletes and $out/$merge pipelines', () => {
    assert.equal(writes('mongodb', 'find', { collection: 'c' }), false);
    assert.equal(writes('mongodb', 'count', { collection: 'c', filter: { a: 1 } }), false);
    assert.equal(writes('mongodb', 'aggregate', { collection: 'c', pipeline: [{ $match: {} }] }), false);
    assert.equal(writes('mongodb', 'aggregate', { collection: 'c', pipeline: [{ $match: {} }, { $out: 'x' }] }), true);
    assert.equal(writes('mongodb', 'aggregate', { collection: 'c', pipeline: [{ $merge: { into: 'x' } }] }), true);
    assert.equal(writes('mongodb', 'insert', { collection: 'c', documents: [{ a: 1 }] }), true);
    assert.equal(writes('mongodb', 'update', { collection: 'c', filter: {}, update: { $set: { a: 1 } } }), true);
    assert.equal(writes('mongodb', 'delete', { collection: 'c', filter: { a: 1 } }), true);
  });

  it('api: rest by method, graphql by the parsed document, soap by the connector read_methods', () => {
    assert.equal(writes('rest', 'request', { path: '/users' }), false);
    assert.equal(writes('rest', 'request', { method: 'HEAD', path: '/users' }), false);
    assert.equal(writes('rest', 'request', { method: 'POST', path: '/users', body: { a: 1 } }), true);
    assert.equal(writes('rest', 'request', { method: 'OPTIONS', path: '/' }), true);
    assert.equal(provider('rest').operations.request?.input.safeParse({ path: 'https://evil.example/' }).success, false);
    assert.equal(provider('rest').operations.request?.input.safeParse({ path: '//evil.example/' }).success, false);
    assert.equal(writes('graphql', 'request', { query: '{ users { id } }' }), false);
    assert.equal(writes('graphql', 'request', { query: '# query\nmutation { deleteUser(id: 1) }' }), true);
    assert.equal(writes('soap', 'call', { method: 'GetUser' }), true);
    const call = provider('soap').operations.call;
    assert.ok(call);
    assert.equal(writesFor(call, call.input.parse({ method: 'GetUser' }), { read_methods: ['GetUser'] }), false);
  });

  it('storage: put and delete', () => {
    for (const id of ['s3', 'minio', 'gcs', 'azure_blob']) {
      assert.equal(writes(id, 'list', {}), false);
      assert.equal(writes(id, 'head', { key: 'a' }), false);
      assert.equal(writes(id, 'get', { key: 'a' }), false);
      assert.equal(writes(id, 'put', { key: 'a', body: 'x' }), true);
      assert.equal(writes(id, 'delete', { key: 'a' }), true);
      assert.equal(provider(id).defaultOperation, 'list');
    }
  });

  it('messaging: publish, and the consumes that remove messages', () => {
    for (const id of ['kafka', 'rabbitmq', 'sqs', 'redis_pubsub', 'mqtt', 'nats']) {
      assert.equal(writes(id, 'publish', { message: 'hi' }), true, id);
      assert.equal(provider(id).defaultOperation, 'publish');
    }
    for (const id of ['kafka', 'rabbitmq', 'sqs']) assert.equal(writes(id, 'consume', {}), true, id);
    for (const id of ['redis_pubsub', 'mqtt', 'nats']) assert.equal(writes(id, 'consume', {}), false, id);
    assert.equal(writes('nats', 'consume', { stream: 'ORDERS' }), true);
    assert.equal(writes('nats', 'request', { subject: 'svc.echo', message: 'hi' }), true);
    assert.equal(writes('nats', 'stream_info', {}), false);
    const consume = provider('kafka').operations.consume?.input;
    assert.deepEqual(consume?.parse({}), { max_messages: 10, wait_ms: 1000 });
    assert.equal(consume?.safeParse({ max_messages: 1001 }).success, false);
    assert.equal(consume?.safeParse({ wait_ms: 30_001 }).success, false);
    assert.equal(provider('mqtt').operations.publish?.input.safeParse({ topic: 'a/+', message: 'x' }).success, false);
    assert.equal(provider('nats').operations.publish?.input.safeParse({ subject: 'a.>', message: 'x' }).success, false);
  });
});
