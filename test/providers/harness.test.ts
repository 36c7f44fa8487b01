import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import pino from 'pino';
import { z } from 'zod';
import { PatchbayError } from '../../src/errors.js';
import { poolKey, type ExecuteRequest, type HarnessOptions } from '../../src/providers/harness.js';
import { getProvider } from '../../src/providers/registry.js';
import { secret, type Provider, type Session } from '../../src/providers/types.js';
import { openHarness } from '../support/harness.js';
import { closedPort, silentListener } from '../support/listeners.js';
import { expectFailure } from './conformance.js';

const fakeConfig = z.strictObject({
  host: z.string().default('fake.example'),
  password: secret(z.string().optional()),
  connect_timeout_ms: z.int().default(1_000),
});

/** A provider whose session the test scripts; counts connects and closes. */
function fakeProvider(session: Partial<Session> = {}, overrides: Partial<Provider> = {}) {
  const stats = { connects: 0, closes: 0 };
  const provider: Provider = {
    id: 'fake',
    type: 'database',
    description: 'test double',
    config: fakeConfig,
    operations: {
      read: { description: 'reads', input: z.strictObject({ value: z.string() }), writes: 'never' },
      write: { description: 'writes', input: z.strictObject({}), writes: 'always' },
    },
    defaultOperation: 'read',
    async connect() {
      stats.connects += 1;
      return {
        ping: async () => 'pong',
        execute: async (_operation, input) => ({ data: input }),
        close: async () => {
          stats.closes += 1;
        },
        ...session,
      };
    },
    classify: () => undefined,
    ...overrides,
  };
  return { provider, stats };
}

function harness(t: TestContext, options: Partial<HarnessOptions> = {}, provider?: Provider) {
  return openHarness(t, { providers: provider ? (id) => (id === provider.id ? provider : getProvider(id)) : undefined, ...options });
}

const call: ExecuteRequest['call'] = {
  mode: 'read',
  limits: { maxRows: 10, maxBytes: 1_048_576, timeoutMs: 500 },
  boundParams: {},
};

const pgConfig = (extra: Record<string, unknown>) => ({ host: '127.0.0.1', username: 'postgres', ...extra });

describe('test()', () => {
  test('a listener that never answers: timeout, returned near the deadline', async (t) => {
    const { port } = await silentListener(t);
    const result = await harness(t).test('postgresql', pgConfig({ port, connect_timeout_ms: 500 }));
    assert.equal(result.success, false);
    assert.equal(result.error_code, 'timeout');
    assert.ok(result.latency_ms >= 400 && result.latency_ms < 2_500, `latency ${result.latency_ms}`);
  });

  test('returns at the deadline even when the driver ignores the signal, and closes a late session', async (t) => {
    let lateSession: (() => void) | undefined;
    const { provider, stats } = fakeProvider({}, {
      connect: () =>
        new Promise<Session>((resolve) => {
          lateSession = () =>
            resolve({ ping: async () => 'pong', execute: async () => ({ data: null }), close: async () => void (stats.closes += 1) });
        }),
    });
    const result = await harness(t, {}, provider).test('fake', { connect_timeout_ms: 200 });
    assert.equal(result.error_code, 'timeout');
    assert.ok(result.latency_ms < 2_200);
    lateSession?.();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stats.closes, 1);
  });

  test('a success reports the ping detail and an integer latency, and closes the one-shot session', async (t) => {
    const { provider, stats } = fakeProvider();
    const result = await harness(t, {}, provider).test('fake', {});
    assert.deepEqual({ ...result, latency_ms: 0 }, { success: true, message: 'pong', latency_ms: 0 });
    assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(stats, { connects: 1, closes: 1 });
  });

  test('a provider without connect: unsupported_operation', async (t) => {
    const { provider } = fakeProvider({}, { connect: undefined });
    const result = await harness(t, {}, provider).test('fake', {});
    assert.equal(result.error_code, 'unsupported_operation');
  });

  test('an invalid config or an unknown provider: validation_failed, never a throw', async (t) => {
    const instance = harness(t);
    assert.equal((await instance.test('postgresql', { host: 'h', username: 'u', port: 'x' })).error_code, 'validation_failed');
    assert.equal((await instance.test('postgresql', { host: 'h', username: 'u', bogus: 1 })).error_code, 'validation_failed');
    assert.equal((await instance.test('no_such_provider', {})).error_code, 'validation_failed');
  });

  test('every secret value is scrubbed from the message, raw and URL-encoded; short ones are not', async (t) => {
    const password = 'Canary/Pw:42@x';
    const { provider } = fakeProvider({}, {
      connect: async (config) => {
        const secretValue = String(config.password);
        throw new Error(`login failed for pw=${secretValue} url=${encodeURIComponent(secretValue)}`);
      },
    });
    const instance = harness(t, {}, provider);
    const result = await instance.test('fake', { password });
    assert.equal(result.error_code, 'upstream_error');
    assert.ok(!result.message.includes(password) && !result.message.includes(encodeURIComponent(password)));
    assert.match(result.message, /\*{8}/);
    const short = await instance.test('fake', { password: 'pw' });
    assert.match(short.message, /pw=pw/);
  });

  test("a provider's log lines are scrubbed too", async (t) => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const { provider } = fakeProvider({}, {
      connect: async (config, ctx) => {
        const secretValue = String(config.password);
        ctx.log.warn({ err: new Error(`bad ${secretValue}`), detail: { nested: secretValue } }, `hello ${secretValue}`);
        ctx.log.error(new Error(`alone ${secretValue}`));
        throw new Error('done');
      },
    });
    const password = 'log-canary-456';
    await harness(t, { logger }, provider).test('fake', { password });
    assert.ok(lines.length >= 3);
    for (const line of lines) assert.ok(!line.includes(password), line);
    assert.ok(lines.some((line) => line.includes('hello ********')));
  });

  test('a closed port: connection_refused', async (t) => {
    const result = await harness(t).test('postgresql', pgConfig({ port: await closedPort() }));
    assert.equal(result.error_code, 'connection_refused');
  });

  test('an unknown host: dns_not_found', async (t) => {
    const result = await harness(t).test('postgresql', pgConfig({ host: 'nohost.invalid' }));
    assert.equal(result.error_code, 'dns_not_found');
  });

  test('a destination outside the egress policy: egress_denied, by IP literal and by name', async (t) => {
    const instance = harness(t, { egress: 'public' });
    assert.equal((await instance.test('postgresql', pgConfig({}))).error_code, 'egress_denied');
    assert.equal((await instance.test('postgresql', pgConfig({ host: 'localhost' }))).error_code, 'egress_denied');
    const metadata = await harness(t).test('postgresql', pgConfig({ host: '169.254.169.254', connect_timeout_ms: 300 }));
    assert.equal(metadata.error_code, 'egress_denied');
  });
});

describe('execute()', () => {
  const request = (provider: Provider, extra: Partial<ExecuteRequest> = {}): ExecuteRequest => ({
    providerId: provider.id,
    poolKey: poolKey('c1', 1, null),
    config: {},
    input: { value: 'v' },
    call,
    ...extra,
  });

  test('runs the default operation and wraps the result in the envelope', async (t) => {
    const { provider } = fakeProvider({ execute: async (_operation, input) => ({ data: input, truncated: true }) });
    const result = await harness(t, {}, provider).execute(request(provider));
    assert.deepEqual({ ...result, latency_ms: 0 }, { ok: true, data: { value: 'v' }, latency_ms: 0, truncated: true });
  });

  test('an unknown operation, an invalid input, a write in read mode, a provider without connect', async (t) => {
    const { provider, stats } = fakeProvider();
    const instance = harness(t, {}, provider);
    assert.equal((await expectFailure(instance.execute(request(provider, { operation: 'nope' })))).code, 'unsupported_operation');
    const invalid = await expectFailure(instance.execute(request(provider, { input: { value: 1 } })));
    assert.equal(invalid.code, 'validation_failed');
    assert.deepEqual(invalid.errors?.map((error) => error.path), ['value']);
    const write = await expectFailure(instance.execute(request(provider, { operation: 'write', input: {} })));
    assert.equal(write.code, 'read_only');
    assert.equal(stats.connects, 0, 'refused before connecting');
    const { provider: driverless } = fakeProvider({}, { id: 'fake', connect: undefined });
    const other = harness(t, {}, driverless);
    assert.equal((await expectFailure(other.execute(request(driverless)))).code, 'unsupported_operation');
  });

  test('a mode other than read_write is a read: refused writes, and the session is told read', async (t) => {
    const modes: string[] = [];
    const { provider } = fakeProvider({
      execute: async (_operation, input, callContext) => {
        modes.push(callContext.mode);
        return { data: input };
      },
    });
    const instance = harness(t, {}, provider);
    for (const mode of ['READ_WRITE', 'write', '', 'readwrite']) {
      const odd = { ...call, mode } as unknown as ExecuteRequest['call'];
      const write = await expectFailure(instance.execute(request(provider, { operation: 'write', input: {}, call: odd })));
      assert.equal(write.code, 'read_only', `mode ${JSON.stringify(mode)} is a read`);
      await instance.execute(request(provider, { call: odd }));
    }
    assert.deepEqual(modes, ['read', 'read', 'read', 'read']);
  });

  test("an operation declared mode 'read' runs as a read on a read_write call, on the read session", async (t) => {
    const modes: string[] = [];
    const { provider, stats } = fakeProvider({
      execute: async (_operation, input, callContext) => {
        modes.push(callContext.mode);
        return { data: input };
      },
    });
    const read = provider.operations.read as Provider['operations'][string];
    const withCatalogue = { ...provider, operations: { ...provider.operations, catalogue: { ...read, mode: 'read' as const } } };
    const instance = harness(t, {}, withCatalogue);
    const readWrite = { ...call, mode: 'read_write' as const };
    await instance.execute(request(withCatalogue, { operation: 'catalogue', call: readWrite }));
    await instance.execute(request(withCatalogue, { operation: 'read', call: readWrite }));
    await instance.execute(request(withCatalogue, { operation: 'read', call }));
    assert.deepEqual(modes, ['read', 'read_write', 'read']);
    assert.equal(stats.connects, 2, 'the catalogue call and the read call share the read session');
  });

  test('sessions are pooled per key, dropped per connector, and closed when idle', async (t) => {
    const { provider, stats } = fakeProvider();
    const instance = harness(t, { poolIdleMs: 100 }, provider);
    await Promise.all([instance.execute(request(provider)), instance.execute(request(provider))]);
    await instance.execute(request(provider));
    assert.equal(stats.connects, 1, 'one session for one key');
    await instance.execute(request(provider, { poolKey: poolKey('c1', 1, { database: 'other' }) }));
    await instance.execute(request(provider, { poolKey: poolKey('c2', 1, null) }));
    assert.equal(stats.connects, 3);
    await instance.drop('c1');
    assert.equal(stats.closes, 2, 'both sessions of c1 closed, c2 kept');
    await instance.execute(request(provider));
    assert.equal(stats.connects, 4, 'reconnects after drop');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(stats.closes, 4, 'idle sessions closed');
  });

  test('poolKey ignores the order of override keys', () => {
    assert.equal(poolKey('c', 2, { a: 1, b: 2 }), poolKey('c', 2, { b: 2, a: 1 }));
    assert.notEqual(poolKey('c', 2, { a: 1 }), poolKey('c', 3, { a: 1 }));
  });

  test('a connection-level failure discards the session; an answered one keeps it', async (t) => {
    let failure: Error | undefined;
    const { provider, stats } = fakeProvider(
      {
        execute: async (_operation, input) => {
          if (failure) throw failure;
          return { data: input };
        },
      },
      { classify: (error) => ((error as Error).message === 'bad sql' ? 'query_failed' : undefined) },
    );
    const instance = harness(t, {}, provider);
    failure = new Error('bad sql');
    assert.equal((await expectFailure(instance.execute(request(provider)))).code, 'query_failed');
    failure = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    assert.equal((await expectFailure(instance.execute(request(provider)))).code, 'upstream_error');
    failure = undefined;
    await instance.execute(request(provider));
    assert.deepEqual(stats, { connects: 2, closes: 1 });
  });

  test('the hard deadline answers timeout even if the session never returns, and discards it', async (t) => {
    let aborted = false;
    const { provider, stats } = fakeProvider({
      execute: (_operation, _input, context) => {
        context.signal.addEventListener('abort', () => (aborted = true));
        return new Promise(() => undefined);
      },
    });
    const started = performance.now();
    const error = await expectFailure(harness(t, {}, provider).execute(request(provider)));
    assert.equal(error.code, 'timeout');
    assert.ok(performance.now() - started < call.limits.timeoutMs + 3_000);
    assert.ok(aborted, 'the session saw the abort');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(stats.closes, 1);
  });

  test('error messages are scrubbed of the config secrets', async (t) => {
    const password = 'execute-canary-123';
    const { provider } = fakeProvider({
      execute: async () => {
        throw new PatchbayError('query_failed', `near "${password}"`, { errors: [{ path: 'query', message: password }] });
      },
    });
    const error = await expectFailure(harness(t, {}, provider).execute(request(provider, { config: { password } })));
    assert.equal(error.code, 'query_failed');
    assert.ok(!JSON.stringify({ message: error.message, errors: error.errors }).includes(password));
  });
});
