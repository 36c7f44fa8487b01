import { createHash, createVerify, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import http from 'node:http';
import { uniqueName } from './names.js';
import { TcpStub } from './tcp-stub.js';

/**
 * A Cloud Storage JSON API stub (DESIGN.md section 6: a stub covers connect and the listed operations only):
 * bucket and object metadata, paged listing, media download and upload, delete, and the OAuth token endpoint
 * of a service account key, which checks the JWT's RS256 signature against the keys it issued, its audience,
 * lifetime and scope. Errors have the JSON API's shape (`{error: {code, message, errors: [{reason}]}}`), so codes
 * are produced for real: an unknown key is refused at the token endpoint, a reader's upload answers 403, a
 * missing object 404. Plain HTTP only (no TLS); no resumable or multipart uploads, preconditions, IAM beyond a
 * reader and a writer role, rate limits or retryable 5xx answers.
 */

type Role = 'reader' | 'writer';

/** How far ahead of the stub's clock a JWT's `iat` may be. */
const CLOCK_SKEW_S = 60;

interface StoredBlob {
  data: Buffer;
  contentType: string;
  generation: number;
  updated: string;
}

interface Bucket {
  objects: Map<string, StoredBlob>;
  /** What a request without a token may do. */
  anonymous: Role | 'none';
}

/** Its `stop()` drops every connection and keeps the buckets, so that `restart()` shows a restarted server. */
export class GcsStub extends TcpStub {
  private readonly buckets = new Map<string, Bucket>();
  private readonly accounts = new Map<string, { publicKey: KeyObject; role: Role }>();
  private readonly tokens = new Map<string, Role>();
  private generation = 0;

  private constructor() {
    super(
      http.createServer((request, response) => {
        this.handle(request, response).catch((error: unknown) =>
          reply(response, 500, apiError(500, String(error), 'backendError')),
        );
      }),
    );
  }

  /** Starts a stub on 127.0.0.1 at a free port. */
  static async start(): Promise<GcsStub> {
    const stub = new GcsStub();
    await stub.start();
    return stub;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  createBucket(name: string, options: { anonymous?: Role | 'none' } = {}): void {
    this.buckets.set(name, { objects: new Map(), anonymous: options.anonymous ?? 'none' });
  }

  deleteBucket(name: string): void {
    this.buckets.delete(name);
  }

  /** The objects of a bucket as the stub holds them, for a test to look at beside Patchbay. */
  objects(bucket: string): ReadonlyMap<string, StoredBlob> {
    return this.bucket(bucket).objects;
  }

  /** Stores an object directly, as an upload would. */
  putObject(bucket: string, name: string, data: Buffer, contentType: string): void {
    this.bucket(bucket).objects.set(name, {
      data,
      contentType,
      generation: ++this.generation,
      updated: new Date().toISOString(),
    });
  }

  deleteObject(bucket: string, name: string): void {
    this.bucket(bucket).objects.delete(name);
  }

  /** A service account key file (JSON text) whose token the stub grants: a reader may not write. */
  serviceAccount(role: Role = 'writer'): string {
    const email = `${uniqueName('pb')}@patchbay-test.iam.gserviceaccount.com`;
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.accounts.set(email, { publicKey, role });
    return keyFile(email, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, `${this.endpoint}/token`);
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.endpoint);
    const body = await readBody(request);
    if (request.method === 'POST' && url.pathname === '/token') return this.token(new URLSearchParams(body.toString()), response);

    const match = /^\/(upload\/)?storage\/v1\/b\/([^/]+)(?:\/o(?:\/(.+))?)?$/.exec(url.pathname);
    if (!match) return reply(response, 404, apiError(404, 'Not Found', 'notFound'));
    const [, upload, rawBucket = '', rawObject] = match;
    const bucketName = decodeURIComponent(rawBucket);
    const bucket = this.buckets.get(bucketName);
    const writes = request.method !== 'GET';
    const role = this.role(request.headers.authorization);
    if (role === 'invalid') return reply(response, 401, apiError(401, 'Invalid Credentials', 'authError'));
    const allowed = role ?? bucket?.anonymous ?? 'none';
    if (allowed === 'none' || (writes && allowed !== 'writer')) {
      const who = role === undefined ? 'Anonymous caller' : 'The service account';
      return reply(
        response,
        role === undefined ? 401 : 403,
        apiError(role === undefined ? 401 : 403, `${who} may not do this`, 'forbidden'),
      );
    }
    if (!bucket) return reply(response, 404, apiError(404, 'The specified bucket does not exist.', 'notFound'));

    const name = rawObject === undefined ? (url.searchParams.get('name') ?? undefined) : decodeURIComponent(rawObject);
    if (upload && request.method === 'POST' && name) {
      this.putObject(bucketName, name, body, request.headers['content-type'] ?? 'application/octet-stream');
      return reply(response, 200, resource(bucketName, name, bucket.objects.get(name) as StoredBlob));
    }
    if (name === undefined && request.method === 'GET' && url.pathname.endsWith('/o'))
      return reply(response, 200, list(bucketName, bucket, url.searchParams));
    if (name === undefined) return reply(response, 200, { kind: 'storage#bucket', name: bucketName });
    const blob = bucket.objects.get(name);
    if (!blob) return reply(response, 404, apiError(404, `No such object: ${bucketName}/${name}`, 'notFound'));
    if (request.method === 'DELETE') {
      bucket.objects.delete(name);
      response.writeHead(204).end();
      return;
    }
    if (url.searchParams.get('alt') === 'media') {
      response.writeHead(200, {
        'content-type': blob.contentType,
        'content-length': blob.data.length,
        'x-goog-stored-content-length': blob.data.length,
        etag: etagOf(blob),
        'last-modified': new Date(blob.updated).toUTCString(),
      });
      response.end(blob.data);
      return;
    }
    return reply(response, 200, resource(bucketName, name, blob));
  }

  private bucket(name: string): Bucket {
    const bucket = this.buckets.get(name);
    if (!bucket) throw new Error(`the stub has no bucket ${name}`);
    return bucket;
  }

  /** undefined: anonymous; 'invalid': a token the stub never granted. */
  private role(authorization: string | undefined): Role | 'invalid' | undefined {
    if (authorization === undefined) return undefined;
    return this.tokens.get(authorization.replace(/^Bearer /, '')) ?? 'invalid';
  }

  /**
   * The JWT bearer grant as Google's token endpoint checks it: an RS256 signature by a key it issued, its own URL
   * as `aud`, a lifetime of at most an hour that has begun and not ended, and a Cloud Storage scope.
   */
  private token(form: URLSearchParams, response: http.ServerResponse): void {
    const [header = '', claims = '', signature = ''] = (form.get('assertion') ?? '').split('.');
    const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString() || '{}') as Record<string, unknown>;
    const payload = decode(claims) as { iss?: string; aud?: string; scope?: string; iat?: number; exp?: number };
    const account = this.accounts.get(payload.iss ?? '');
    const signed =
      form.get('grant_type') === 'urn:ietf:params:oauth:grant-type:jwt-bearer' &&
      decode(header).alg === 'RS256' &&
      account !== undefined &&
      payload.aud === `${this.endpoint}/token` &&
      createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(account.publicKey, Buffer.from(signature, 'base64url'));
    if (!signed || !account) return reply(response, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    const nowS = Date.now() / 1_000;
    const { iat = NaN, exp = NaN } = payload;
    if (!(iat <= nowS + CLOCK_SKEW_S && exp > nowS && exp - iat <= 3_600)) {
      const description = 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.';
      return reply(response, 400, { error: 'invalid_grant', error_description: description });
    }
    if (!(payload.scope ?? '').split(' ').some((scope) => scope.startsWith('https://www.googleapis.com/auth/devstorage.')))
      return reply(response, 400, { error: 'invalid_scope', error_description: 'The scope does not reach Cloud Storage.' });
    const token = randomBytes(16).toString('hex');
    this.tokens.set(token, account.role);
    reply(response, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
  }
}

function list(bucketName: string, bucket: Bucket, query: URLSearchParams) {
  const prefix = query.get('prefix') ?? '';
  const after = query.has('pageToken') ? Buffer.from(query.get('pageToken') ?? '', 'base64url').toString() : undefined;
  const max = Math.min(Number(query.get('maxResults') ?? 1000), 1000);
  const names = [...bucket.objects.keys()]
    .filter((name) => name.startsWith(prefix) && (after === undefined || name > after))
    .sort();
  const page = names.slice(0, max);
  const last = page.at(-1);
  return {
    kind: 'storage#objects',
    items: page.map((name) => resource(bucketName, name, bucket.objects.get(name) as StoredBlob)),
    ...(names.length > max && last !== undefined && { nextPageToken: Buffer.from(last).toString('base64url') }),
  };
}

const resource = (bucket: string, name: string, blob: StoredBlob) => ({
  kind: 'storage#object',
  name,
  bucket,
  generation: String(blob.generation),
  contentType: blob.contentType,
  size: String(blob.data.length),
  etag: etagOf(blob),
  updated: blob.updated,
});

const etagOf = (blob: StoredBlob): string => createHash('md5').update(blob.data).update(String(blob.generation)).digest('base64');

const apiError = (code: number, message: string, reason: string) => ({
  error: { code, message, errors: [{ message, domain: 'global', reason }] },
});

function reply(response: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function readBody(request: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A well-formed key file of an account that does not exist, for `tokenUri` (the stub's, or Google's). */
export function foreignServiceAccount(tokenUri: string): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return keyFile(
    'revoked@patchbay-test.iam.gserviceaccount.com',
    privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    tokenUri,
  );
}

const keyFile = (email: string, privateKey: string, tokenUri: string): string =>
  JSON.stringify({
    type: 'service_account',
    project_id: 'patchbay-test',
    private_key_id: randomBytes(8).toString('hex'),
    private_key: privateKey,
    client_email: email,
    token_uri: tokenUri,
  });
