import type * as S3 from '@aws-sdk/client-s3';
import { z } from 'zod';
import { PatchbayError, type ErrorCode } from '../errors.js';
import { egressAgents, type EgressAgents } from '../net/http-agents.js';
import {
  awsCredentialFields,
  bucketField,
  httpUrl,
  networkFields,
  networkIssues,
  prefixField,
  storageOperations,
  togetherIssues,
} from './_shared/common-fields.js';
import {
  bareEtag,
  codeForStatus,
  isAbort,
  openStorageSession,
  type StorageBackend,
  type StoredObject,
} from './_shared/storage-session.js';
import { destination, secret, type Provider } from './types.js';

const config = z.strictObject({
  bucket: bucketField('S3 bucket'),
  region: z.string().trim().min(1).default('us-east-1').describe('AWS region of the bucket, used to sign requests.'),
  endpoint: destination(httpUrl.optional().describe('S3-compatible endpoint URL; AWS S3 of region when unset.')),
  ...awsCredentialFields,
  session_token: secret(z.string().min(1).optional().describe('Session token of temporary credentials; needs access_key_id.')),
  force_path_style: z
    .boolean()
    .default(false)
    .describe('Address the bucket in the path (endpoint/bucket/key) rather than as a subdomain.'),
  prefix: prefixField,
  ...networkFields,
});

type S3Config = z.output<typeof config>;
type Sdk = typeof S3;

const s3: Provider<typeof config> = {
  id: 's3',
  type: 'storage',
  description: 'Amazon S3 and S3-compatible object storage: one bucket per connector.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...togetherIssues(value, ['access_key_id', 'secret_access_key']),
    ...(value.session_token !== undefined && value.access_key_id === undefined
      ? [{ path: 'access_key_id', message: 'required when session_token is set' }]
      : []),
  ],
  operations: storageOperations,
  defaultOperation: 'list',

  async connect(settings, ctx) {
    const sdk = await import('@aws-sdk/client-s3');
    const agents = egressAgents(ctx.egress, { maxSockets: ctx.poolMax, tls: settings });
    const client = new sdk.S3Client(clientConfig(settings, agents));
    return openStorageSession(new S3Bucket(sdk, client, settings.bucket, agents), settings.prefix, ctx.signal);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    if (isAbort(error)) return 'timeout';
    const { Code } = error as { Code?: unknown };
    return S3_CODES[typeof Code === 'string' ? Code : error.name] ?? codeForStatus(statusOf(error));
  },
};

export default s3;

// S3 error codes (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html); others go by status.
const S3_CODES: Record<string, ErrorCode> = {
  InvalidAccessKeyId: 'auth_failed',
  SignatureDoesNotMatch: 'auth_failed',
  InvalidToken: 'auth_failed',
  ExpiredToken: 'auth_failed',
  TokenRefreshRequired: 'auth_failed',
  RequestTimeTooSkewed: 'auth_failed',
  AccessDenied: 'permission_denied',
  AllAccessDisabled: 'permission_denied',
  AccountProblem: 'permission_denied',
  NoSuchBucket: 'upstream_not_found',
  NoSuchKey: 'upstream_not_found',
  NotFound: 'upstream_not_found',
  RequestTimeout: 'timeout',
};

/**
 * Everything explicit, so that nothing comes from the machine Patchbay runs on: no AWS_* variable, no
 * ~/.aws file, no instance metadata. Without keys, requests go unsigned (anonymous) rather than falling back
 * to the default credential chain. One attempt per call: the harness reconnects after a failure.
 */
function clientConfig(settings: S3Config, agents: EgressAgents): S3.S3ClientConfig {
  const keys =
    settings.access_key_id !== undefined && settings.secret_access_key !== undefined
      ? { accessKeyId: settings.access_key_id, secretAccessKey: settings.secret_access_key, sessionToken: settings.session_token }
      : undefined;
  return {
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.force_path_style,
    ignoreConfiguredEndpointUrls: true,
    credentials: keys ?? { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' },
    ...(keys === undefined && { signer: { sign: async (request) => request } }),
    requestHandler: { httpAgent: agents.http, httpsAgent: agents.https, connectionTimeout: settings.connect_timeout_ms },
    maxAttempts: 1,
    retryMode: 'standard',
    defaultsMode: 'standard',
    // Checksums only where S3 demands them: S3-compatible servers do not all read aws-chunked trailers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    useArnRegion: false,
    followRegionRedirects: false,
    disableS3ExpressSessionAuth: true,
    authSchemePreference: ['sigv4'],
    sigv4aSigningRegionSet: [settings.region],
    userAgentAppId: 'patchbay',
  };
}

class S3Bucket implements StorageBackend {
  constructor(
    private readonly sdk: Sdk,
    private readonly client: S3.S3Client,
    private readonly bucket: string,
    private readonly agents: EgressAgents,
  ) {}

  async check(signal: AbortSignal): Promise<string> {
    const Bucket = this.bucket;
    try {
      const { BucketRegion } = await this.client.send(new this.sdk.HeadBucketCommand({ Bucket }), { abortSignal: signal });
      return `bucket ${Bucket} is reachable${BucketRegion ? ` (region ${BucketRegion})` : ''}`;
    } catch (error) {
      if (statusOf(error) === 404) throw new PatchbayError('upstream_not_found', `there is no bucket ${Bucket}`);
      // A HEAD answer has no body, so a bare 403 cannot tell a rejected key from a refused bucket; a listing
      // of no keys (the same s3:ListBucket permission) carries the error code that does.
      if (statusOf(error) === 403) {
        await this.client.send(new this.sdk.ListObjectsV2Command({ Bucket, MaxKeys: 0 }), { abortSignal: signal });
      }
      throw error;
    }
  }

  async list(page: { prefix: string; cursor: string | undefined; limit: number }, signal: AbortSignal) {
    const result = await this.client.send(
      new this.sdk.ListObjectsV2Command({
        Bucket: this.bucket,
        Prefix: page.prefix || undefined,
        ContinuationToken: page.cursor,
        MaxKeys: page.limit,
      }),
      { abortSignal: signal },
    );
    return {
      objects: (result.Contents ?? []).map((item) =>
        stored(item.Key ?? '', { ContentLength: item.Size, ETag: item.ETag, LastModified: item.LastModified }),
      ),
      nextCursor: result.IsTruncated ? result.NextContinuationToken : undefined,
    };
  }

  async head(key: string, signal: AbortSignal): Promise<StoredObject> {
    try {
      const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: signal,
      });
      return stored(key, head);
    } catch (error) {
      // A HEAD answer has no body to name the error: say what is missing here.
      if (statusOf(error) === 404) throw new PatchbayError('upstream_not_found', `there is no object ${key}`);
      throw error;
    }
  }

  async get(key: string, signal: AbortSignal) {
    const result = await this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      abortSignal: signal,
    });
    return { object: stored(key, result), body: (result.Body ?? []) as AsyncIterable<Uint8Array> };
  }

  async put(key: string, body: Buffer, contentType: string, signal: AbortSignal): Promise<StoredObject> {
    const result = await this.client.send(
      new this.sdk.PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        ContentLength: body.length,
      }),
      { abortSignal: signal },
    );
    return { ...stored(key, { ContentLength: body.length, ETag: result.ETag }), content_type: contentType };
  }

  // S3 answers a delete of a missing key with success; the HEAD first makes it upstream_not_found, as the
  // other stores answer it.
  async delete(key: string, signal: AbortSignal): Promise<void> {
    await this.head(key, signal);
    await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key }), { abortSignal: signal });
  }

  close(): void {
    this.client.destroy();
    this.agents.destroy();
  }
}

interface ObjectFields {
  ContentLength?: number;
  ContentType?: string;
  ETag?: string;
  LastModified?: Date;
}

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

const stored = (key: string, fields: ObjectFields): StoredObject => ({
  key,
  size: fields.ContentLength ?? 0,
  content_type: fields.ContentType ?? null,
  etag: bareEtag(fields.ETag),
  last_modified: fields.LastModified?.toISOString() ?? null,
});
