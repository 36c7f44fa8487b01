import type * as Azure from '@azure/storage-blob';
import { z } from 'zod';
import type { ErrorCode, FieldError } from '../errors.js';
import { egressAgents, type EgressAgents } from '../net/http-agents.js';
import { bucketField, httpUrl, networkFields, networkIssues, prefixField, storageOperations } from './_shared/common-fields.js';
import {
  bareEtag,
  codeForStatus,
  isAbort,
  openStorageSession,
  type ObjectPage,
  type StorageBackend,
  type StoredObject,
} from './_shared/storage-session.js';
import { destination, secret, type Provider } from './types.js';

const config = z.strictObject({
  container: bucketField('Blob container'),
  connection_string: destination(
    secret(
      z
        .string()
        .trim()
        .regex(/(^|;)\s*(AccountName|BlobEndpoint|UseDevelopmentStorage)=/i, {
          message: 'must be an Azure Storage connection string (AccountName=…;AccountKey=…)',
        })
        .optional()
        .describe('Storage account connection string; an alternative to account_name with account_key or sas_token.'),
      'azure_connection_string',
    ),
  ),
  account_name: destination(
    z
      .string()
      .regex(/^[a-z0-9]{3,24}$/, { message: 'must be 3–24 lowercase letters and digits' })
      .optional()
      .describe('Storage account name; with account_key or sas_token.'),
  ),
  account_key: secret(z.string().min(1).optional().describe('Storage account key (base64) of account_name.')),
  sas_token: secret(z.string().min(1).optional().describe('Shared access signature (query string) for account_name.'), 'query'),
  endpoint: destination(
    httpUrl.optional().describe("Blob service URL, e.g. azurite; the account's blob.core.windows.net address when unset."),
  ),
  prefix: prefixField,
  ...networkFields,
});

type AzureBlobConfig = z.output<typeof config>;
type Sdk = typeof Azure;

const azureBlob: Provider<typeof config> = {
  id: 'azure_blob',
  type: 'storage',
  description: 'Azure Blob Storage: one container per connector.',
  config,
  refine: (value) => [...networkIssues(value), ...credentialIssues(value)],
  operations: storageOperations,
  defaultOperation: 'list',

  async connect(settings, ctx) {
    const sdk = await import('@azure/storage-blob');
    const agents = egressAgents(ctx.egress, { maxSockets: ctx.poolMax, tls: settings });
    const service = serviceClient(sdk, settings, agents);
    const container = new AzureContainer(service.getContainerClient(settings.container), settings.prefix, agents);
    return openStorageSession(container, settings.prefix, ctx.signal);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    if (isAbort(error)) return 'timeout';
    const { statusCode, code, details } = error as { statusCode?: unknown; code?: unknown; details?: { errorCode?: unknown } };
    // Without a status the request never got an answer (code ECONNREFUSED, …): the harness's network rules.
    if (typeof statusCode !== 'number') return undefined;
    // A HEAD answer has no body: its code comes in the x-ms-error-code header, which the SDK puts in details.
    const azureCode = typeof code === 'string' ? code : details?.errorCode;
    const known = typeof azureCode === 'string' ? AZURE_CODES[azureCode] : undefined;
    // Azurite answers a wrong account key with AuthorizationFailure where Azure says AuthenticationFailed;
    // both say "Server failed to authenticate the request".
    if (statusCode === 403 && /^Server failed to authenticate/.test(error.message)) return 'auth_failed';
    return known ?? codeForStatus(statusCode);
  },
};

export default azureBlob;

// https://learn.microsoft.com/rest/api/storageservices/blob-service-error-codes and common-rest-api-error-codes
const AZURE_CODES: Record<string, ErrorCode> = {
  AuthenticationFailed: 'auth_failed',
  InvalidAuthenticationInfo: 'auth_failed',
  NoAuthenticationInformation: 'auth_failed',
  AuthorizationFailure: 'permission_denied',
  AuthorizationPermissionMismatch: 'permission_denied',
  AuthorizationResourceTypeMismatch: 'permission_denied',
  AuthorizationServiceMismatch: 'permission_denied',
  AuthorizationProtocolMismatch: 'permission_denied',
  AuthorizationSourceIPMismatch: 'permission_denied',
  InsufficientAccountPermissions: 'permission_denied',
  ContainerNotFound: 'upstream_not_found',
  BlobNotFound: 'upstream_not_found',
  ResourceNotFound: 'upstream_not_found',
  OperationTimedOut: 'timeout',
};

/**
 * The service client on the egress-checked agent of the endpoint's protocol, with one try per call (the
 * harness reconnects after a failure). A connection string is read by the SDK itself, into the URL and
 * credential the second client is built from.
 */
function serviceClient(sdk: Sdk, settings: AzureBlobConfig, agents: EgressAgents): Azure.BlobServiceClient {
  let url: string;
  let credential: Azure.StorageSharedKeyCredential | Azure.AnonymousCredential;
  if (settings.connection_string !== undefined) {
    const parsed = sdk.BlobServiceClient.fromConnectionString(settings.connection_string);
    url = parsed.url;
    credential = parsed.credential as Azure.StorageSharedKeyCredential | Azure.AnonymousCredential;
  } else {
    const account = settings.account_name as string; // refine requires it beside account_key or sas_token
    url = settings.endpoint ?? `https://${account}.blob.core.windows.net`;
    if (settings.account_key !== undefined) {
      credential = new sdk.StorageSharedKeyCredential(account, settings.account_key);
    } else {
      url = `${url}?${(settings.sas_token ?? '').replace(/^\?/, '')}`;
      credential = new sdk.AnonymousCredential();
    }
  }
  // `agent` is a core-rest-pipeline option that the storage pipeline passes through; with it set, the SDK
  // neither dials by itself nor takes a proxy from HTTPS_PROXY.
  const options = {
    agent: agents.forUrl(url),
    retryOptions: { maxTries: 1 },
    userAgentOptions: { userAgentPrefix: 'patchbay' },
  } as Azure.StoragePipelineOptions;
  return new sdk.BlobServiceClient(url, credential, options);
}

class AzureContainer implements StorageBackend {
  constructor(
    private readonly container: Azure.ContainerClient,
    private readonly prefix: string | undefined,
    private readonly agents: EgressAgents,
  ) {}

  // A listing of at most one blob rather than the container's properties: a container SAS (the usual way to
  // give read-only access) may list blobs but not read container properties (AuthorizationPermissionMismatch).
  async check(signal: AbortSignal): Promise<string> {
    await this.container
      .listBlobsFlat({ prefix: this.prefix || undefined, abortSignal: signal })
      .byPage({ maxPageSize: 1 })
      .next();
    return `container ${this.container.containerName} is reachable`;
  }

  async list(page: { prefix: string; cursor: string | undefined; limit: number }, signal: AbortSignal): Promise<ObjectPage> {
    const pages = this.container
      .listBlobsFlat({ prefix: page.prefix || undefined, abortSignal: signal })
      .byPage({ continuationToken: page.cursor, maxPageSize: page.limit });
    const { value } = await pages.next();
    const result = value as Azure.ContainerListBlobFlatSegmentResponse | undefined;
    return {
      objects: (result?.segment.blobItems ?? []).map((item) => stored(item.name, item.properties)),
      nextCursor: result?.continuationToken || undefined,
    };
  }

  async head(key: string, signal: AbortSignal): Promise<StoredObject> {
    return stored(key, await this.container.getBlobClient(key).getProperties({ abortSignal: signal }));
  }

  async get(key: string, signal: AbortSignal) {
    const download = await this.container.getBlobClient(key).download(0, undefined, { abortSignal: signal, maxRetryRequests: 0 });
    const body = (download.readableStreamBody ?? []) as AsyncIterable<Uint8Array>;
    return { object: stored(key, download), body };
  }

  async put(key: string, body: Buffer, contentType: string, signal: AbortSignal): Promise<StoredObject> {
    const result = await this.container
      .getBlockBlobClient(key)
      .upload(body, body.length, { blobHTTPHeaders: { blobContentType: contentType }, abortSignal: signal });
    return stored(key, { ...result, contentLength: body.length, contentType });
  }

  async delete(key: string, signal: AbortSignal): Promise<void> {
    await this.container.getBlobClient(key).delete({ abortSignal: signal });
  }

  close(): void {
    this.agents.destroy();
  }
}

interface BlobFields {
  contentLength?: number;
  contentType?: string;
  etag?: string;
  lastModified?: Date;
}

const stored = (key: string, fields: BlobFields): StoredObject => ({
  key,
  size: fields.contentLength ?? 0,
  content_type: fields.contentType ?? null,
  etag: bareEtag(fields.etag),
  last_modified: fields.lastModified?.toISOString() ?? null,
});

/** Exactly one of: connection_string, account_name + account_key, account_name + sas_token. */
function credentialIssues(value: AzureBlobConfig): FieldError[] {
  const ways = (['connection_string', 'account_key', 'sas_token'] as const).filter((field) => value[field] !== undefined);
  const [way, second] = ways;
  if (way === undefined) {
    return [{ path: 'connection_string', message: 'give connection_string, or account_name with account_key or sas_token' }];
  }
  if (second !== undefined) return [{ path: second, message: `give only one of ${ways.join(', ')}` }];
  if (way === 'connection_string') {
    return (['account_name', 'endpoint'] as const)
      .filter((field) => value[field] !== undefined)
      .map((field) => ({ path: field, message: 'part of connection_string: give one or the other' }));
  }
  return value.account_name === undefined ? [{ path: 'account_name', message: `required with ${way}` }] : [];
}
