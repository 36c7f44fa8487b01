import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import minio from '../../src/providers/minio.js';
import { parseConfig } from '../../src/providers/registry.js';
import { uniqueName } from '../support/names.js';
import { describeStorageCases, s3rverStore, storageFixture } from '../support/storage-emulators.js';
import { describeProvider } from './conformance.js';

// MinIO speaks the S3 API, and so does s3rver: the same emulator as s3, addressed as a MinIO server is.
const { emulator, bucket, channel, root, config } = await s3rverStore();
const canary = `Canary${randomBytes(6).toString('hex')}`;

describeProvider(minio, {
  config,
  ...storageFixture(channel, root),
  at: ({ host, port }) => ({ ...config, endpoint: `http://${host}:${port}` }),
  schema: {
    bad: [
      { config: { bucket }, path: 'endpoint' },
      { config: { bucket: 'a b', endpoint: emulator.endpoint }, path: 'bucket' },
      { config: { bucket, endpoint: emulator.endpoint, secret_access_key: 'secret-123' }, path: 'access_key_id' },
    ],
  },
  connectionTest: { message: new RegExp(`^bucket ${bucket} is reachable`) },
  // Relies on s3rver's key id check (InvalidAccessKeyId); it never verifies a V4 signature, so a wrong secret for
  // its own key id would pass. MinIO answers that SignatureDoesNotMatch, mapped as for s3 (s3.test.ts).
  auth: { configs: [{ ...config, access_key_id: uniqueName('minio-unknown'), secret_access_key: canary }] },
  tls: { config: ({ host, port }) => ({ ...config, endpoint: `https://${host}:${port}` }) },
  secrets: { configs: [{ ...config, access_key_id: uniqueName('minio-unknown'), secret_access_key: canary }] },
  restart: { restartPeer: () => emulator.restart() },
});

describeStorageCases(minio, { config, root, channel });

describe('minio', () => {
  test('addresses the bucket in the path unless told otherwise', () => {
    const parsed = parseConfig(minio, { bucket, endpoint: 'http://minio.internal:9000' });
    assert.ok(parsed.success);
    assert.equal(parsed.data.force_path_style, true);
  });
});
