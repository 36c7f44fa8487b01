import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqttClient from 'mqtt';
import mqtt from '../../src/providers/mqtt/index.js';
import { assertFitsIn, call, messagesOf, returnsBetween } from '../support/messaging-fixture.js';
import { uniqueName } from '../support/names.js';
import { startMosquitto } from '../support/private-brokers.js';
import { requireReady } from '../support/server-processes.js';
import { requireServer } from '../support/servers.js';
import { describeProvider, expectFailure, openPeer, type Peer } from './conformance.js';

// The suite's peer is a private Mosquitto with a password and an ACL (the machine's accepts anyone): user
// `pb-user` may read and write pb/#, nothing else.
const user = 'pb-user';
const password = uniqueName('pw');
const canary = uniqueName('Canary');
const broker = await startMosquitto({ users: { [user]: password }, acl: `user ${user}\ntopic readwrite pb/#\n` });
after(() => ('missing' in broker ? undefined : broker.stop()));
const port = 'missing' in broker ? 1 : broker.port;
const config = { host: '127.0.0.1', port, username: user, password };

type Message = {
  topic: string;
  message: string;
  encoding: string;
  headers: Record<string, unknown>;
  qos: number;
  retain: boolean;
};
const messages = (result: { data: unknown }) => messagesOf<Message>(result);
const publish = (input: Record<string, unknown>) => call('publish', input);
const consume = (topic: string, more: Record<string, unknown> = {}) => call('consume', { topic, ...more }, 'read');

/** A client of the test's own on `target`, beside Patchbay; ended after `work`. */
async function direct<T>(target: Record<string, unknown>, work: (client: mqttClient.MqttClient) => Promise<T>): Promise<T> {
  const client = await mqttClient.connectAsync({ ...target, protocolVersion: 5, reconnectPeriod: 0 });
  try {
    return await work(client);
  } finally {
    await client.endAsync(true);
  }
}

/** The retained messages under `filter`, as a new subscriber receives them. */
const retainedUnder = (filter: string) =>
  direct(config, async (client) => {
    const seen: string[] = [];
    client.on('message', (topic, payload) => seen.push(`${topic}=${payload.toString()}`));
    await client.subscribeAsync(filter, { qos: 1 });
    await sleep(300);
    return seen.sort();
  });

/** Publishes to `topic` from a client of the test's own until `until` settles: live traffic for a waiting consume. */
async function whilePublishing<T>(target: Record<string, unknown>, topic: string, until: Promise<T>): Promise<T> {
  return direct(target, async (client) => {
    let done = false;
    const result = until.finally(() => (done = true));
    for (let n = 0; !done; n += 1) {
      await client.publishAsync(topic, `tick-${n}`, { qos: 1, properties: { userProperties: { n: String(n) } } });
      await sleep(50);
    }
    return result;
  });
}

const base = uniqueName('pb', '/');
const retainedTopics = [`${base}/kept`, ...Array.from({ length: 5 }, (_, i) => `${base}/many/${i}`)];

describeProvider(mqtt, {
  config,
  ready: async (t) => requireReady(t, broker),
  setup: () =>
    direct(config, async (client) => {
      await client.publishAsync(`${base}/kept`, 'kept', { qos: 1, retain: true });
      for (const [i, topic] of retainedTopics.slice(1).entries())
        await client.publishAsync(topic, `message-${i}`, { qos: 1, retain: true });
    }),
  // An empty retained message clears the topic.
  teardown: () =>
    direct(config, async (client) => {
      for (const topic of [...retainedTopics, `${base}/ops`]) await client.publishAsync(topic, '', { qos: 1, retain: true });
    }),
  at: ({ host, port }) => ({ ...config, host, port }),
  probe: consume(`${base}/probe`, { wait_ms: 0 }),
  schema: {
    bad: [
      { config: { ...config, port: 0 }, path: 'port' },
      { config: { url: 'ws://broker.internal:8080/mqtt' }, path: 'url' },
      { config: { url: 'mqtt://broker.internal', host: 'broker.internal' }, path: 'url' },
      { config: { url: 'mqtt://broker.internal/?clean=false' }, path: 'url' },
      { config: { ...config, topic: 'pb/#/x' }, path: 'topic' },
    ],
  },
  connectionTest: { message: /^Connected to the MQTT broker/ },
  auth: {
    configs: [
      { ...config, password: canary },
      { ...config, username: uniqueName('nobody'), password: canary },
    ],
  },
  tls: { config: (plaintext) => ({ ...config, ...plaintext, tls: true }) },
  secrets: { configs: [{ url: `mqtt://${user}:${canary}@127.0.0.1:${port}` }, { ...config, password: canary }] },
  operations: [
    {
      name: 'publish a retained message with user properties, confirmed (qos 1)',
      ...publish({ topic: `${base}/ops`, message: 'hello', headers: { kind: 'greeting' }, qos: 1, retain: true }),
      check: (result) => assert.deepEqual(result.data, { topic: `${base}/ops`, qos: 1, retain: true }),
    },
    {
      name: 'consume a filter: the retained messages under it arrive, user properties included',
      ...consume(`${base}/+`, { max_messages: 2, wait_ms: 3_000 }),
      check: (result) => {
        const received = messages(result).sort((a, b) => a.topic.localeCompare(b.topic));
        assert.deepEqual(received, [
          { topic: `${base}/kept`, message: 'kept', encoding: 'utf8', headers: {}, qos: 1, retain: true },
          { topic: `${base}/ops`, message: 'hello', encoding: 'utf8', headers: { kind: 'greeting' }, qos: 1, retain: true },
        ]);
      },
    },
  ],
  readMode: {
    writes: [publish({ topic: `${base}/ro`, message: 'refused', qos: 1, retain: true })],
    snapshot: async () => ({ retained: await retainedUnder(`${base}/ro`) }),
  },
  truncation: {
    // Five retained messages under many/#: they arrive at once on every subscribe.
    maxRows: {
      ...consume(`${base}/many/#`, { max_messages: 10, wait_ms: 3_000 }),
      limit: 3,
      check: (result) => assert.equal(messages(result).length, 3),
      exact: consume(`${base}/many/#`, { max_messages: 3, wait_ms: 3_000 }),
    },
    maxBytes: {
      ...consume(`${base}/many/#`, { max_messages: 5, wait_ms: 3_000 }),
      limit: 250,
      check: (result) => {
        assert.ok(messages(result).length >= 1 && messages(result).length < 5);
        assertFitsIn(result, 250);
      },
      exact: consume(`${base}/many/#`, { max_messages: 1, wait_ms: 3_000 }),
    },
  },
  restart: { restartPeer: () => ('missing' in broker ? Promise.resolve() : broker.restart()) },
});

describe('mqtt', () => {
  test('a consume with no traffic returns nothing after about wait_ms', async (t) => {
    if (!requireReady(t, broker)) return;
    const peer = openPeer(t, mqtt, config);
    await peer.execute(consume(`${base}/quiet`, { wait_ms: 0 })); // connected before the clock starts
    assert.deepEqual(
      messages(await returnsBetween(250, 5_000, () => peer.execute(consume(`${base}/quiet`, { wait_ms: 300 })))),
      [],
    );
  });

  test("the machine's Mosquitto: a consume returns what is published while it waits", async (t) => {
    if (!(await requireServer(t, 'mosquitto'))) return;
    const shared = { host: '127.0.0.1', port: 1883 };
    const peer = openPeer(t, mqtt, shared);
    const topic = `pb/${uniqueName('live')}/a`;
    const result = await whilePublishing(
      shared,
      topic,
      peer.execute(consume(topic.replace(/a$/, '+'), { max_messages: 2, wait_ms: 10_000 })),
    );
    const received = messages(result);
    assert.equal(received.length, 2);
    for (const message of received) {
      assert.equal(message.topic, topic);
      assert.match(message.message, /^tick-\d+$/);
      assert.deepEqual(message.headers, { n: message.message.slice('tick-'.length) });
      assert.equal(message.retain, false);
    }
  });

  test('overlapping filters on one session: each consume gets each message once', async (t) => {
    if (!requireReady(t, broker)) return;
    const peer = openPeer(t, mqtt, config);
    const topic = `${base}/overlap/a`;
    const both = Promise.all([
      peer.execute(consume(`${base}/overlap/#`, { max_messages: 3, wait_ms: 10_000 })),
      peer.execute(consume(topic, { max_messages: 3, wait_ms: 10_000 })),
    ]);
    // The broker matches both subscriptions; without subscription identifiers the wider one would get each twice.
    for (const result of await whilePublishing(config, topic, both)) {
      const bodies = messages(result).map((m) => m.message);
      assert.equal(bodies.length, 3);
      assert.equal(new Set(bodies).size, 3, `a message came twice: ${bodies.join(', ')}`);
    }
  });

  test('a topic outside the boundary: scope_denied; a narrower filter is allowed', async (t) => {
    if (!requireReady(t, broker)) return;
    const limited = openPeer(t, mqtt, { ...config, topic: `${base}/scoped/#` });
    for (const request of [
      publish({ topic: `${base}/other`, message: 'x' }),
      consume(`${base}/#`),
      consume(`${base}/+/x`),
      consume('#'),
    ]) {
      assert.equal((await expectFailure(limited.execute(request))).code, 'scope_denied', JSON.stringify(request.input));
    }
    // A publish needs a concrete topic: a filter boundary is no default for it.
    assert.equal((await expectFailure(limited.execute(publish({ message: 'x' })))).code, 'validation_failed');
    assert.deepEqual(messages(await limited.execute(consume(`${base}/scoped/a/+`, { wait_ms: 0 }))), []);
    assert.deepEqual(messages(await limited.execute({ operation: 'consume', input: { wait_ms: 0 } })), []);
  });

  test('a publish the ACL refuses (qos 1): permission_denied', async (t) => {
    if (!requireReady(t, broker)) return;
    const peer: Peer = openPeer(t, mqtt, config);
    const error = await expectFailure(peer.execute(publish({ topic: uniqueName('other', '/'), message: 'x', qos: 1 })));
    assert.equal(error.code, 'permission_denied');
    assert.equal((await peer.execute(consume(`${base}/after`, { wait_ms: 0 }))).ok, true, 'the session still works');
  });
});
