import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, headers, nkeys, type NatsConnection } from '@nats-io/transport-node';
import nats from '../../src/providers/nats/index.js';
import {
  bodies,
  call,
  eventually,
  FOURTEEN,
  messagesOf,
  ownCall,
  ownSession,
  returnsBetween,
  storedTruncation,
} from '../support/messaging-fixture.js';
import { uniqueName } from '../support/names.js';
import { startNats } from '../support/private-brokers.js';
import { requireReady } from '../support/server-processes.js';
import { requireServer } from '../support/servers.js';
import { describeProvider, expectFailure, openPeer, type Call } from './conformance.js';

// The suite's peer is a private nats-server with JetStream and a password (the machine's accepts anyone):
// user `pb-user` (and an nkey user) may publish and subscribe on pb.> (and what JetStream and replies need),
// nothing else.
const user = 'pb-user';
const password = uniqueName('pw');
const canary = uniqueName('Canary');
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
const messages = (result: { data: unknown }) => messagesOf<Message>(result);
const consume = (input: Record<string, unknown>, mode: Call['mode'] = 'read') => call('consume', input, mode);

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

const base = uniqueName('pb', '.');
const stream = uniqueName('PB', '_');
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
  ready: async (t) => requireReady(t, broker),
  setup: async () => {
    const nc = await direct();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${base}.js.>`] });
    const js = jsm.jetstream();
    for (const body of ['one', 'two']) await js.publish(`${base}.js.ops`, body);
    for (const body of FOURTEEN) await js.publish(`${base}.js.trunc`, body);
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
      ...call('publish', { subject: `${base}.js.ops`, message: 'three', headers: { kind: 'x' } }),
      check: (result) => assert.deepEqual(result.data, { subject: `${base}.js.ops` }),
    },
    {
      name: 'request returns the reply of a responder the test runs, with its headers',
      ...call('request', { subject: `${base}.echo`, message: 'hello' }),
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
      input: { stream: uniqueName('NONE', '_') },
      fails: 'upstream_not_found',
    },
    {
      name: 'a request nobody answers: upstream_not_found',
      ...call('request', { subject: `${base}.nobody`, message: 'x' }),
      fails: 'upstream_not_found',
    },
  ],
  readMode: {
    writes: [
      call('publish', { subject: `${base}.js.ro`, message: 'x' }),
      call('request', { subject: `${base}.echo`, message: 'x' }),
      consume({ stream, subject: `${base}.js.ops` }, 'read_write'),
    ],
    snapshot: async () => {
      const { state } = await (await jetstreamManager(await direct())).streams.info(stream);
      return { messages: state.messages, consumers: state.consumer_count };
    },
  },
  truncation: storedTruncation(
    (max) => consume({ stream, subject: `${base}.js.trunc`, max_messages: max }, 'read_write'),
    (result) => assert.ok(messages(result).length < 10),
  ),
  restart: { restartPeer: () => ('missing' in broker ? Promise.resolve() : broker.restart()) },
});

/** A stream of the test's own on `<prefix>.>`, deleted afterwards. */
async function ownStream(t: TestContext, prefix: string): Promise<string> {
  const name = uniqueName('PB_T', '_');
  await (await jetstreamManager(await direct())).streams.add({ name, subjects: [`${prefix}.>`] });
  t.after(async () => void (await (await jetstreamManager(await direct())).streams.delete(name)));
  return name;
}

describe('nats', () => {
  test('a core consume with no traffic returns nothing after about wait_ms', async (t) => {
    if (!requireReady(t, broker)) return;
    const peer = openPeer(t, nats, config);
    await peer.execute(consume({ subject: `${base}.quiet`, wait_ms: 0 })); // connected before the clock starts
    const quiet = await returnsBetween(250, 5_000, () => peer.execute(consume({ subject: `${base}.quiet`, wait_ms: 300 })));
    assert.deepEqual(messages(quiet), []);
  });

  test('a stream consume uses the durable patchbay-connector-<id>; a failed one hands its messages back', async (t) => {
    if (!requireReady(t, broker)) return;
    const prefix = `${base}.${uniqueName('d')}`;
    const name = await ownStream(t, prefix);
    const jsm = await jetstreamManager(await direct());
    await jsm.jetstream().publish(`${prefix}.a`, 'first');
    const peer = openPeer(t, nats, config) as ReturnType<typeof openPeer> & { connectorId: string };
    const taken = await peer.execute(consume({ stream: name, wait_ms: 2_000 }, 'read_write'));
    assert.deepEqual(bodies(taken), ['first']);
    const durable = await jsm.consumers.info(name, `patchbay-connector-${peer.connectorId}`);
    assert.equal(durable.num_ack_pending, 0);

    // On a session of the test's own, an attachment's consume (durable patchbay-<instance id>) is aborted
    // while it holds a message: nothing is acknowledged and the message comes again.
    const session = await ownSession(t, nats, config);
    const instanceId = uniqueName('instance');
    const input = { stream: name, subject: `${prefix}.b`, max_messages: 5, wait_ms: 10_000 };
    const aborted = new AbortController();
    const waiting = session.execute('consume', input, ownCall(aborted.signal, { instanceId }));
    waiting.catch(() => undefined);
    // Its pull request waits at the server before the message is published: one already there would come at once.
    const waitingPulls = () =>
      jsm.consumers.info(name, `patchbay-${instanceId}`).then(
        (info) => info.num_waiting,
        () => 0,
      );
    await eventually(async () => (await waitingPulls()) > 0, 500, 20);
    await jsm.jetstream().publish(`${prefix}.b`, 'in flight');
    const ackPending = async () => (await jsm.consumers.info(name, `patchbay-${instanceId}`)).num_ack_pending;
    await eventually(async () => (await ackPending()) > 0, 500, 20);
    assert.equal(await ackPending(), 1, 'the waiting consume holds the message');
    aborted.abort(new Error('the caller went away'));
    await assert.rejects(waiting, /the caller went away/);
    const again = await session.execute(
      'consume',
      { ...input, wait_ms: 2_000 },
      ownCall(new AbortController().signal, { instanceId }),
    );
    // Delivered again at once (NATS 2.9 may count a negatively acknowledged last delivery as not delivered).
    assert.deepEqual(bodies(again), ['in flight']);
    const none = await session.execute(
      'consume',
      { ...input, wait_ms: 200 },
      ownCall(new AbortController().signal, { instanceId }),
    );
    assert.deepEqual(messages(none), [], 'acknowledged: not redelivered');
  });

  test('with a stream on the connector, publish is acknowledged by that stream', async (t) => {
    if (!requireReady(t, broker)) return;
    const prefix = `${base}.${uniqueName('p')}`;
    const name = await ownStream(t, prefix);
    const peer = openPeer(t, nats, { ...config, stream: name });
    const result = await peer.execute(call('publish', { subject: `${prefix}.x`, message: 'kept' }));
    assert.deepEqual(result.data, { subject: `${prefix}.x`, stream: name, seq: 1, duplicate: false });
    const uncaptured = call('publish', { subject: `${base}.uncaptured`, message: 'x' });
    assert.equal((await expectFailure(peer.execute(uncaptured))).code, 'upstream_not_found');
    // Captured, but by a stream other than the connector's: refused, not stored.
    const other = await ownStream(t, `${base}.${uniqueName('o')}`);
    const elsewhere = openPeer(t, nats, { ...config, stream: other });
    const captured = call('publish', { subject: `${prefix}.x`, message: 'x' });
    assert.equal((await expectFailure(elsewhere.execute(captured))).code, 'query_failed');
  });

  test('a subject or stream outside the boundary: scope_denied; a narrower filter is allowed', async (t) => {
    if (!requireReady(t, broker)) return;
    const limited = openPeer(t, nats, { ...config, subject: `${base}.scoped.>`, stream });
    for (const request of [
      call('publish', { subject: `${base}.other`, message: 'x' }),
      call('request', { subject: `${base}.other`, message: 'x' }),
      consume({ subject: `${base}.>` }),
      consume({ subject: `${base}.scoped` }), // `>` needs at least one more token
      consume({ stream: uniqueName('OTHER', '_') }, 'read_write'),
      { operation: 'stream_info', input: { stream: uniqueName('OTHER', '_') } },
    ]) {
      assert.equal((await expectFailure(limited.execute(request))).code, 'scope_denied', JSON.stringify(request.input));
    }
    assert.equal((await expectFailure(limited.execute(call('publish', { message: 'x' })))).code, 'validation_failed');
    const readMode = { ...call('publish', { subject: `${base}.scoped.a`, message: 'x' }), mode: 'read' as const };
    assert.equal((await expectFailure(limited.execute(readMode))).code, 'read_only');
    assert.deepEqual(messages(await limited.execute(consume({ subject: `${base}.scoped.*.x`, wait_ms: 0 }))), []);
  });

  test('an nkey user logs in with its seed', async (t) => {
    if (!requireReady(t, broker)) return;
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
    if (!requireReady(t, broker)) return;
    const subject = `${base}.${uniqueName('silent')}`;
    const silent = (await direct()).subscribe(subject, { callback: () => undefined });
    t.after(() => silent.unsubscribe());
    await (await direct()).flush();
    const peer = openPeer(t, nats, config);
    assert.equal(
      (await expectFailure(peer.execute(call('request', { subject, message: 'x', timeout_ms: 300 })))).code,
      'timeout',
    );
    assert.equal((await peer.execute(consume({ subject: `${base}.after`, wait_ms: 0 }))).ok, true);
  });

  test('a subject the server refuses the user: permission_denied', async (t) => {
    if (!requireReady(t, broker)) return;
    const peer = openPeer(t, nats, config);
    assert.equal(
      (await expectFailure(peer.execute(call('publish', { subject: 'denied.x', message: 'x' })))).code,
      'permission_denied',
    );
    assert.equal((await expectFailure(peer.execute(consume({ subject: 'denied.>', wait_ms: 1_000 })))).code, 'permission_denied');
    assert.equal(
      (await expectFailure(peer.execute(call('request', { subject: 'denied.x', message: 'x' })))).code,
      'permission_denied',
    );
  });

  test("the machine's NATS: a core consume returns what is published while it waits", async (t) => {
    if (!(await requireServer(t, 'nats'))) return;
    const shared = { servers: ['127.0.0.1:4222'] };
    const peer = openPeer(t, nats, shared);
    const subject = `pb.${uniqueName('live')}.a`;
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
