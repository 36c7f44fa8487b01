import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import redisPubsub from '../../src/providers/redis_pubsub.js';
import { assertFitsIn, call, eventually, messagesOf, returnsBetween } from '../support/messaging-fixture.js';
import { uniqueIdentifier as unique } from '../support/names.js';
import { aclUser, connectedClients, redisClient, redisCommand, subscriber, ticker, waitUntilGone } from '../support/redis.js';
import { requireServer } from '../support/servers.js';
import { describeProvider, errorPaths, expectFailure, openPeer, type Call, type Peer } from './conformance.js';

// The suite logs in as an ACL user of its own, so that a restart can kill exactly its connections.
const user = unique('pb_ps');
const password = `Pw${randomBytes(8).toString('hex')}`;
const config = { host: '127.0.0.1', port: 6379, username: user, password };
const canary = `Canary${randomBytes(6).toString('hex')}`;

const channel = unique('pb_chan'); // the suite's channel, with a subscriber of the test's own on it
const ticks = unique('pb_tick'); // a channel with traffic: `tick <n>` every 20 ms
const publish = (target: string, message: string, mode: Call['mode'] = 'read_write', encoding?: string) =>
  call('publish', encoding === undefined ? { channel: target, message } : { channel: target, message, encoding }, mode);
const consume = (input: Record<string, unknown>, limits?: Call['limits']): Call => ({
  ...call('consume', input, 'read'),
  limits,
});
type Message = { channel: string; message: string; encoding: string };
const messages = (result: { data: unknown }) => messagesOf<Message>(result);

let watcher: Awaited<ReturnType<typeof subscriber>> | undefined;
let traffic: Awaited<ReturnType<typeof ticker>> | undefined;

/** What the suite's own subscriber has received on `channel`, as text. */
const seen = () => (watcher?.received ?? []).map((message) => message.toString('utf8'));

const waitFor = async (condition: () => boolean) => assert.ok(await eventually(condition, 250, 20), 'timed out waiting');

describeProvider(redisPubsub, {
  config,
  ready: (t) => requireServer(t, 'redis'),
  setup: async () => {
    await aclUser(user, password);
    watcher = await subscriber(channel);
    traffic = await ticker(ticks);
  },
  teardown: async () => {
    traffic?.stop();
    watcher?.close();
    await redisCommand(['ACL', 'DELUSER', user]);
  },
  at: ({ host, port }) => ({ ...config, host, port }),
  probe: publish(unique('pb_probe'), 'probe'),
  schema: {
    bad: [
      { config: { ...config, channel: '' }, path: 'channel' },
      { config: { ...config, db: 16 }, path: 'db' },
      { config: { url: 'redis://127.0.0.1:6379/x' }, path: 'url' },
      { config: { ...config, allowed_commands: ['KEYS'] }, path: 'allowed_commands' },
    ],
  },
  connectionTest: { message: /^Connected to Redis \d+\.\d+/ },
  auth: { configs: [{ ...config, password: `wrong-${canary}` }] },
  tls: { config: ({ host, port }) => ({ host, port, tls: true }) },
  secrets: {
    configs: [{ url: `redis://${user}:${canary}@127.0.0.1:6379` }, { ...config, password: canary }],
  },
  operations: [
    {
      name: 'publish reaches a subscriber, and says how many received it',
      ...publish(channel, 'hello'),
      check: async (result) => {
        assert.deepEqual(result.data, { channel, receivers: 1 });
        await waitFor(() => seen().includes('hello'));
      },
    },
    {
      name: 'publish with encoding base64 sends the decoded bytes',
      ...publish(channel, Buffer.from('bytes ✓').toString('base64'), 'read_write', 'base64'),
      check: async () => await waitFor(() => seen().includes('bytes ✓')),
    },
    {
      name: 'consume returns what arrives while it waits, up to max_messages',
      ...consume({ channel: ticks, max_messages: 2, wait_ms: 5_000 }),
      check: (result) => {
        const received = messages(result);
        assert.equal(received.length, 2);
        for (const message of received) {
          assert.equal(message.channel, ticks);
          assert.equal(message.encoding, 'utf8');
          assert.match(message.message, /^tick \d+$/);
        }
      },
    },
  ],
  readMode: {
    writes: [publish(channel, 'refused in read mode', 'read')],
    snapshot: async () => {
      await sleep(100); // lets a message published just before arrive
      return seen();
    },
  },
  truncation: {
    maxRows: {
      ...consume({ channel: ticks, max_messages: 10, wait_ms: 5_000 }),
      limit: 2,
      check: (result) => assert.equal(messages(result).length, 2),
    },
    maxBytes: {
      ...consume({ channel: ticks, max_messages: 10, wait_ms: 5_000 }),
      limit: 150,
      check: (result) => {
        assert.ok(messages(result).length >= 1);
        assertFitsIn(result, 150);
      },
    },
  },
  restart: {
    // Kills every connection of the suite's user (only this suite's sessions use it), and waits until they are gone.
    restartPeer: async () => {
      await redisCommand(['CLIENT', 'KILL', 'USER', user]);
      await waitUntilGone('USER', user);
    },
  },
  // The client dials through the egress guard's lookup only; Redis lists the connections of the suite's user.
  openConnections: () => connectedClients('USER', user),
});

/** A pooled session as an ACL user of the test's own (with extra ACL rules), deleted afterwards. */
async function connect(t: TestContext, settings: Record<string, unknown>, rules?: string[]): Promise<Peer | undefined> {
  if (!(await requireServer(t, 'redis'))) return undefined;
  const limited = await aclUser(unique('pb_ps'), `Pw${randomBytes(8).toString('hex')}`, rules);
  const peer = openPeer(t, redisPubsub, {
    host: '127.0.0.1',
    port: 6379,
    username: limited.name,
    password: limited.password,
    ...settings,
  });
  t.after(() => limited.drop()); // after the peer's sessions are closed
  return peer;
}

describe('redis_pubsub', () => {
  test('a consume under no traffic returns after about wait_ms, with no messages', async (t) => {
    const peer = await connect(t, {});
    if (!peer) return;
    const result = await returnsBetween(250, 5_000, () => peer.execute(consume({ channel: unique('pb_quiet'), wait_ms: 300 })));
    assert.deepEqual(result.data, { messages: [] });
    assert.equal(result.truncated, false);
  });

  test('messages published during a consume are returned, text as utf8 and other bytes as base64', async (t) => {
    const peer = await connect(t, {});
    if (!peer) return;
    const target = unique('pb_live');
    const started = performance.now();
    const consuming = peer.execute(consume({ channel: target, max_messages: 2, wait_ms: 10_000 }, { timeoutMs: 15_000 }));
    // Publish once the consume has subscribed (Redis counts its subscriber).
    await eventually(async () => ((await redisCommand(['PUBSUB', 'NUMSUB', target])) as [string, number])[1] > 0, 250, 20);
    await redisCommand(['PUBLISH', target, 'first']);
    const binary = Buffer.from([0xff, 0x00, 0xfe]);
    const client = await redisClient();
    await client.publish(target, binary);
    client.destroy();
    const result = await consuming;
    assert.deepEqual(messages(result), [
      { channel: target, message: 'first', encoding: 'utf8' },
      { channel: target, message: binary.toString('base64'), encoding: 'base64' },
    ]);
    assert.ok(performance.now() - started < 9_000, 'returned once max_messages arrived, before wait_ms');
  });

  test('publish in read mode: read_only', async (t) => {
    const peer = await connect(t, {});
    if (!peer) return;
    assert.equal((await expectFailure(peer.execute(publish(unique('pb_ro'), 'no', 'read')))).code, 'read_only');
  });

  test("the connector's channel is a boundary: another channel is scope_denied; none defaults to it", async (t) => {
    const own = unique('pb_own');
    const peer = await connect(t, { channel: own });
    if (!peer) return;
    const other = unique('pb_other');
    assert.equal((await expectFailure(peer.execute(publish(other, 'no')))).code, 'scope_denied');
    assert.equal((await expectFailure(peer.execute(consume({ channel: other, wait_ms: 0 })))).code, 'scope_denied');
    const listener = await subscriber(own);
    t.after(() => listener.close());
    const result = await peer.execute(call('publish', { message: 'to the default' }));
    assert.deepEqual(result.data, { channel: own, receivers: 1 });
    assert.equal((await peer.execute(consume({ channel: own, wait_ms: 0 }))).ok, true);
    // The connection that consumed has unsubscribed: it publishes again.
    assert.equal((await peer.execute(publish(own, 'after the consume'))).ok, true);
    await waitFor(() => listener.received.some((message) => message.toString() === 'after the consume'));
  });

  test('an ACL user without access to the channel: permission_denied, and the session still works', async (t) => {
    const peer = await connect(t, {}, ['+@all', 'resetchannels', '&pb_allowed_*']);
    if (!peer) return;
    const denied = unique('pb_denied');
    assert.equal((await expectFailure(peer.execute(publish(denied, 'no')))).code, 'permission_denied');
    assert.equal((await expectFailure(peer.execute(consume({ channel: denied, wait_ms: 0 })))).code, 'permission_denied');
    const allowed = unique('pb_allowed');
    assert.deepEqual((await peer.execute(publish(allowed, 'yes'))).data, { channel: allowed, receivers: 0 });
    assert.deepEqual((await peer.execute(consume({ channel: allowed, wait_ms: 0 }))).data, { messages: [] });
  });

  test('without a channel in the connector or the request: validation_failed at channel', async (t) => {
    const peer = await connect(t, {});
    if (!peer) return;
    const error = await expectFailure(peer.execute(call('publish', { message: 'x' })));
    assert.equal(error.code, 'validation_failed');
    assert.deepEqual(errorPaths(error), ['channel']);
  });
});
