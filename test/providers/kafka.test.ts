import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type KafkaConfig as KafkaOptions } from 'kafkajs';
import kafka from '../../src/providers/kafka/index.js';
import { KafkaStub } from '../support/kafka-stub.js';
import {
  assertFitsIn,
  bodies,
  call,
  eventually,
  messagesOf,
  ownCall,
  ownSession,
  returnsBetween,
} from '../support/messaging-fixture.js';
import { uniqueName as unique } from '../support/names.js';
import { describeProvider, expectFailure, off, openPeer, type Config, type ProviderFixture } from './conformance.js';

const canary = `Canary${randomBytes(6).toString('hex')}`;
type Message = { message: string; key: string | null; headers: Record<string, string>; partition: number; offset: string };
const messages = (result: { data: unknown }) => messagesOf<Message>(result);

/** A Kafka peer and the test's own channel to it (a kafkajs client beside Patchbay), to make topics and look at them. */
interface Backend {
  config: Config;
  at(address: { host: string; port: number }): Config;
  createTopic(name: string, partitions?: number): Promise<void>;
  deleteTopics(names: string[]): Promise<void>;
  produce(topic: string, values: string[]): Promise<void>;
  /**
   * What a write could change on a topic: the high watermark of each partition (publish) and the offsets every
   * Patchbay group has committed on it (consume), `group:partition` → offset.
   */
  topicState(topic: string): Promise<{ highWatermarks: number[]; committed: Record<string, number> }>;
}

/**
 * Publishes with a kafkajs client of the test's own, beside Patchbay, connected for this one call: a long-lived
 * one would keep asking for the metadata of topics the tests have deleted since, which kafkajs fails on.
 */
async function produceWith(options: KafkaOptions, topic: string, values: string[]): Promise<void> {
  const producer = new Kafka({ ...options, clientId: 'patchbay-test', logLevel: logLevel.NOTHING }).producer({
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    await producer.send({ topic, messages: values.map((value) => ({ value })) });
  } finally {
    await producer.disconnect();
  }
}

const probeTopic = unique('pb-probe'); // the probe publishes here
const opsTopic = unique('pb-ops'); // the operation cases
const readTopic = unique('pb-read'); // one message the refused writes of read mode must leave alone
const cutTopic = unique('pb-cut'); // five messages to cut with max_rows and max_bytes
const CUT = ['m1', 'm2', 'm3', 'm4', 'm5'];

/** The conformance fixture for one backend; `extra` holds what differs between the stub and a real broker. */
function fixture(backend: Backend, extra: Pick<ProviderFixture, 'auth' | 'secrets' | 'restart'>): ProviderFixture {
  const { config } = backend;
  return {
    ...extra,
    config,
    setup: async () => {
      for (const topic of [probeTopic, opsTopic, readTopic, cutTopic]) await backend.createTopic(topic);
      await backend.produce(readTopic, ['kept']);
      await backend.produce(cutTopic, CUT);
    },
    teardown: () => backend.deleteTopics([probeTopic, opsTopic, readTopic, cutTopic]),
    at: (address) => backend.at(address),
    probe: call('publish', { topic: probeTopic, message: 'probe' }),
    schema: {
      bad: [
        { config: { brokers: [] }, path: 'brokers' },
        { config: { brokers: ['no-port'] }, path: 'brokers.0' },
        { config: { ...config, username: 'u', password: 'p' }, path: 'sasl_mechanism' },
        { config: { ...config, sasl_mechanism: 'plain' }, path: 'username' },
        { config: { ...config, topic: 'not a topic' }, path: 'topic' },
        { config: { brokers: ['[::1]:9092'] }, path: 'brokers.0' }, // kafkajs cannot dial an IPv6 literal
      ],
    },
    connectionTest: { message: /^Connected to Kafka: \d+ broker/ },
    tls: { config: (plaintext) => ({ ...backend.at(plaintext), ssl: true }) },
    operations: [
      {
        name: 'publish with a key and headers says where the message landed',
        ...call('publish', { topic: opsTopic, key: 'customer-42', message: '{"order": 1001}', headers: { source: 'agent' } }),
        check: (result) => assert.deepEqual(result.data, { topic: opsTopic, partition: 0, offset: '0' }),
      },
      {
        name: 'consume returns it with key, headers and offset, commits, and the group does not see it again',
        ...call('consume', { topic: opsTopic, max_messages: 5, wait_ms: 200 }),
        check: async (result, peer) => {
          assert.deepEqual(
            messages(result).map(({ message, key, headers, partition, offset }) => ({
              message,
              key,
              headers,
              partition,
              offset,
            })),
            [{ message: '{"order": 1001}', key: 'customer-42', headers: { source: 'agent' }, partition: 0, offset: '0' }],
          );
          assert.deepEqual(messages(await peer.execute(call('consume', { topic: opsTopic, wait_ms: 0 }))), []);
        },
      },
      {
        name: 'a topic that does not exist: upstream_not_found',
        ...call('publish', { topic: unique('pb-none'), message: 'x' }),
        fails: 'upstream_not_found',
      },
    ],
    readMode: {
      writes: [call('publish', { topic: readTopic, message: 'refused' }, 'read'), call('consume', { topic: readTopic }, 'read')],
      snapshot: () => backend.topicState(readTopic),
    },
    truncation: {
      maxRows: {
        ...call('consume', { topic: cutTopic, wait_ms: 0 }),
        limit: 3,
        check: (result) => assert.deepEqual(bodies(result), ['m1', 'm2', 'm3']),
        exact: call('consume', { topic: cutTopic, max_messages: 3, wait_ms: 0 }), // m4 and m5, within the limit
      },
      maxBytes: {
        ...call('consume', { topic: cutTopic, wait_ms: 0 }),
        limit: 300, // {"messages":[…]} and two records of about 120 bytes
        check: (result) => {
          assert.deepEqual(bodies(result), ['m1', 'm2']);
          assertFitsIn(result, 300);
        },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The wire-protocol stub, every capability on, each shown by the stub itself except tls_error:
// - auth_failed: the stub checks SASL PLAIN passwords and SCRAM-SHA-256 and SCRAM-SHA-512 proofs (RFC 5802/7677);
// - tls_error: shown against the suite's plaintext listener, as for every provider; the stub speaks no TLS, so a
//   TLS session that succeeds is not shown for kafka at all;
// - restart: the stub drops every connection and listens again on the same port with its topics;
// - lifecycle: the provider dials every broker through the egress guard, so the suite sees each socket close.

const USER = { user: 'pb_user', password: `pw-${randomBytes(6).toString('hex')}` };
const READER = { user: 'pb_reader', password: `pw-${randomBytes(6).toString('hex')}`, produce: false };
const stub = await KafkaStub.start({ users: [USER, READER] });
after(() => stub.stop());
const stubBrokers = [`${stub.host}:${stub.port}`];
const produce = (topic: string, values: string[]) => produceWith({ brokers: stubBrokers }, topic, values);
type Mechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';
const sasl = (user: string, password: string, mechanism: Mechanism = 'plain') => ({
  sasl_mechanism: mechanism,
  username: user,
  password,
});

const stubBackend: Backend = {
  config: { brokers: stubBrokers },
  at: ({ host, port }) => ({ brokers: [`${host}:${port}`] }),
  createTopic: async (name, partitions) => stub.createTopic(name, partitions),
  deleteTopics: async (names) => names.forEach((name) => stub.deleteTopic(name)),
  produce,
  topicState: async (topic) => ({
    highWatermarks: stub.highWatermarks(topic),
    committed: Object.fromEntries(
      [...stub.groups.keys()].flatMap((group) =>
        Object.entries(stub.committed(group, topic)).map(([partition, offset]) => [`${group}:${partition}`, offset]),
      ),
    ),
  }),
};

describeProvider(
  kafka,
  fixture(stubBackend, {
    auth: {
      configs: [
        { brokers: stubBrokers, ...sasl(USER.user, canary) }, // a known user, the wrong password
        { brokers: stubBrokers, ...sasl(unique('pb_nobody'), canary) },
        { brokers: stubBrokers, ...sasl(USER.user, canary, 'scram-sha-256') }, // the client proof does not verify
        { brokers: stubBrokers, ...sasl(unique('pb_nobody'), canary, 'scram-sha-512') },
      ],
    },
    secrets: {
      configs: [
        { brokers: stubBrokers, ...sasl(USER.user, canary) },
        { brokers: stubBrokers, ...sasl(USER.user, canary, 'scram-sha-512') },
        { brokers: stubBrokers, ...sasl(USER.user, USER.password) }, // logs in: the password must still never show
      ],
    },
    restart: { restartPeer: async () => void (await stub.restart()) }, // same port, same topics; every open connection breaks
  }),
);

// ---------------------------------------------------------------------------------------------------------------
// A real broker, when KAFKA_BROKERS is set (host:port[,host:port]): the same fixture. Authentication needs
// KAFKA_SASL_MECHANISM, KAFKA_USERNAME and KAFKA_PASSWORD for a SASL listener; restart is the stub's alone.

const realBrokers = process.env.KAFKA_BROKERS?.split(',')
  .map((broker) => broker.trim())
  .filter(Boolean);

describe('kafka on a real broker (KAFKA_BROKERS)', { skip: realBrokers ? undefined : 'KAFKA_BROKERS is not set' }, () => {
  if (!realBrokers) return;
  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_USERNAME: username, KAFKA_PASSWORD: password } = process.env;
  const login = mechanism && username && password ? { sasl_mechanism: mechanism, username, password } : undefined;
  const options: KafkaOptions = {
    brokers: realBrokers,
    ...(login && { sasl: { mechanism: mechanism as 'plain', username: username as string, password: password as string } }),
  };
  const client = new Kafka({ ...options, logLevel: logLevel.NOTHING });
  const admin = client.admin();
  const connected = admin.connect();
  after(() => admin.disconnect());
  const backend: Backend = {
    config: { brokers: realBrokers, ...login },
    at: ({ host, port }) => ({ brokers: [`${host}:${port}`], ...login }),
    createTopic: async (name, partitions = 1) => {
      await connected;
      await admin.createTopics({ topics: [{ topic: name, numPartitions: partitions }], waitForLeaders: true });
    },
    deleteTopics: async (names) => void (await admin.deleteTopics({ topics: names })),
    produce: (topic, values) => produceWith(options, topic, values),
    topicState: async (topic) => {
      const offsets = await admin.fetchTopicOffsets(topic);
      const groups = (await admin.listGroups()).groups.filter(({ groupId }) => groupId.startsWith('patchbay-'));
      const committed: Record<string, number> = {};
      for (const { groupId } of groups) {
        for (const { partitions } of await admin.fetchOffsets({ groupId, topics: [topic] })) {
          for (const { partition, offset } of partitions)
            if (Number(offset) >= 0) committed[`${groupId}:${partition}`] = Number(offset);
        }
      }
      const highWatermarks = offsets.sort((a, b) => a.partition - b.partition).map(({ high }) => Number(high));
      return { highWatermarks, committed };
    },
  };
  const wrong = login && { brokers: realBrokers, sasl_mechanism: mechanism, username, password: canary };
  describeProvider(
    kafka,
    fixture(backend, {
      auth: wrong ? { configs: [wrong] } : off('set KAFKA_SASL_MECHANISM, KAFKA_USERNAME and KAFKA_PASSWORD for a SASL listener'),
      secrets: { configs: [{ ...backend.config, sasl_mechanism: 'plain', username: unique('pb_nobody'), password: canary }] },
      restart: off('a test cannot restart a shared broker; the stub suite restarts its peer'),
    }),
  );
});

// ---------------------------------------------------------------------------------------------------------------

/** A topic of the test's own on the stub, removed afterwards. */
function ownTopic(t: TestContext, partitions = 1): string {
  const name = unique('pb-t');
  stub.createTopic(name, partitions);
  t.after(() => stub.deleteTopic(name));
  return name;
}

describe('kafka', () => {
  test('a bounded consume with no traffic returns after about wait_ms, with nothing', async (t) => {
    const topic = ownTopic(t, 3);
    const peer = openPeer(t, kafka, stubBackend.config);
    const result = await returnsBetween(500, 600 + 3_000, () => peer.execute(call('consume', { topic, wait_ms: 600 })));
    assert.deepEqual(messages(result), []);
  });

  test('a consume commits in group patchbay-<instance id>, else patchbay-connector-<connector id>', async (t) => {
    const topic = ownTopic(t);
    await produce(topic, ['a', 'b']);
    const peer = openPeer(t, kafka, stubBackend.config);
    const consume = (instanceId?: string) =>
      peer.harness.execute({
        providerId: 'kafka',
        poolKey: 'own-group-test',
        config: stubBackend.config,
        operation: 'consume',
        input: { topic, wait_ms: 0 },
        call: {
          mode: 'read_write',
          limits: { maxRows: 100, maxBytes: 1_048_576, timeoutMs: 5_000 },
          boundParams: {},
          instanceId,
          connectorId: 'c1',
        },
      });
    assert.deepEqual(bodies(await consume('inst-1')), ['a', 'b']);
    assert.deepEqual(stub.committed('patchbay-inst-1', topic), { 0: 2 });
    assert.deepEqual(bodies(await consume('inst-1')), [], 'acknowledged messages are not redelivered');
    assert.deepEqual(bodies(await consume()), ['a', 'b'], 'another group reads from the beginning');
    assert.deepEqual(stub.committed('patchbay-connector-c1', topic), { 0: 2 });
  });

  test('what max_rows cut off comes again in the next consume of the group', async (t) => {
    const topic = ownTopic(t);
    await produce(topic, ['a', 'b', 'c']);
    const peer = openPeer(t, kafka, stubBackend.config);
    const cut = await peer.execute({ ...call('consume', { topic, wait_ms: 0 }), limits: { maxRows: 1 } });
    assert.deepEqual([bodies(cut), cut.truncated], [['a'], true]);
    assert.deepEqual(bodies(await peer.execute(call('consume', { topic, wait_ms: 0 }))), ['b', 'c']);
  });

  test('a consume that fails before its response is built commits nothing: the next one gets its messages', async (t) => {
    const topic = ownTopic(t);
    // A session of the test's own, whose call it aborts once the stub has handed the consume its records.
    const session = await ownSession(t, kafka, stubBackend.config);
    const connectorId = unique('abort');
    const controller = new AbortController();
    const before = stub.fetchedRecords;
    // On an empty topic the consume waits for 10 messages; it has 3 when the call goes away.
    const failing = session.execute(
      'consume',
      { topic, max_messages: 10, wait_ms: 5_000 },
      ownCall(controller.signal, { connectorId }),
    );
    await produce(topic, ['a', 'b', 'c']);
    await eventually(() => stub.fetchedRecords >= before + 3, 500, 10);
    controller.abort(new Error('the caller went away'));
    await assert.rejects(failing);
    assert.deepEqual(stub.committed(`patchbay-connector-${connectorId}`, topic), {}, 'nothing committed');
    const again = await session.execute(
      'consume',
      { topic, max_messages: 10, wait_ms: 0 },
      ownCall(new AbortController().signal, { connectorId }),
    );
    assert.deepEqual(bodies(again), ['a', 'b', 'c']);
  });

  test('a connector topic is a boundary: another topic is scope_denied, no topic means that one', async (t) => {
    const topic = ownTopic(t);
    const other = ownTopic(t);
    const peer = openPeer(t, kafka, { ...stubBackend.config, topic });
    assert.equal((await expectFailure(peer.execute(call('publish', { topic: other, message: 'x' })))).code, 'scope_denied');
    assert.equal((await expectFailure(peer.execute(call('consume', { topic: other })))).code, 'scope_denied');
    assert.deepEqual((await peer.execute(call('publish', { message: 'here' }))).data, { topic, partition: 0, offset: '0' });
    assert.deepEqual(bodies(await peer.execute(call('consume', { wait_ms: 0 }))), ['here']);
    assert.deepEqual(stub.highWatermarks(other), [0]);
    const unset = openPeer(t, kafka, stubBackend.config);
    assert.equal((await expectFailure(unset.execute(call('publish', { message: 'x' })))).code, 'validation_failed');
  });

  test('a missing connector topic fails the connection test with upstream_not_found; so does a consume of one', async (t) => {
    const peer = openPeer(t, kafka, stubBackend.config);
    const result = await peer.harness.test('kafka', { ...stubBackend.config, topic: unique('pb-none') });
    assert.equal(result.error_code, 'upstream_not_found', result.message);
    assert.equal((await expectFailure(peer.execute(call('consume', { topic: unique('pb-none') })))).code, 'upstream_not_found');
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    test(`SASL ${mechanism}: the right password logs in as that user, a wrong one is auth_failed`, async (t) => {
      const topic = ownTopic(t);
      const user = openPeer(t, kafka, { ...stubBackend.config, ...sasl(USER.user, USER.password, mechanism) });
      assert.equal((await user.harness.test('kafka', user.config)).success, true);
      assert.equal((await user.execute(call('publish', { topic, message: 'signed' }))).ok, true);
      // The broker knows who logged in: the reader may consume, and its publish is refused (permission_denied).
      const reader = openPeer(t, kafka, { ...stubBackend.config, ...sasl(READER.user, READER.password, mechanism) });
      const refused = await expectFailure(reader.execute(call('publish', { topic, message: 'refused' })));
      assert.equal(refused.code, 'permission_denied');
      assert.deepEqual(bodies(await reader.execute(call('consume', { topic, wait_ms: 0 }))), ['signed']);
      const wrong = { ...stubBackend.config, ...sasl(USER.user, `${USER.password}x`, mechanism) };
      const result = await user.harness.test('kafka', wrong);
      assert.deepEqual([result.success, result.error_code], [false, 'auth_failed'], result.message);
      assert.equal(
        (await expectFailure(openPeer(t, kafka, wrong).execute(call('publish', { topic, message: 'x' })))).code,
        'auth_failed',
      );
      assert.deepEqual(stub.highWatermarks(topic), [1], 'only the signed message landed');
    });
  }

  test('a message published during the wait is returned as soon as max_messages arrived', async (t) => {
    const topic = ownTopic(t, 2);
    const peer = openPeer(t, kafka, stubBackend.config);
    const started = performance.now();
    const consuming = peer.execute(call('consume', { topic, max_messages: 1, wait_ms: 10_000 }));
    await sleep(200);
    await produce(topic, ['late']);
    assert.deepEqual(bodies(await consuming), ['late']);
    assert.ok(performance.now() - started < 8_000, 'returned before wait_ms');
  });
});
