import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import rabbitmq from '../../src/providers/rabbitmq/index.js';
import {
  call,
  eventually,
  FOURTEEN,
  messagesOf,
  ownCall,
  ownSession,
  returnsBetween,
  storedTruncation,
} from '../support/messaging-fixture.js';
import { uniqueName as unique } from '../support/names.js';
import { startTcpProxy } from '../support/private-brokers.js';
import { requireServer } from '../support/servers.js';
import { describeProvider, expectFailure, openPeer } from './conformance.js';

// The suite's peer is the machine's RabbitMQ behind a proxy of the test's own, so that `restart` can cut the
// pooled connection without touching the shared server.
const broker = { host: '127.0.0.1', port: 5672 };
const proxy = await startTcpProxy(broker);
const config = { host: proxy.host, port: proxy.port, username: 'guest', password: 'guest' };
const canary = `Canary${randomBytes(6).toString('hex')}`;

type Message = {
  message: string;
  encoding: string;
  headers: Record<string, unknown>;
  exchange: string;
  routing_key: string;
  redelivered: boolean;
};
const messages = (result: { data: unknown }) => messagesOf<Message>(result);
const publish = (input: Record<string, unknown>) => call('publish', input);
const consume = (queue: string, more: Record<string, unknown> = {}) => call('consume', { queue, ...more });

/** The test's own connection to the broker, beside Patchbay: to set up, to look at the queues, to clean up. */
let directConnection: Promise<ChannelModel> | undefined;
async function direct<T>(work: (channel: ConfirmChannel) => Promise<T>): Promise<T> {
  directConnection ??= amqp.connect(`amqp://guest:guest@${broker.host}:${broker.port}`);
  const channel = await (await directConnection).createConfirmChannel();
  try {
    return await work(channel);
  } finally {
    await channel.close().catch(() => undefined);
  }
}
after(async () => {
  await proxy.stop();
  if (directConnection) await (await directConnection).close();
});

/** Puts messages on a queue, confirmed by the broker. */
const enqueue = (queue: string, bodies: string[]) =>
  direct(async (channel) => {
    for (const body of bodies) channel.sendToQueue(queue, Buffer.from(body));
    await channel.waitForConfirms();
  });
const readyCount = (queue: string) => direct(async (channel) => (await channel.checkQueue(queue)).messageCount);

const queue = unique('pb-ops'); // the operations' queue, bound to `exchange` with routing key `rk`
const exchange = unique('pb-x');
const probeQueue = unique('pb-probe'); // always empty
const readOnlyQueue = unique('pb-ro'); // holds one message that read mode must leave alone
const truncatedQueue = unique('pb-trunc'); // FOURTEEN, for the max_rows and max_bytes cases
const suiteQueues = [queue, probeQueue, readOnlyQueue, truncatedQueue];

describeProvider(rabbitmq, {
  config,
  ready: (t) => requireServer(t, 'rabbitmq'),
  setup: async () => {
    await direct(async (channel) => {
      for (const name of suiteQueues) await channel.assertQueue(name, { durable: false });
      await channel.assertExchange(exchange, 'direct', { durable: false });
      await channel.bindQueue(queue, exchange, 'rk');
    });
    await enqueue(readOnlyQueue, ['kept']);
    await enqueue(truncatedQueue, FOURTEEN);
  },
  teardown: () =>
    direct(async (channel) => {
      for (const name of suiteQueues) await channel.deleteQueue(name);
      await channel.deleteExchange(exchange);
    }),
  at: ({ host, port }) => ({ ...config, host, port }),
  // Both operations write (a consume acknowledges); a consume of an always-empty queue changes nothing.
  probe: consume(probeQueue, { wait_ms: 0 }),
  schema: {
    bad: [
      { config: { ...config, port: 0 }, path: 'port' },
      { config: { port: 5672 }, path: 'host' },
      { config: { url: 'amqp://guest:guest@mq.internal/', host: 'mq.internal' }, path: 'url' },
      { config: { url: 'amqp://mq.internal/?heartbeat=5' }, path: 'url' },
      { config: { url: 'http://mq.internal' }, path: 'url' },
    ],
  },
  connectionTest: { message: /^Connected to RabbitMQ \d+\.\d+/ },
  auth: {
    configs: [
      { ...config, password: canary }, // guest with a wrong password
      { ...config, username: unique('nobody'), password: canary },
    ],
  },
  tls: { config: (plaintext) => ({ ...config, ...plaintext, tls: true }) },
  secrets: {
    configs: [{ url: `amqp://guest:${canary}@${proxy.host}:${proxy.port}/` }, { ...config, password: canary }],
  },
  operations: [
    {
      name: 'publish to a queue through the default exchange, with headers',
      ...publish({ queue, message: 'hello', headers: { kind: 'greeting' } }),
      check: (result) => assert.deepEqual(result.data, { exchange: '', routing_key: queue, routed: true }),
    },
    {
      name: 'consume takes it with its headers and acknowledges it: the next consume finds nothing',
      ...consume(queue, { max_messages: 5, wait_ms: 2_000 }),
      check: async (result, peer) => {
        assert.deepEqual(messages(result), [
          {
            message: 'hello',
            encoding: 'utf8',
            headers: { kind: 'greeting' },
            exchange: '',
            routing_key: queue,
            redelivered: false,
          },
        ]);
        assert.deepEqual(messages(await peer.execute(consume(queue, { wait_ms: 200 }))), []);
      },
    },
    {
      name: 'publish bytes to an exchange with a routing key; consume returns them as base64',
      ...publish({ exchange, routing_key: 'rk', message: Buffer.from([0, 255, 1]).toString('base64'), encoding: 'base64' }),
      check: async (result, peer) => {
        assert.deepEqual(result.data, { exchange, routing_key: 'rk', routed: true });
        const [received] = messages(await peer.execute(consume(queue)));
        assert.deepEqual(
          { message: received?.message, encoding: received?.encoding, exchange: received?.exchange, key: received?.routing_key },
          { message: 'AP8B', encoding: 'base64', exchange, key: 'rk' },
        );
      },
    },
    {
      name: 'publish to an exchange with a key no binding matches: routed false',
      ...publish({ exchange, routing_key: 'nobody-listens', message: 'lost' }),
      check: (result) => assert.equal((result.data as { routed: boolean }).routed, false),
    },
    {
      name: 'publish to a queue that does not exist: upstream_not_found',
      ...publish({ queue: unique('pb-none'), message: 'x' }),
      fails: 'upstream_not_found',
    },
    {
      name: 'publish to an exchange that does not exist: upstream_not_found',
      ...publish({ exchange: unique('pb-none'), message: 'x' }),
      fails: 'upstream_not_found',
    },
    {
      name: 'consume from a queue that does not exist: upstream_not_found',
      ...consume(unique('pb-none')),
      fails: 'upstream_not_found',
    },
  ],
  readMode: {
    writes: [publish({ queue: readOnlyQueue, message: 'new' }), consume(readOnlyQueue)],
    snapshot: async () => ({ ready: await readyCount(readOnlyQueue) }),
  },
  truncation: storedTruncation((max) => consume(truncatedQueue, { max_messages: max })),
  restart: { restartPeer: async () => void proxy.dropConnections() },
  // amqplib dials through the egress guard's lookup only; the proxy counts the connections it carries.
  openConnections: async () => proxy.openConnections,
});

/** A queue of the test's own, deleted afterwards. */
async function ownQueue(t: TestContext): Promise<string> {
  const name = unique('pb-q');
  await direct((channel) => channel.assertQueue(name, { durable: false }));
  t.after(() => direct((channel) => channel.deleteQueue(name)));
  return name;
}

describe('rabbitmq', () => {
  test('a consume of an empty queue returns nothing after about wait_ms', async (t) => {
    if (!(await requireServer(t, 'rabbitmq'))) return;
    const name = await ownQueue(t);
    const peer = openPeer(t, rabbitmq, config);
    await peer.execute(consume(name, { wait_ms: 0 })); // connected before the clock starts
    assert.deepEqual(messages(await returnsBetween(250, 5_000, () => peer.execute(consume(name, { wait_ms: 300 })))), []);
  });

  test('a consume that fails before its response is built hands its messages back; acknowledged ones stay gone', async (t) => {
    if (!(await requireServer(t, 'rabbitmq'))) return;
    const name = await ownQueue(t);
    const session = await ownSession(t, rabbitmq, config);
    const aborted = new AbortController();
    const waiting = session.execute('consume', { queue: name, max_messages: 5, wait_ms: 10_000 }, ownCall(aborted.signal));
    waiting.catch(() => undefined);
    // Subscribed to the empty queue first: a message already there would be returned at once.
    const consumers = () => direct(async (channel) => (await channel.checkQueue(name)).consumerCount);
    await eventually(async () => (await consumers()) > 0, 500, 20);
    await enqueue(name, ['in flight']);
    // Delivered to the waiting consume (no longer ready), not yet acknowledged: then the call is aborted.
    await eventually(async () => (await readyCount(name)) === 0, 500, 20);
    assert.equal(await readyCount(name), 0, 'the waiting consume holds the message');
    aborted.abort(new Error('the caller went away'));
    await assert.rejects(waiting, /the caller went away/);

    const peer = openPeer(t, rabbitmq, config);
    const [again] = messages(await peer.execute(consume(name, { wait_ms: 2_000 })));
    assert.equal(again?.message, 'in flight');
    assert.equal(again?.redelivered, true);
    assert.deepEqual(messages(await peer.execute(consume(name, { wait_ms: 200 }))), [], 'acknowledged: not redelivered');
  });

  test('a queue or exchange outside the boundary: scope_denied; publish in read mode: read_only', async (t) => {
    if (!(await requireServer(t, 'rabbitmq'))) return;
    const name = await ownQueue(t);
    const limited = openPeer(t, rabbitmq, { ...config, queue: name });
    for (const request of [
      publish({ queue: unique('pb-other'), message: 'x' }),
      publish({ routing_key: unique('pb-other'), message: 'x' }),
      publish({ exchange: 'amq.direct', routing_key: name, message: 'x' }),
      consume(unique('pb-other')),
    ]) {
      assert.equal((await expectFailure(limited.execute(request))).code, 'scope_denied', JSON.stringify(request.input));
    }
    assert.equal((await expectFailure(limited.execute({ ...publish({ message: 'x' }), mode: 'read' }))).code, 'read_only');
    // Naming nothing uses the boundary itself.
    assert.deepEqual((await limited.execute(publish({ message: 'inside' }))).data, {
      exchange: '',
      routing_key: name,
      routed: true,
    });
    assert.equal(messages(await limited.execute(consume(name)))[0]?.message, 'inside');

    const byExchange = openPeer(t, rabbitmq, { ...config, exchange: 'amq.direct' });
    assert.equal(
      (await expectFailure(byExchange.execute(publish({ exchange: '', queue: name, message: 'x' })))).code,
      'scope_denied',
    );
    const routedNowhere = await byExchange.execute(publish({ routing_key: 'pb-nobody', message: 'x' }));
    assert.deepEqual(routedNowhere.data, { exchange: 'amq.direct', routing_key: 'pb-nobody', routed: false });
  });

  test('a vhost that does not exist: permission_denied; a configured queue that does not: upstream_not_found', async (t) => {
    if (!(await requireServer(t, 'rabbitmq'))) return;
    const peer = openPeer(t, rabbitmq, config);
    const noVhost = await peer.harness.test('rabbitmq', { ...config, vhost: unique('pb-no-vhost') });
    assert.equal(noVhost.error_code, 'permission_denied', noVhost.message);
    const noQueue = await peer.harness.test('rabbitmq', { ...config, queue: unique('pb-none') });
    assert.equal(noQueue.error_code, 'upstream_not_found', noQueue.message);
  });
});
