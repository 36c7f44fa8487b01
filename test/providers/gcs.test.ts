import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { EgressGuard } from '../../src/net/egress.js';
import { readCapped } from '../../src/providers/_shared/storage-content.js';
import { egressAgents } from '../../src/net/http-agents.js';
import gcs from '../../src/providers/gcs/index.js';
import { GcsBucket } from '../../src/providers/gcs/json-api.js';
import { parseServiceAccount, type ServiceAccountKey } from '../../src/providers/gcs/service-account.js';
import { foreignServiceAccount } from '../support/gcs-stub.js';
import { uniqueName } from '../support/names.js';
import { describeStorageCases, startGcsStub, storageFixture, type StoreChannel } from '../support/storage-emulators.js';
import { describeProvider, expectFailure, off, openPeer, type Config } from './conformance.js';

/**
 * Against the JSON-API stub by default; against real Cloud Storage when GCS_TEST_BUCKET names a bucket and
 * GCS_TEST_CREDENTIALS a service account key file that may write to it (the run works under a prefix of
 * its own and deletes what it wrote).
 */
const realBucket = process.env.GCS_TEST_BUCKET;
const realKeyFile = process.env.GCS_TEST_CREDENTIALS;
const real = realBucket !== undefined && realKeyFile !== undefined;

const emulator = real ? undefined : await startGcsStub();
const bucket = realBucket ?? uniqueName('pb-gcs');
const root = real ? `${uniqueName('patchbay-test')}/` : 'agents/';
const credentials = real ? readFileSync(realKeyFile, 'utf8') : emulator?.stub.serviceAccount('writer');
const config: Config = {
  bucket,
  credentials_json: credentials,
  prefix: root,
  ...(emulator && { api_endpoint: emulator.endpoint }),
};
const tokenUri = real ? (parseServiceAccount(credentials ?? '') as ServiceAccountKey).token_uri : `${emulator?.endpoint}/token`;
// A key the token endpoint never issued (or that was deleted): invalid_grant.
const revoked = foreignServiceAccount(tokenUri);

/**
 * The lines of a key file's private key. The suite looks for each secret field's whole value (here the key file's
 * JSON text); a private key that leaked on its own, inside JSON that escapes its line breaks, shows these lines.
 */
const privateKeyLines = (keyFile: string | undefined): string[] =>
  ((JSON.parse(keyFile ?? '{}') as { private_key?: string }).private_key ?? '')
    .split('\n')
    .filter((line) => /^[A-Za-z0-9+/]{64}$/.test(line))
    .slice(1); // the first line starts alike in every RSA key

const { channel, close } = emulator ? { channel: stubChannel(), close: () => emulator.stop() } : realChannel();
emulator?.stub.createBucket(bucket);
after(async () => {
  await channel.clear(root);
  await close();
});

describeProvider(gcs, {
  config,
  ...storageFixture(channel, root),
  at: ({ host, port }) => ({ ...config, api_endpoint: `http://${host}:${port}` }),
  schema: {
    bad: [
      { config: { bucket, credentials_json: '{"type": "service_account"}' }, path: 'credentials_json' },
      { config: { bucket, credentials_json: '[1, 2]' }, path: 'credentials_json' },
      { config: { bucket: 'a/b' }, path: 'bucket' },
      { config: { bucket, api_endpoint: 'ftp://storage.example.com' }, path: 'api_endpoint' },
    ],
  },
  connectionTest: { message: new RegExp(`^bucket ${bucket} is reachable`) },
  // The stub checks the assertion's signature against the keys it issued, as Google does.
  auth: { configs: [{ ...config, credentials_json: revoked }] },
  // tls_error is shown against the suite's plaintext listener; the stub speaks plain HTTP only, so a TLS session
  // that succeeds is shown only against real Cloud Storage.
  tls: { config: ({ host, port }) => ({ ...config, api_endpoint: `https://${host}:${port}` }) },
  secrets: {
    configs: [{ ...config, credentials_json: revoked }],
    values: [...privateKeyLines(credentials), ...privateKeyLines(revoked)],
  },
  restart: emulator ? { restartPeer: () => emulator.restart() } : off('real Cloud Storage cannot be restarted by a test'),
});

describeStorageCases(gcs, { config, root, channel });

describe('gcs', () => {
  test('a bucket that does not exist: upstream_not_found', async (t) => {
    const { harness } = openPeer(t, gcs, config);
    const result = await harness.test('gcs', { ...config, bucket: uniqueName('pb-missing') });
    assert.equal(result.error_code, 'upstream_not_found', result.message);
  });

  test(
    'a reader service account lists, and its put is refused by the store: permission_denied',
    { skip: real && 'stub only' },
    async (t) => {
      const reader = openPeer(t, gcs, { ...config, credentials_json: emulator?.stub.serviceAccount('reader') });
      assert.equal((await reader.execute({ operation: 'list', input: { limit: 1 } })).ok, true);
      const key = `${root}${uniqueName('reader')}.txt`;
      const error = await expectFailure(reader.execute({ operation: 'put', input: { key, body: 'x' }, mode: 'read_write' }));
      assert.equal(error.code, 'permission_denied');
      assert.equal(await channel.read(key), undefined);
    },
  );

  test(
    'without credentials_json requests are anonymous: a public bucket reads, a private one is auth_failed',
    { skip: real && 'stub only' },
    async (t) => {
      const publicBucket = uniqueName('pb-public');
      emulator?.stub.createBucket(publicBucket, { anonymous: 'reader' });
      emulator?.stub.putObject(publicBucket, 'open.txt', Buffer.from('for everyone'), 'text/plain');
      t.after(() => emulator?.stub.deleteBucket(publicBucket));
      const anonymous = openPeer(t, gcs, { bucket: publicBucket, api_endpoint: emulator?.endpoint });
      const got = await anonymous.execute({ operation: 'get', input: { key: 'open.txt' } });
      assert.equal((got.data as { body: string }).body, 'for everyone');
      const refused = await anonymous.harness.test('gcs', { bucket, api_endpoint: emulator?.endpoint });
      assert.equal(refused.error_code, 'auth_failed', refused.message);
    },
  );
});

/** The stub's own objects, read and written beside its HTTP API. */
function stubChannel(): StoreChannel {
  const stub = emulator?.stub;
  assert.ok(stub);
  const keys = async (prefix: string) => [...stub.objects(bucket).keys()].filter((key) => key.startsWith(prefix)).sort();
  return {
    put: async (key, body, contentType) => stub.putObject(bucket, key, Buffer.from(body), contentType),
    read: async (key) => stub.objects(bucket).get(key)?.data,
    keys,
    clear: async (prefix) => {
      for (const key of await keys(prefix)) stub.deleteObject(bucket, key);
    },
  };
}

/** Real Cloud Storage through the provider's own JSON API client, outside the harness. */
function realChannel(): { channel: StoreChannel; close(): Promise<void> } {
  const key = parseServiceAccount(credentials ?? '') as ServiceAccountKey;
  const agents = egressAgents(new EgressGuard('any'), { maxSockets: 4, tls: { tls_reject_unauthorized: true } });
  const api = new GcsBucket(agents, 'https://storage.googleapis.com', bucket, undefined, key);
  const signal = () => AbortSignal.timeout(30_000);
  const keys = async (prefix: string) => {
    const found: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.list({ prefix, cursor, limit: 1_000 }, signal());
      found.push(...page.objects.map((object) => object.key));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return found.sort();
  };
  const channel: StoreChannel = {
    put: async (name, body, contentType) => void (await api.put(name, Buffer.from(body), contentType, signal())),
    read: async (name) => {
      try {
        return (await readCapped((await api.get(name, signal())).body, Number.MAX_SAFE_INTEGER)).bytes;
      } catch (error) {
        if ((error as { status?: number }).status === 404) return undefined;
        throw error;
      }
    },
    keys,
    clear: async (prefix) => {
      for (const name of await keys(prefix)) await api.delete(name, signal());
    },
  };
  return { channel, close: async () => agents.destroy() };
}
