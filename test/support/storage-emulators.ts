import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type { ExecuteResult } from '../../src/providers/harness.js';
import type { Provider } from '../../src/providers/types.js';
import { expectFailure, openPeer, type Call, type Config, type Peer, type ProviderFixture } from '../providers/conformance.js';
import { GcsStub } from './gcs-stub.js';
import { uniqueName } from './names.js';

/**
 * The storage emulators the provider tests start for themselves, each on 127.0.0.1 at a free port with its
 * data in a temporary folder, and stop afterwards: s3rver (a child process) for s3 and minio, azurite (a child
 * process, blob service only) for azure_blob, and the GCS JSON-API stub (in this process) for gcs.
 * `restart()` stops and starts one on the same port with the same data, for the `restart` capability.
 */
export interface Emulator {
  host: string;
  port: number;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** How long an emulator may take to listen on a loaded machine (azurite loads its metadata store first). */
const START_MS = 60_000;

/**
 * s3rver (the devDependency, 3.7.1), path-style. It accepts unsigned requests, and signed ones only from the key
 * id `S3RVER` (any other answers InvalidAccessKeyId); it does not verify V4 signatures (its authentication
 * middleware leaves V4 unimplemented), so a wrong secret for that key id passes: tests may rely on its key id
 * check, never on a signature check. It runs in a child process with OpenSSL's legacy provider: its
 * ListObjectsV2 continuation tokens are DES-encrypted, which OpenSSL 3 refuses otherwise.
 */
async function startS3rver(): Promise<Emulator & { endpoint: string; accessKeyId: string; secretAccessKey: string }> {
  const main = binOf('s3rver', 's3rver');
  const directory = await mkdtemp(path.join(tmpdir(), 'patchbay-s3rver-'));
  const emulator = await childEmulator('s3rver', /listening on [^:\s]+:(\d+)/, (port) => [
    '--openssl-legacy-provider',
    main,
    ...['--directory', directory, '--address', '127.0.0.1', '--port', String(port), '--silent', '--no-vhost-buckets'],
  ]);
  return {
    ...emulator,
    endpoint: `http://127.0.0.1:${emulator.port}`,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    stop: async () => {
      await emulator.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * A bucket of the test's own on s3rver, under a unique name, and the test's S3 client to it (beside
 * Patchbay); `remove()` empties and deletes it.
 */
async function s3rverBucket(emulator: { endpoint: string; accessKeyId: string; secretAccessKey: string }) {
  const sdk = await import('@aws-sdk/client-s3');
  const bucket = uniqueName('pb-s3');
  const client = new sdk.S3Client({
    region: 'us-east-1',
    endpoint: emulator.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: emulator.accessKeyId, secretAccessKey: emulator.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  const channel: StoreChannel = {
    put: async (key, body, contentType) =>
      void (await client.send(new sdk.PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }))),
    read: async (key) => {
      try {
        const { Body } = await client.send(new sdk.GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from((await Body?.transformToByteArray()) ?? []);
      } catch (error) {
        if ((error as Error).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
    keys: async (prefix) =>
      ((await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }))).Contents ?? []).map(
        (item) => item.Key ?? '',
      ),
    clear: async (prefix) => {
      for (const key of await channel.keys(prefix)) await client.send(new sdk.DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
  await client.send(new sdk.CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    channel,
    remove: async () => {
      await channel.clear('');
      await client.send(new sdk.DeleteBucketCommand({ Bucket: bucket }));
      client.destroy();
    },
  };
}

/**
 * s3rver with a bucket of the test file's own, both removed after the file: the store of the s3 and minio tests,
 * and the connector config that reaches it with `prefix: root`.
 */
export async function s3rverStore() {
  const emulator = await startS3rver();
  const store = await s3rverBucket(emulator);
  after(async () => {
    await store.remove();
    await emulator.stop();
  });
  const root = 'agents/';
  const config = {
    bucket: store.bucket,
    endpoint: emulator.endpoint,
    access_key_id: emulator.accessKeyId,
    secret_access_key: emulator.secretAccessKey,
    prefix: root,
  };
  return { emulator, bucket: store.bucket, channel: store.channel, root, config };
}

/** Azurite's well-known development account (https://learn.microsoft.com/azure/storage/common/storage-use-azurite). */
export const AZURITE_ACCOUNT = {
  name: 'devstoreaccount1',
  key: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
};

/** azurite-blob (the devDependency, 3.35.0), blob service only; `endpoint` is its path-style account URL. */
export async function startAzurite(): Promise<Emulator & { endpoint: string }> {
  const main = binOf('azurite', 'azurite-blob');
  const location = await mkdtemp(path.join(tmpdir(), 'patchbay-azurite-'));
  const emulator = await childEmulator('azurite', /listens on https?:\/\/[^:\s]+:(\d+)/, (port) => [
    main,
    ...['--blobHost', '127.0.0.1', '--blobPort', String(port), '--location', location],
    ...['--silent', '--skipApiVersionCheck', '--disableTelemetry', '--loose'],
  ]);
  return {
    ...emulator,
    endpoint: `http://127.0.0.1:${emulator.port}/${AZURITE_ACCOUNT.name}`,
    stop: async () => {
      await emulator.stop();
      await rm(location, { recursive: true, force: true });
    },
  };
}

/** The script of a package's bin. */
function binOf(packageName: string, bin: string): string {
  const manifest = require(`${packageName}/package.json`) as { bin: Record<string, string> | string };
  const script = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin[bin];
  if (script === undefined) throw new Error(`${packageName} has no bin ${bin}`);
  return path.join(path.dirname(require.resolve(`${packageName}/package.json`)), script);
}

/**
 * A Node child process that prints the port it listens on (matched by `listening`): first on a free port
 * (0), after a restart on the same one.
 */
async function childEmulator(name: string, listening: RegExp, args: (port: number) => string[]): Promise<Emulator> {
  let port = 0;
  let child: ChildProcess | undefined;
  // A test process that ends without its after() hooks (a crash) must not leave the emulator running.
  const orphan = () => child?.kill('SIGKILL');
  const start = async () => {
    child = spawn(process.execPath, args(port), { stdio: ['ignore', 'pipe', 'pipe'] });
    process.once('exit', orphan);
    port = await listeningPort(name, child, listening);
  };
  const stop = async () => {
    const running = child;
    child = undefined;
    process.off('exit', orphan);
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, 'exit');
    running.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
}

function listeningPort(name: string, child: ChildProcess, listening: RegExp): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = '';
    const done = () => {
      clearTimeout(timer);
      child.off('exit', exited);
      child.stdout?.off('data', read).resume(); // keep draining, so a full pipe never blocks the emulator
      child.stderr?.off('data', read).resume();
    };
    const exited = (code: number | null) => {
      done();
      reject(new Error(`${name} exited with ${code}: ${output}`));
    };
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = listening.exec(output);
      if (match) {
        done();
        resolve(Number(match[1]));
      }
    };
    const timer = setTimeout(() => {
      done();
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${START_MS} ms: ${output}`));
    }, START_MS);
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', exited);
  });
}

/** The GCS JSON-API stub (test/support/gcs-stub.ts), in this process. */
export async function startGcsStub(): Promise<Emulator & { stub: GcsStub; endpoint: string }> {
  const stub = await GcsStub.start();
  const { port } = new URL(stub.endpoint);
  return {
    host: '127.0.0.1',
    port: Number(port),
    endpoint: stub.endpoint,
    stub,
    restart: async () => void (await stub.restart()),
    stop: async () => void (await stub.stop()),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// What the four storage test files share besides their emulators: the test's own channel to a store, the
// store-independent half of the conformance fixture, and the storage cases every provider runs.

/** The test's own way into a store, beside Patchbay: to seed objects, read them back and clear them. */
export interface StoreChannel {
  put(key: string, body: Buffer | string, contentType: string): Promise<void>;
  /** undefined when there is no such object. */
  read(key: string): Promise<Buffer | undefined>;
  /** Every key under `prefix`, sorted. */
  keys(prefix: string): Promise<string[]>;
  /** Deletes every object under `prefix`. */
  clear(prefix: string): Promise<void>;
}

const text = 'text/plain';
const call = (operation: string, input: Record<string, unknown>, mode: Call['mode'] = 'read'): Call => ({
  operation,
  input,
  mode,
});
const dataOf = (result: ExecuteResult) => result.data as Record<string, unknown>;
const keysOf = (result: ExecuteResult) => (dataOf(result).objects as { key: string }[]).map((object) => object.key);

/**
 * The half of a storage fixture that does not depend on the store, for a config whose `prefix` is `root`:
 * `setup` seeds objects under it (the test file creates the bucket or container and clears `root` after).
 */
export function storageFixture(
  channel: StoreChannel,
  root: string,
): Pick<ProviderFixture, 'setup' | 'probe' | 'operations' | 'readMode' | 'truncation'> {
  const ops = `${root}ops/`;
  return {
    setup: async () => {
      for (const name of ['r1', 'r2', 'r3', 'r4']) await channel.put(`${root}rows/${name}`, 'row', text);
      for (const name of ['e1', 'e2', 'e3']) await channel.put(`${root}exact/${name}`, 'row', text);
      await channel.put(`${root}big.txt`, 'abcdefghijklmnopqrstuvwxyz', text);
      await channel.put(`${root}ten.txt`, '0123456789', text);
      await channel.put(`${root}kept.txt`, 'kept', text);
    },
    probe: call('list', { limit: 1 }),
    operations: [
      {
        name: 'put stores a UTF-8 text under the prefix',
        ...call('put', { key: `${ops}hello.txt`, body: 'héllo wörld' }, 'read_write'),
        check: async (result) => {
          assert.deepEqual([dataOf(result).key, dataOf(result).size], [`${ops}hello.txt`, 13]);
          assert.equal((await channel.read(`${ops}hello.txt`))?.toString(), 'héllo wörld');
        },
      },
      {
        name: 'head reads its size, content type, etag and modification time',
        ...call('head', { key: `${ops}hello.txt` }),
        check: (result) => {
          const { size, content_type, etag, last_modified } = dataOf(result);
          assert.deepEqual([size, content_type], [13, 'text/plain; charset=utf-8']);
          assert.ok(typeof etag === 'string' && etag.length > 0 && !etag.startsWith('"'), `etag ${String(etag)}`);
          assert.ok(
            typeof last_modified === 'string' && !Number.isNaN(Date.parse(last_modified)),
            `last_modified ${String(last_modified)}`,
          );
        },
      },
      {
        name: 'get returns it as text with its content_type',
        ...call('get', { key: `${ops}hello.txt` }),
        check: (result) => {
          const { encoding, body, content_type } = dataOf(result);
          assert.deepEqual([encoding, body, content_type], ['utf8', 'héllo wörld', 'text/plain; charset=utf-8']);
          assert.equal(result.truncated, false);
        },
      },
      {
        name: 'list shows it under the prefix, on one page',
        ...call('list', { prefix: ops }),
        check: (result) => {
          assert.deepEqual(keysOf(result), [`${ops}hello.txt`]);
          assert.deepEqual([dataOf(result).prefix, dataOf(result).next_cursor, result.truncated], [ops, null, false]);
        },
      },
      {
        name: 'delete removes it; head then answers upstream_not_found',
        ...call('delete', { key: `${ops}hello.txt` }, 'read_write'),
        check: async (result, peer) => {
          assert.deepEqual(result.data, { key: `${ops}hello.txt`, deleted: true });
          assert.equal(await channel.read(`${ops}hello.txt`), undefined);
          assert.equal((await expectFailure(peer.execute(call('head', { key: `${ops}hello.txt` })))).code, 'upstream_not_found');
        },
      },
      {
        name: 'get of a missing key: upstream_not_found',
        ...call('get', { key: `${ops}missing.txt` }),
        fails: 'upstream_not_found',
      },
      {
        name: 'delete of a missing key: upstream_not_found',
        ...call('delete', { key: `${ops}missing.txt` }, 'read_write'),
        fails: 'upstream_not_found',
      },
      {
        name: 'get of a key outside the prefix: scope_denied',
        ...call('get', { key: 'outside/secret.txt' }),
        fails: 'scope_denied',
      },
    ],
    readMode: {
      writes: [
        call('put', { key: `${root}kept.txt`, body: 'replaced' }),
        call('put', { key: `${root}refused.txt`, body: 'new' }),
        call('delete', { key: `${root}kept.txt` }),
      ],
      snapshot: async () => ({ keys: await channel.keys(root), kept: (await channel.read(`${root}kept.txt`))?.toString() }),
    },
    truncation: {
      maxRows: {
        ...call('list', { prefix: `${root}rows/` }),
        limit: 3,
        check: (result) => {
          assert.deepEqual(
            keysOf(result),
            ['r1', 'r2', 'r3'].map((name) => `${root}rows/${name}`),
          );
          assert.equal(typeof dataOf(result).next_cursor, 'string');
        },
        exact: call('list', { prefix: `${root}exact/` }),
      },
      maxBytes: {
        ...call('get', { key: `${root}big.txt` }),
        limit: 10,
        check: (result) => assert.deepEqual([dataOf(result).body, dataOf(result).size], ['abcdefghij', 26]),
        exact: call('get', { key: `${root}ten.txt` }),
      },
    },
  };
}

/**
 * The storage cases beyond the conformance suite, the same for every store: the prefix boundary (and an
 * attachment's narrower one), list pages and their cursor, bodies as base64, JSON and cut text, read mode,
 * and the checks on keys and bodies. `config` sets `prefix: root`; each case works under a prefix of its own.
 */
export function describeStorageCases(provider: Provider, store: { config: Config; root: string; channel: StoreChannel }): void {
  const { config, root, channel } = store;
  const own = (t: TestContext, name: string) => {
    const prefix = `${root}${uniqueName(name)}/`;
    t.after(() => channel.clear(prefix));
    return prefix;
  };
  const code = async (peer: Peer, request: Call) => (await expectFailure(peer.execute(request))).code;

  describe(`${provider.id} storage`, () => {
    test('a key or listing outside the connector prefix is scope_denied, and nothing is written', async (t) => {
      const peer = openPeer(t, provider, config);
      for (const request of [
        call('get', { key: 'outside/a.txt' }),
        call('head', { key: `x${root}a.txt` }),
        call('put', { key: 'outside/a.txt', body: 'x' }, 'read_write'),
        call('delete', { key: 'outside/a.txt' }, 'read_write'),
        call('list', { prefix: 'outside/' }),
        call('list', { prefix: '' }),
      ]) {
        assert.equal(await code(peer, request), 'scope_denied', JSON.stringify(request));
      }
      assert.deepEqual(await channel.keys('outside/'), []);
    });

    test("an attachment's narrower prefix confines keys and listings to it", async (t) => {
      const team = own(t, 'team');
      await channel.put(`${team}b/other.txt`, 'not yours', text);
      const narrowed = openPeer(t, provider, { ...config, prefix: `${team}a/` }); // what a config_override merges in
      await narrowed.execute(call('put', { key: `${team}a/mine.txt`, body: 'mine' }, 'read_write'));
      assert.equal(await code(narrowed, call('get', { key: `${team}b/other.txt` })), 'scope_denied');
      assert.equal(await code(narrowed, call('list', { prefix: team })), 'scope_denied');
      const listed = await narrowed.execute(call('list', {}));
      assert.deepEqual([dataOf(listed).prefix, keysOf(listed)], [`${team}a/`, [`${team}a/mine.txt`]]);
    });

    test('list pages through a prefix with next_cursor; a page the caller sized is not truncated', async (t) => {
      const prefix = own(t, 'pages');
      const names = ['k1', 'k2', 'k3', 'k4', 'k5'].map((name) => `${prefix}${name}`);
      for (const name of names) await channel.put(name, 'x', text);
      const peer = openPeer(t, provider, config);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 5; page += 1) {
        const result = await peer.execute(call('list', { prefix, limit: 2, ...(cursor !== undefined && { cursor }) }));
        assert.equal(result.truncated, false);
        assert.ok(keysOf(result).length <= 2);
        seen.push(...keysOf(result));
        cursor = (dataOf(result).next_cursor as string | null) ?? undefined;
        if (cursor === undefined) break;
      }
      assert.equal(cursor, undefined, 'the last page has no next_cursor');
      assert.deepEqual(seen, names);
    });

    test('get of a binary object answers base64 with its content_type', async (t) => {
      const key = `${own(t, 'binary')}image.png`;
      const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x01]);
      await channel.put(key, bytes, 'image/png');
      const got = await openPeer(t, provider, config).execute(call('get', { key }));
      assert.deepEqual(
        [dataOf(got).encoding, dataOf(got).body, dataOf(got).content_type, dataOf(got).size],
        ['base64', bytes.toString('base64'), 'image/png', 8],
      );
    });

    test('put takes base64 and a content type; a JSON object comes back parsed', async (t) => {
      const prefix = own(t, 'bodies');
      const peer = openPeer(t, provider, config);
      const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
      await peer.execute(
        call('put', { key: `${prefix}raw.bin`, body: bytes.toString('base64'), encoding: 'base64' }, 'read_write'),
      );
      assert.deepEqual(await channel.read(`${prefix}raw.bin`), bytes);
      const json = { total: 42, items: ['a', 'é'] };
      await peer.execute(
        call('put', { key: `${prefix}doc.json`, body: JSON.stringify(json), content_type: 'application/json' }, 'read_write'),
      );
      const got = await peer.execute(call('get', { key: `${prefix}doc.json` }));
      assert.deepEqual([dataOf(got).encoding, dataOf(got).body, dataOf(got).content_type], ['json', json, 'application/json']);
    });

    test('max_bytes cuts a text on a character boundary and says truncated; JSON cut short comes back as text', async (t) => {
      const prefix = own(t, 'cut');
      await channel.put(`${prefix}accents.txt`, 'ééééé', 'text/plain; charset=utf-8'); // 10 bytes
      await channel.put(`${prefix}doc.json`, '{"a": "abcdefghij"}', 'application/json');
      const peer = openPeer(t, provider, config);
      const cut = await peer.execute({ ...call('get', { key: `${prefix}accents.txt` }), limits: { maxBytes: 3 } });
      assert.deepEqual([dataOf(cut).encoding, dataOf(cut).body, cut.truncated], ['utf8', 'é', true]);
      const json = await peer.execute({ ...call('get', { key: `${prefix}doc.json` }), limits: { maxBytes: 8 } });
      assert.deepEqual([dataOf(json).encoding, dataOf(json).body, json.truncated], ['utf8', '{"a": "a', true]);
    });

    test('put and delete in read mode are refused with read_only, and the store is unchanged', async (t) => {
      const prefix = own(t, 'readonly');
      await channel.put(`${prefix}kept.txt`, 'kept', text);
      const peer = openPeer(t, provider, config);
      assert.equal(await code(peer, call('put', { key: `${prefix}new.txt`, body: 'x' })), 'read_only');
      assert.equal(await code(peer, call('delete', { key: `${prefix}kept.txt` })), 'read_only');
      assert.deepEqual(await channel.keys(prefix), [`${prefix}kept.txt`]);
    });

    test('a key with a . or .. segment, and a body that is not base64, are validation_failed at their field', async (t) => {
      const peer = openPeer(t, provider, config);
      for (const key of [`${root}../escape.txt`, `${root}a/./b.txt`, `${root}a\u0000b`]) {
        const error = await expectFailure(peer.execute(call('get', { key })));
        assert.deepEqual([error.code, error.errors?.map((e) => e.path)], ['validation_failed', ['key']], key);
      }
      const error = await expectFailure(
        peer.execute(call('put', { key: `${root}x.bin`, body: 'not base64!', encoding: 'base64' }, 'read_write')),
      );
      assert.deepEqual([error.code, error.errors?.map((e) => e.path)], ['validation_failed', ['body']]);
    });
  });
}
