import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { after, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, nkeys, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { EgressGuard } from '../../src/net/egress.js';
import nats from '../../src/providers/nats.js';
import { parseConfig } from '../../src/providers/registry.js';
import type { CallContext } from '../../src/providers/types.js';
import { requireBroker, startNats } from '../support/private-brokers.js';
import { requireServer } from '../support/servers.js';
import { describeProvider, expectFailure, openPeer, type Call } from './conformance.js';

// The suite's peer is a private nats-server with JetStream and a password (the machine's accepts anyone):
// user `pb-user` (and an nkey user) may publish and subscribe on pb.> (and what JetStream and replies need),
// nothing else.
const unique = (prefix: string) => `${prefix}${randomBytes(4).toString('hex')}`;
const user = 'pb-user';
const password = unique('pw-');
const canary = unique('Canary');
const nkeyUser = nkeys.createUser();
const permissions = `permissions: {
  publish: { allow: ["pb.>", "$JS.API.>", "$JS.ACK.>", "_INBOX.>"] },
  subscribe: { allow: ["pb.>", "_INBOX.>"] } }`;
const broker = await startNats({
  jetstream: true,
  config: `authorization { users: [
    { user: "${user}", password: "${password}", ${permissions} },
    { nkey: "${nkeyUser.getPublicKey()}", ${permissions} } ] }`,
});
const port = 'missing' in broker ? 1 : broker.port;
const config = { servers: [`127.0.0.1:${port}`], username: user, password };

type Message = {
  subject: string;
  message: string;
  encoding: string;
  headers: Record<string, unknown>;
  sequence?: number;
  redelivered?: boolean;
};
const messages = (result: { data: unknown }) => (result.data as { messages: Message[] }).messages;
const write = (operation: string, input: Record<string, unknown>): Call => ({ operation, input, mode: 'read_write' });
const consume = (input: Record<string, unknown>, mode: Call['mode'] = 'read'): Call => ({ operation: 'consume', input, mode });

/**
 * The test's own connection, beside Patchbay. It never reconnects (a restart closes it; the next use opens
 * another): a reconnect would dial through whatever transport the provider installed last.
 */
let own: NatsConnection | undefined;
async function direct(): Promise<NatsConnection> {
  if (!own || own.isClosed()) own = await connect({ servers: config.servers, user, pass: password, reconnect: false });
  return own;
}
after(async () => {
  await own?.close();
  if (!('missing' in broker)) await broker.stop();
});

const base = `pb.${unique('')}`;
const stream = unique('PB_');
let ticker: NodeJS.Timeout | undefined;

/** A responder on `subject` of the test's own: replies with the request upper-cased and an `echoed` header. */
async function echoResponder(subject: string): Promise<() => void> {
  const subscription = (await direct()).subscribe(subject, {
    callback: (_error, msg) => {
      const reply = headers();
      reply.set('echoed', 'yes');
      msg.respond(msg.string().toUpperCase(), { headers: reply });
    },
  });
  await (await direct()).flush();
  return () => subscription.unsubscribe();
}

let stopEcho: () => void = () => undefined;

describeProvider(nats, {
  config,
  ready: async (t) => requireBroker(t, broker),
  setup: async () => {
    const nc = await direct();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${base}.js.>`] });
    const js = jsm.jetstream();
    for (const body of ['one', 'two']) await js.publish(`${base}.js.ops`, body);
    for (let i = 0; i < 14; i += 1) await js.publish(`${base}.js.trunc`, `message-${String(i).padStart(2, '0')}`);
    stopEcho = await echoResponder(`${base}.echo`);
    // Live traffic for a core consume, until teardown (or a restart closes the connection).
    ticker = setInterval(() => {
      if (!nc.isClosed()) nc.publish(`${base}.ticks`, 'tick');
    }, 50);
  },
  teardown: async () => {
    clearInterval(ticker);
    stopEcho();
    await (await jetstreamManager(await direct())).streams.delete(stream);
  },
  at: ({ host, port }) => ({ ...config, servers: [`${host}:${port}`] }),
  probe: consume({ subject: `${base}.probe`, wait_ms: 0 }),
  schema: {
    bad: [
      { config: { servers: [] }, path: 'servers' },
      { config: { servers: ['nats://u:p@nats.internal:4222'] }, path: 'servers.0' },
      { config: { servers: ['nats.internal:4222'], username: 'u' }, path: 'password' },
      { config: { servers: ['nats.internal:4222'], username: 'u', password: 'p', token: 't' }, path: 'token' },
      { config: { ...config, subject: 'pb.>.x' }, path: 'subject' },
    ],
  },
  connectionTest: { message: /^Connected to NATS \d+\.\d+/ },
  auth: {
    configs: [
      { ...config, password: canary },
      { servers: config.servers, token: canary },
    ],
  },
  // The real server, which offers no TLS.
  tls: { config: () => ({ ...config, servers: [`tls://127.0.0.1:${port}`] }) },
  secrets: {
    configs: [
      { ...config, password: canary },
      { servers: config.servers, token: canary },
      {
        servers: config.servers,
        nkey_seed: `SU${randomBytes(10)
          .toString('hex')
          .toUpperCase()
          .replace(/[01890]/g, 'Q')}`,
      },
    ],
  },
  operations: [
    {
      name: 'publish to a subject, with headers (the stream captures it)',
      ...write('publish', { subject: `${base}.js.ops`, message: 'three', headers: { kind: 'x' } }),
      check: (result) => assert.deepEqual(result.data, { subject: `${base}.js.ops` }),
    },
    {
      name: 'request returns the reply of a responder the test runs, with its headers',
      ...write('request', { subject: `${base}.echo`, message: 'hello' }),
      check: (result) => assert.deepEqual(result.data, { message: 'HELLO', encoding: 'utf8', headers: { echoed: 'yes' } }),
    },
    {
      name: 'stream_info describes the stream the test made',
      operation: 'stream_info',
      input: { stream },
      check: (result) => {
        const info = result.data as Record<string, unknown>;
        assert.equal(info.name, stream);
        assert.deepEqual(info.subjects, [`${base}.js.>`]);
        assert.equal(info.messages, 17);
        assert.equal(info.first_seq, 1);
        assert.equal(info.last_seq, 17);
      },
    },
    {
      name: 'a core consume returns what arrives while it waits',
      ...consume({ subject: `${base}.ticks`, max_messages: 2, wait_ms: 10_000 }),
      check: (result) =>
        assert.deepEqual(messages(result), [
          { subject: `${base}.ticks`, message: 'tick', encoding: 'utf8', headers: {} },
          { subject: `${base}.ticks`, message: 'tick', encoding: 'utf8', headers: {} },
        ]),
    },
    {
      name: 'a stream consume takes the stored messages and acknowledges them: the next one finds nothing',
      ...consume({ stream, subject: `${base}.js.ops`, max_messages: 10, wait_ms: 2_000 }, 'read_write'),
      check: async (result, peer) => {
        assert.deepEqual(
          messages(result).map(({ message, sequence, redelivered, headers }) => ({ message, sequence, redelivered, headers })),
          [
            { message: 'one', sequence: 1, redelivered: false, headers: {} },
            { message: 'two', sequence: 2, redelivered: false, headers: {} },
            { message: 'three', sequence: 17, redelivered: false, headers: { kind: 'x' } },
          ],
        );
        const again = await peer.execute(consume({ stream, subject: `${base}.js.ops`, wait_ms: 200 }, 'read_write'));
        assert.deepEqual(messages(again), []);
      },
    },
    {
      name: 'stream_info of a stream that does not exist: upstream_not_found',
      operation: 'stream_info',
      input: { stream: unique('NONE_') },
      fails: 'upstream_not_found',
    },
    {
      name: 'a request nobody answers: upstream_not_found',
      ...write('request', { subject: `${base}.nobody`, message: 'x' }),
      fails: 'upstream_not_found',
    },
  ],
  readMode: {
    writes: [
      write('publish', { subject: `${base}.js.ro`, message: 'x' }),
      write('request', { subject: `${base}.echo`, message: 'x' }),
      consume({ stream, subject: `${base}.js.ops` }, 'read_write'),
    ],
    snapshot: async () => {
      const { state } = await (await jetstreamManager(await direct())).streams.info(stream);
      return { messages: state.messages, consumers: state.consumer_count };
    },
  },
  truncation: {
    // Fourteen stored messages: a cut consume acknowledges what it returns and hands the extra one back.
    maxRows: {
      ...consume({ stream, subject: `${base}.js.trunc`, max_messages: 10 }, 'read_write'),
      limit: 3,
      check: (result) =>
        assert.deepEqual(
          messages(result).map((m) => m.message),
          ['message-00', 'message-01', 'message-02'],
        ),
      exact: consume({ stream, subject: `${base}.js.trunc`, max_messages: 3 }, 'read_write'),
    },
    maxBytes: {
      ...consume({ stream, subject: `${base}.js.trunc`, max_messages: 10 }, 'read_write'),
      limit: 300,
      check: (result) => {
        assert.ok(messages(result).length >= 1 && messages(result).length < 10);
        assert.ok(Buffer.byteLength(JSON.stringify(result.data)) <= 300);
      },
      exact: consume({ stream, subject: `${base}.js.trunc`, max_messages: 1 }, 'read_write'),
    },
  },
  restart: { restartPeer: () => ('missing' in broker ? Promise.resolve() : broker.restart()) },
});

/** A stream of the test's own on `<prefix>.>`, deleted afterwards. */
async function ownStream(t: TestContext, prefix: string): Promise<string> {
  const name = unique('PB_T_');
  await (await jetstreamManager(await direct())).streams.add({ name, subjects: [`${prefix}.>`] });
  t.after(async () => void (await (await jetstreamManager(await direct())).streams.delete(name)));
  return name;
}

describe('nats', () => {
  test('a core consume with no traffic returns nothing after about wait_ms', async (t) => {
    if (!requireBroker(t, broker)) return;
    const peer = openPeer(t, nats, config);
    await peer.execute(consume({ subject: `${base}.quiet`, wait_ms: 0 })); // connected before the clock starts
    const started = performance.now();
    assert.deepEqual(messages(await peer.execute(consume({ subject: `${base}.quiet`, wait_ms: 300 }))), []);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 5_000, `returned after ${Math.round(elapsed)} ms`);
  });

  test('a stream consume uses the durable patchbay-connector-<id>; a failed one hands its messages back', async (t) => {
    if (!requireBroker(t, broker)) return;
    const prefix = `${base}.${unique('d')}`;
    const name = await ownStream(t, prefix);
    const jsm = await jetstreamManager(await direct());
    await jsm.jetstream().publish(`${prefix}.a`, 'first');
    const peer = openPeer(t, nats, config) as ReturnType<typeof openPeer> & { connectorId: string };
    const taken = await peer.execute(consume({ stream: name, wait_ms: 2_000 }, 'read_write'));
    assert.deepEqual(
      messages(taken).map((m) => m.message),
      ['first'],
    );
    const durable = await jsm.consumers.info(name, `patchbay-connector-${peer.connectorId}`);
    assert.equal(durable.num_ack_pending, 0);

    // On a session of the test's own, an attachment's consume (durable patchbay-<instance id>) is aborted
    // while it holds a message: nothing is acknowledged and the message comes again.
    const parsed = parseConfig(nats, config);
    assert.ok(parsed.success);
    const session = await nats.connect!(parsed.data as Parameters<NonNullable<typeof nats.connect>>[0], {
      signal: new AbortController().signal,
      log: pino({ level: 'silent' }),
      egress: new EgressGuard('private'),
      poolMax: 1,
      sqliteRoot: '.',
    });
    t.after(() => session.close());
    const instanceId = unique('instance-');
    const call = (signal: AbortSignal): CallContext => ({
      mode: 'read_write',
      limits: { maxRows: 100, maxBytes: 1_048_576, timeoutMs: 10_000 },
      boundParams: {},
      signal,
      instanceId,
    });
    const input = { stream: name, subject: `${prefix}.b`, max_messages: 5, wait_ms: 10_000 };
    const aborted = new AbortController();
    const waiting = session.execute('consume', input, call(aborted.signal));
    waiting.catch(() => undefined);
    // Its pull request waits at the server before the message is published: one already there would come at once.
    const waitingPulls = () =>
      jsm.consumers.info(name, `patchbay-${instanceId}`).then(
        (info) => info.num_waiting,
        () => 0,
      );
    for (let i = 0; i < 500 && (await waitingPulls()) === 0; i += 1) await sleep(20);
    await jsm.jetstream().publish(`${prefix}.b`, 'in flight');
    const ackPending = async () => (await jsm.consumers.info(name, `patchbay-${instanceId}`)).num_ack_pending;
    for (let i = 0; i < 500 && (await ackPending()) === 0; i += 1) await sleep(20);
    assert.equal(await ackPending(), 1, 'the waiting consume holds the message');
    aborted.abort(new Error('the caller went away'));
    await assert.rejects(waiting, /the caller went away/);
    const again = await session.execute('consume', { ...input, wait_ms: 2_000 }, call(new AbortController().signal));
    // Delivered again at once (NATS 2.9 may count a negatively acknowledged last delivery as not delivered).
    assert.deepEqual(
      messages(again).map((m) => m.message),
      ['in flight'],
    );
    const none = await session.execute('consume', { ...input, wait_ms: 200 }, call(new AbortController().signal));
    assert.deepEqual(messages(none), [], 'acknowledged: not redelivered');
  });

  test('with a stream on the connector, publish is acknowledged by that stream', async (t) => {
    if (!requireBroker(t, broker)) return;
    const prefix = `${base}.${unique('p')}`;
    const name = await ownStream(t, prefix);
    const peer = openPeer(t, nats, { ...config, stream: name });
    const result = await peer.execute(write('publish', { subject: `${prefix}.x`, message: 'kept' }));
    assert.deepEqual(result.data, { subject: `${prefix}.x`, stream: name, seq: 1, duplicate: false });
    const uncaptured = write('publish', { subject: `${base}.uncaptured`, message: 'x' });
    assert.equal((await expectFailure(peer.execute(uncaptured))).code, 'upstream_not_found');
    // Captured, but by a stream other than the connector's: refused, not stored.
    const other = await ownStream(t, `${base}.${unique('o')}`);
    const elsewhere = openPeer(t, nats, { ...config, stream: other });
    const captured = write('publish', { subject: `${prefix}.x`, message: 'x' });
    assert.equal((await expectFailure(elsewhere.execute(captured))).code, 'query_failed');
  });

  test('a subject or stream outside the boundary: scope_denied; a narrower filter is allowed', async (t) => {
    if (!requireBroker(t, broker)) return;
    const limited = openPeer(t, nats, { ...config, subject: `${base}.scoped.>`, stream });
    for (const call of [
      write('publish', { subject: `${base}.other`, message: 'x' }),
      write('request', { subject: `${base}.other`, message: 'x' }),
      consume({ subject: `${base}.>` }),
      consume({ subject: `${base}.scoped` }), // `>` needs at least one more token
      consume({ stream: unique('OTHER_') }, 'read_write'),
      { operation: 'stream_info', input: { stream: unique('OTHER_') } },
    ]) {
      assert.equal((await expectFailure(limited.execute(call))).code, 'scope_denied', JSON.stringify(call.input));
    }
    assert.equal((await expectFailure(limited.execute(write('publish', { message: 'x' })))).code, 'validation_failed');
    const readMode = { ...write('publish', { subject: `${base}.scoped.a`, message: 'x' }), mode: 'read' as const };
    assert.equal((await expectFailure(limited.execute(readMode))).code, 'read_only');
    assert.deepEqual(messages(await limited.execute(consume({ subject: `${base}.scoped.*.x`, wait_ms: 0 }))), []);
  });

  test('an nkey user logs in with its seed', async (t) => {
    if (!requireBroker(t, broker)) return;
    const seed = new TextDecoder().decode(nkeyUser.getSeed());
    const peer = openPeer(t, nats, { servers: config.servers, nkey_seed: seed });
    assert.deepEqual(messages(await peer.execute(consume({ subject: `${base}.nkey`, wait_ms: 0 }))), []);
    const wrong = nkeys.createUser();
    const result = await peer.harness.test('nats', {
      servers: config.servers,
      nkey_seed: new TextDecoder().decode(wrong.getSeed()),
    });
    assert.equal(result.error_code, 'auth_failed', result.message);
  });

  test('a request whose responder never answers: timeout, and the session still works', async (t) => {
    if (!requireBroker(t, broker)) return;
    const subject = `${base}.${unique('silent')}`;
    const silent = (await direct()).subscribe(subject, { callback: () => undefined });
    t.after(() => silent.unsubscribe());
    await (await direct()).flush();
    const peer = openPeer(t, nats, config);
    assert.equal(
      (await expectFailure(peer.execute(write('request', { subject, message: 'x', timeout_ms: 300 })))).code,
      'timeout',
    );
    assert.equal((await peer.execute(consume({ subject: `${base}.after`, wait_ms: 0 }))).ok, true);
  });

  test('a subject the server refuses the user: permission_denied', async (t) => {
    if (!requireBroker(t, broker)) return;
    const peer = openPeer(t, nats, config);
    assert.equal(
      (await expectFailure(peer.execute(write('publish', { subject: 'denied.x', message: 'x' })))).code,
      'permission_denied',
    );
    assert.equal((await expectFailure(peer.execute(consume({ subject: 'denied.>', wait_ms: 1_000 })))).code, 'permission_denied');
    assert.equal(
      (await expectFailure(peer.execute(write('request', { subject: 'denied.x', message: 'x' })))).code,
      'permission_denied',
    );
  });

  test("the machine's NATS: a core consume returns what is published while it waits", async (t) => {
    if (!(await requireServer(t, 'nats'))) return;
    const shared = { servers: ['127.0.0.1:4222'] };
    const peer = openPeer(t, nats, shared);
    const subject = `pb.${unique('live')}.a`;
    const publisher = await connect({ ...shared, reconnect: false });
    t.after(() => publisher.close());
    const timer = setInterval(() => publisher.publish(subject, 'live'), 50);
    t.after(() => clearInterval(timer));
    const result = await peer.execute(consume({ subject: subject.replace(/a$/, '*'), max_messages: 2, wait_ms: 10_000 }));
    assert.deepEqual(
      messages(result).map((m) => [m.subject, m.message]),
      [
        [subject, 'live'],
        [subject, 'live'],
      ],
    );
  });
});
