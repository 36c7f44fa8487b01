import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import s3 from '../../src/providers/s3.js';
import { uniqueName } from '../support/names.js';
import { describeStorageCases, s3rverStore, storageFixture } from '../support/storage-emulators.js';
import { describeProvider, openPeer } from './conformance.js';

const store = await s3rverStore();
const { emulator, bucket, channel, root } = store;
const config = { ...store.config, force_path_style: true };
const canary = `Canary${randomBytes(6).toString('hex')}`;

describeProvider(s3, {
  config,
  ...storageFixture(channel, root),
  at: ({ host, port }) => ({ ...config, endpoint: `http://${host}:${port}` }),
  schema: {
    bad: [
      { config: { bucket: 'a/b' }, path: 'bucket' },
      { config: { bucket, access_key_id: 'AKIAEXAMPLE' }, path: 'secret_access_key' },
      { config: { bucket, session_token: 'token-123' }, path: 'access_key_id' },
      { config: { bucket, endpoint: 'ftp://s3.example.com' }, path: 'endpoint' },
      { config: { bucket, endpoint: 'https://key:secret@s3.example.com' }, path: 'endpoint' },
    ],
  },
  connectionTest: { message: new RegExp(`^bucket ${bucket} is reachable`) },
  // Relies on s3rver's key id check: it knows one key id (S3RVER) and answers InvalidAccessKeyId to any other. It
  // never verifies a V4 signature (startS3rver), so a wrong secret for S3RVER cannot show auth_failed here.
  auth: { configs: [{ ...config, access_key_id: uniqueName('AKIAUNKNOWN'), secret_access_key: canary }] },
  tls: { config: ({ host, port }) => ({ ...config, endpoint: `https://${host}:${port}` }) },
  secrets: {
    configs: [
      // s3rver does not verify V4 signatures: this wrong secret succeeds, and its canaries must not show either.
      { ...config, secret_access_key: canary, session_token: `Session${canary}` },
      { ...config, access_key_id: uniqueName('AKIAUNKNOWN'), secret_access_key: canary },
    ],
  },
  restart: { restartPeer: () => emulator.restart() },
});

describeStorageCases(s3, { config, root, channel });

describe('s3', () => {
  test('without keys requests go unsigned: AWS_* variables and files of the machine are never used', async (t) => {
    // Relies on s3rver's key id check (not a signature check, which it never makes): a signed request whose key id
    // is not S3RVER is refused, so had the SDK picked these up, the calls would fail.
    const host = {
      AWS_ACCESS_KEY_ID: 'AKIAHOSTMACHINE',
      AWS_SECRET_ACCESS_KEY: canary,
      AWS_PROFILE: 'nope',
      AWS_REGION: 'eu-west-3',
    };
    const saved = Object.keys(host).map((name) => [name, process.env[name]] as const);
    Object.assign(process.env, host);
    t.after(() => {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    const key = `${root}${uniqueName('anonymous')}.txt`;
    await channel.put(key, 'public', 'text/plain');
    t.after(() => channel.clear(key));
    const anonymous = { bucket, endpoint: emulator.endpoint, force_path_style: true, prefix: root };
    const peer = openPeer(t, s3, anonymous);
    assert.equal((await peer.harness.test('s3', anonymous)).success, true);
    assert.equal(((await peer.execute({ operation: 'get', input: { key } })).data as { body: string }).body, 'public');
  });

  test('a bucket that does not exist: upstream_not_found', async (t) => {
    const { harness } = openPeer(t, s3, config);
    const result = await harness.test('s3', { ...config, bucket: uniqueName('pb-missing') });
    assert.equal(result.error_code, 'upstream_not_found', result.message);
  });

  // s3rver cannot refuse an action (AccessDenied) and never checks a signature (SignatureDoesNotMatch, what real S3
  // answers a wrong secret): those answers are checked on the error alone.
  test('S3 error codes map to stable codes, those s3rver cannot produce included', () => {
    const s3Error = (name: string, status: number) =>
      Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
    assert.equal(s3.classify(s3Error('AccessDenied', 403)), 'permission_denied');
    assert.equal(s3.classify(s3Error('SignatureDoesNotMatch', 403)), 'auth_failed');
    assert.equal(s3.classify(s3Error('NoSuchBucket', 404)), 'upstream_not_found');
    assert.equal(s3.classify(s3Error('Forbidden', 403)), 'permission_denied');
    assert.equal(s3.classify(s3Error('InvalidArgument', 400)), 'query_failed');
  });
});
