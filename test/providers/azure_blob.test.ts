import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import {
  BlobServiceClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import azureBlob from '../../src/providers/azure_blob.js';
import { uniqueName } from '../support/names.js';
import {
  AZURITE_ACCOUNT,
  describeStorageCases,
  startAzurite,
  storageFixture,
  type StoreChannel,
} from '../support/storage-emulators.js';
import { describeProvider, expectFailure, openPeer } from './conformance.js';

const emulator = await startAzurite();
const container = uniqueName('pb-azure');
const root = 'agents/';
const config = {
  container,
  account_name: AZURITE_ACCOUNT.name,
  account_key: AZURITE_ACCOUNT.key,
  endpoint: emulator.endpoint,
  prefix: root,
};
const canary = Buffer.from(`Canary${randomBytes(6).toString('hex')}`).toString('base64');
const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT.name, AZURITE_ACCOUNT.key);
const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT.name};AccountKey=${AZURITE_ACCOUNT.key};BlobEndpoint=${emulator.endpoint};`;

/** The test's own client to the container, beside Patchbay. */
const direct = new BlobServiceClient(emulator.endpoint, credential).getContainerClient(container);
const channel: StoreChannel = {
  put: async (key, body, contentType) =>
    void (await direct
      .getBlockBlobClient(key)
      .upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: contentType } })),
  read: async (key) => ((await direct.getBlobClient(key).exists()) ? direct.getBlobClient(key).downloadToBuffer() : undefined),
  keys: async (prefix) => {
    const keys: string[] = [];
    for await (const blob of direct.listBlobsFlat({ prefix })) keys.push(blob.name);
    return keys.sort();
  },
  clear: async (prefix) => {
    for (const key of await channel.keys(prefix)) await direct.deleteBlob(key);
  },
};

/** A service SAS for the container with the given permissions ('rl': read and list). */
const sas = (permissions: string) =>
  generateBlobSASQueryParameters(
    {
      containerName: container,
      permissions: ContainerSASPermissions.parse(permissions),
      protocol: SASProtocol.HttpsAndHttp,
      expiresOn: new Date(Date.now() + 3_600_000),
    },
    credential,
  ).toString();

await direct.create();
after(async () => {
  await direct.delete();
  await emulator.stop();
});

describeProvider(azureBlob, {
  config,
  ...storageFixture(channel, root),
  at: ({ host, port }) => ({ ...config, endpoint: `http://${host}:${port}/${AZURITE_ACCOUNT.name}` }),
  schema: {
    bad: [
      { config: { container }, path: 'connection_string' },
      { config: { container, account_key: AZURITE_ACCOUNT.key }, path: 'account_name' },
      { config: { container, connection_string: connectionString, account_name: AZURITE_ACCOUNT.name }, path: 'account_name' },
      { config: { ...config, account_name: 'Not_An_Account' }, path: 'account_name' },
      { config: { ...config, sas_token: 'sv=2024-01-01&sig=x' }, path: 'sas_token' },
    ],
  },
  connectionTest: { message: new RegExp(`^container ${container} is reachable`) },
  // azurite checks the shared-key signature: a wrong account key is AuthenticationFailed.
  auth: { configs: [{ ...config, account_key: canary }] },
  tls: { config: ({ host, port }) => ({ ...config, endpoint: `https://${host}:${port}/${AZURITE_ACCOUNT.name}` }) },
  secrets: {
    configs: [
      { ...config, account_key: canary },
      { container, connection_string: connectionString.replace(AZURITE_ACCOUNT.key, canary), prefix: root },
      {
        container,
        account_name: AZURITE_ACCOUNT.name,
        sas_token: `${sas('rl')}${canary}`,
        endpoint: emulator.endpoint,
        prefix: root,
      },
    ],
  },
  restart: { restartPeer: () => emulator.restart() },
});

describeStorageCases(azureBlob, { config, root, channel });

describe('azure_blob', () => {
  test('a connection string reaches the container as the separate fields do', async (t) => {
    const peer = openPeer(t, azureBlob, { container, connection_string: connectionString, prefix: root });
    assert.equal((await peer.harness.test('azure_blob', peer.config)).success, true);
    assert.equal((await peer.execute({ operation: 'list', input: { limit: 1 } })).ok, true);
  });

  test('a read-and-list SAS lists, and its put is refused by Azure: permission_denied', async (t) => {
    const key = `${root}${uniqueName('sas')}.txt`;
    t.after(() => channel.clear(key));
    const peer = openPeer(t, azureBlob, {
      container,
      account_name: AZURITE_ACCOUNT.name,
      sas_token: sas('rl'),
      endpoint: emulator.endpoint,
      prefix: root,
    });
    assert.equal((await peer.execute({ operation: 'list', input: { limit: 1 } })).ok, true);
    const error = await expectFailure(peer.execute({ operation: 'put', input: { key, body: 'x' }, mode: 'read_write' }));
    assert.equal(error.code, 'permission_denied');
    assert.equal(await channel.read(key), undefined);
  });

  test('a container that does not exist: upstream_not_found', async (t) => {
    const { harness } = openPeer(t, azureBlob, config);
    const result = await harness.test('azure_blob', { ...config, container: uniqueName('pb-missing') });
    assert.equal(result.error_code, 'upstream_not_found', result.message);
  });
});
