import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as SQS from '@aws-sdk/client-sqs';
import { createRequestHandler } from 'local-aws-sqs';
import sqs from '../../src/providers/sqs/index.js';
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
import { TcpStub } from '../support/tcp-stub.js';
import { describeProvider, errorPaths, expectFailure, openPeer } from './conformance.js';

const canary = `Canary${randomBytes(6).toString('hex')}`;
type Message = { message: string; headers: Record<string, string>; receive_count: number; redelivered: boolean };
const messages = (result: { data: unknown }) => messagesOf<Message>(result);

const KEY = { accessKeyId: 'pb-key', secretAccessKey: `sk-${randomBytes(6).toString('hex')}` };
const READER = { accessKeyId: 'pb-reader', secretAccessKey: `sk-${randomBytes(6).toString('hex')}` }; // refused SendMessage
const ACCOUNT = '123456789012';

/**
 * local-aws-sqs (the devDependency, named in docs/providers/sqs.md) on 127.0.0.1 at a free port, behind a front
 * that does what the emulator does not: it refuses an access key id it does not know (InvalidClientTokenId, as
 * SQS answers it) and SendMessage from READER (AccessDenied). Like s3rver it does not verify signatures, so a
 * wrong secret for a known key id passes; unsigned requests pass (anonymous). It records the key ids it saw.
 * `restart()` stops and starts the front on the same port; the queues and messages live on.
 */
async function startEmulator() {
  const { service, requestHandler } = createRequestHandler({
    port: 0,
    hostname: '127.0.0.1',
    emulateQueueCreationLifecycle: false,
  });
  const seen: (string | undefined)[] = [];
  const refuse = (res: http.ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': `${code};Sender` });
    res.end(JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message }));
  };
  const front = new TcpStub(
    http.createServer((req, res) => {
      const keyId = /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1];
      seen.push(keyId);
      if (keyId !== undefined && keyId !== KEY.accessKeyId && keyId !== READER.accessKeyId) {
        refuse(res, 400, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
      } else if (keyId === READER.accessKeyId && req.headers['x-amz-target'] === 'AmazonSQS.SendMessage') {
        refuse(res, 403, 'AccessDenied', 'Access to the resource is denied.');
      } else {
        void requestHandler(req, res);
      }
    }),
  );
  await front.start();
  const { port } = front;
  service.PORT = port;
  const endpoint = `http://127.0.0.1:${port}`;
  // The test's own client, beside Patchbay: to make queues and look at them.
  const client = new SQS.SQSClient({ region: 'us-east-1', endpoint, credentials: KEY, maxAttempts: 1 });
  return {
    port,
    seen,
    client,
    queueUrl: (name: string, host = '127.0.0.1', at = port, scheme = 'http') => `${scheme}://${host}:${at}/${ACCOUNT}/${name}`,
    restart: () => front.restart(),
    stop: async () => {
      client.destroy();
      await front.stop();
    },
  };
}

const emulator = await startEmulator();
after(() => emulator.stop());

async function createQueue(name: string): Promise<string> {
  return (await emulator.client.send(new SQS.CreateQueueCommand({ QueueName: name }))).QueueUrl ?? '';
}
const deleteQueue = async (url: string) => void (await emulator.client.send(new SQS.DeleteQueueCommand({ QueueUrl: url })));

/** Messages waiting, and received but not yet deleted. */
async function counts(url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes = {} } = await emulator.client.send(
    new SQS.GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible),
  };
}

const keys = { access_key_id: KEY.accessKeyId, secret_access_key: KEY.secretAccessKey };
const suiteQueue = unique('pb-conf');
const config = { queue_url: emulator.queueUrl(suiteQueue), ...keys };
const TEN = Array.from({ length: 10 }, (_, index) => `t${index + 1}`);

describeProvider(sqs, {
  config,
  setup: async () => void (await createQueue(suiteQueue)),
  teardown: () => deleteQueue(config.queue_url),
  at: ({ host, port }) => ({ ...config, queue_url: emulator.queueUrl(suiteQueue, host, port) }),
  // A consume of an empty queue: it removes nothing the cases count on (they drain what they publish).
  probe: call('consume', { max_messages: 1, wait_ms: 0 }),
  schema: {
    bad: [
      { config: { queue_url: 'not a url' }, path: 'queue_url' },
      { config: { queue_url: 'https://key:secret@sqs.eu-west-1.amazonaws.com/1/q' }, path: 'queue_url' },
      { config: { ...config, secret_access_key: undefined }, path: 'secret_access_key' },
      { config: { ...config, endpoint: 'ftp://emulator' }, path: 'endpoint' },
    ],
  },
  connectionTest: { message: /^Queue pb-conf-[0-9a-f]+ is reachable: \d+ message\(s\) waiting$/ },
  auth: { configs: [{ ...config, access_key_id: unique('pb-nobody'), secret_access_key: canary }] },
  tls: {
    config: (plaintext) => ({ ...config, queue_url: emulator.queueUrl(suiteQueue, plaintext.host, plaintext.port, 'https') }),
  },
  secrets: {
    configs: [
      { ...config, access_key_id: unique('pb-nobody'), secret_access_key: canary },
      { ...config, secret_access_key: canary }, // accepted (the emulator does not verify signatures): still never shown
    ],
  },
  operations: [
    {
      name: 'publish sends a message with string attributes',
      ...call('publish', { message: '{"order": 1001}', headers: { source: 'agent' } }),
      check: (result) => assert.match(String((result.data as { message_id: unknown }).message_id), /^[0-9a-f-]{36}$/),
    },
    {
      name: 'consume receives it with its attributes and deletes it',
      ...call('consume', { max_messages: 10, wait_ms: 1_000 }),
      check: async (result, peer) => {
        assert.deepEqual(
          messages(result).map(({ message, headers, redelivered }) => ({ message, headers, redelivered })),
          [{ message: '{"order": 1001}', headers: { source: 'agent' }, redelivered: false }],
        );
        assert.deepEqual(bodies(await peer.execute(call('consume', { wait_ms: 0 }))), []);
        assert.deepEqual(await counts(config.queue_url), { visible: 0, inFlight: 0 });
      },
    },
    {
      name: 'publish may name the queue by name or URL (ten messages for the truncation cases)',
      ...call('publish', { queue: suiteQueue, message: 't1' }),
      check: async (_result, peer) => {
        for (const body of TEN.slice(1)) await peer.execute(call('publish', { queue: config.queue_url, message: body }));
        assert.equal((await counts(config.queue_url)).visible, 10);
      },
    },
    { name: 'another queue: scope_denied', ...call('publish', { queue: 'other', message: 'x' }), fails: 'scope_denied' },
  ],
  readMode: {
    writes: [call('publish', { message: 'refused' }, 'read'), call('consume', {}, 'read')],
    snapshot: () => counts(config.queue_url),
  },
  truncation: {
    maxRows: {
      ...call('consume', { wait_ms: 0 }),
      limit: 3,
      check: (result) => {
        assert.equal(new Set(bodies(result)).size, 3);
        assert.ok(bodies(result).every((body) => TEN.includes(body)));
      },
    },
    maxBytes: {
      ...call('consume', { wait_ms: 0 }),
      limit: 200, // {"messages":[…]} and one message of about 150 bytes
      check: (result) => {
        assert.equal(messages(result).length, 1);
        assertFitsIn(result, 200);
      },
    },
  },
  restart: { restartPeer: async () => void (await emulator.restart()) }, // same port, same queues; every open connection breaks
});

/** A queue of the test's own, deleted afterwards. */
async function ownQueue(t: TestContext): Promise<string> {
  const url = await createQueue(unique('pb-q'));
  t.after(() => deleteQueue(url));
  return url;
}

const send = (url: string, body: string) =>
  emulator.client.send(new SQS.SendMessageCommand({ QueueUrl: url, MessageBody: body }));

describe('sqs', () => {
  test('a bounded consume with no traffic returns after about wait_ms, with nothing', async (t) => {
    const peer = openPeer(t, sqs, { ...config, queue_url: await ownQueue(t) });
    const result = await returnsBetween(500, 600 + 3_000, () => peer.execute(call('consume', { wait_ms: 600 })));
    assert.deepEqual(messages(result), []);
  });

  test('acknowledged messages are deleted, not redelivered; what max_rows cut off is back at once', async (t) => {
    const url = await ownQueue(t);
    for (const body of ['a', 'b', 'c']) await send(url, body);
    const peer = openPeer(t, sqs, { ...config, queue_url: url });
    const cut = await peer.execute({ ...call('consume', { wait_ms: 0 }), limits: { maxRows: 2 } });
    assert.deepEqual([messages(cut).length, cut.truncated], [2, true]);
    assert.deepEqual(await counts(url), { visible: 1, inFlight: 0 }, 'two deleted, the third visible again');
    const rest = await peer.execute(call('consume', { wait_ms: 0 }));
    assert.equal(messages(rest).length, 1);
    assert.ok(!bodies(cut).includes(bodies(rest)[0] ?? ''));
    assert.deepEqual(await counts(url), { visible: 0, inFlight: 0 });
  });

  test('a consume that fails before its response is built deletes nothing: the message is back at once', async (t) => {
    const url = await ownQueue(t);
    const session = await ownSession(t, sqs, { ...config, queue_url: url });
    const controller = new AbortController();
    // On an empty queue the consume waits for 10 messages; it holds one when the call goes away.
    const failing = session.execute(
      'consume',
      { max_messages: 10, wait_ms: 5_000 },
      ownCall(controller.signal, { connectorId: 'c1' }),
    );
    await sleep(200);
    await send(url, 'held');
    await eventually(async () => (await counts(url)).inFlight > 0, 300, 10);
    controller.abort(new Error('the caller went away'));
    await assert.rejects(failing);
    assert.deepEqual(await counts(url), { visible: 1, inFlight: 0 }, 'handed back, not deleted');
    const peer = openPeer(t, sqs, { ...config, queue_url: url });
    const again = messages(await peer.execute(call('consume', { wait_ms: 0 })));
    assert.deepEqual(
      again.map(({ message, redelivered }) => ({ message, redelivered })),
      [{ message: 'held', redelivered: true }],
    );
  });

  test('a queue that does not exist: upstream_not_found, for the connection test and a call', async (t) => {
    const missing = { ...config, queue_url: emulator.queueUrl(unique('pb-none')) };
    const peer = openPeer(t, sqs, missing);
    assert.equal((await peer.harness.test('sqs', missing)).error_code, 'upstream_not_found');
    assert.equal((await expectFailure(peer.execute(call('publish', { message: 'x' })))).code, 'upstream_not_found');
  });

  test('a key refused SendMessage: permission_denied', async (t) => {
    const url = await ownQueue(t);
    const peer = openPeer(t, sqs, {
      queue_url: url,
      access_key_id: READER.accessKeyId,
      secret_access_key: READER.secretAccessKey,
    });
    assert.equal((await expectFailure(peer.execute(call('publish', { message: 'x' })))).code, 'permission_denied');
  });

  test("without keys requests go unsigned: the machine's AWS credentials are never used", async (t) => {
    const url = await ownQueue(t);
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'pb-ambient';
    process.env.AWS_SECRET_ACCESS_KEY = canary;
    t.after(() => {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    });
    const seenBefore = emulator.seen.length;
    const peer = openPeer(t, sqs, { queue_url: url });
    assert.equal((await peer.execute(call('publish', { message: 'anonymous' }))).ok, true);
    assert.deepEqual(new Set(emulator.seen.slice(seenBefore)), new Set([undefined]));
  });

  test('a base64 message that is not UTF-8 text: validation_failed at message', async (t) => {
    const peer = openPeer(t, sqs, { ...config, queue_url: await ownQueue(t) });
    const error = await expectFailure(
      peer.execute(call('publish', { message: Buffer.from([0xff, 0xfe]).toString('base64'), encoding: 'base64' })),
    );
    assert.deepEqual([error.code, errorPaths(error)], ['validation_failed', ['message']]);
  });
});
