import { PatchbayError, type ErrorCode } from '../../errors.js';
import type { CallContext, OperationResult, Session } from '../types.js';
import { decodeBody, defaultContentType, readCapped, shapeBody } from './storage-content.js';

/**
 * The storage operations of DESIGN.md section 6 (`list`, `head`, `get`, `put`, `delete`), written once for
 * s3, minio, gcs and azure_blob. A provider supplies a StorageBackend, the few calls its client library makes;
 * the session adds what every store shares: the prefix boundary, key checks, list pages, get capped by
 * max_bytes as text, JSON or base64, put bodies in utf8 or base64, and the per-call timeout.
 */

/** An object as every operation answers it; null where the store does not say (S3 lists no content type). */
export interface StoredObject {
  key: string;
  size: number;
  content_type: string | null;
  etag: string | null;
  last_modified: string | null;
}

export interface ObjectPage {
  objects: StoredObject[];
  /** The store's own token for the next page; undefined on the last one. */
  nextCursor: string | undefined;
}

/** What a provider implements. Each call answers its AbortSignal; failures are the client library's own errors. */
export interface StorageBackend {
  /** The cheapest real round trip on the bucket or container; resolves to a short, secret-free detail. */
  check(signal: AbortSignal): Promise<string>;
  /** One page of at most `limit` objects whose keys start with `prefix`, after `cursor`. */
  list(page: { prefix: string; cursor: string | undefined; limit: number }, signal: AbortSignal): Promise<ObjectPage>;
  head(key: string, signal: AbortSignal): Promise<StoredObject>;
  /** The object and its body as a stream; the session reads at most max_bytes + 1 of it. */
  get(key: string, signal: AbortSignal): Promise<{ object: StoredObject; body: AsyncIterable<Uint8Array> }>;
  put(key: string, body: Buffer, contentType: string, signal: AbortSignal): Promise<StoredObject>;
  /** Fails (upstream_not_found) when there is no such object, as head does. */
  delete(key: string, signal: AbortSignal): Promise<void>;
  /** Ends every connection, calls in flight included. */
  close(): void;
}

/** A store's page size ceiling (S3 and Cloud Storage list at most 1,000 keys per request). */
const MAX_PAGE = 1_000;

/**
 * Connects a backend: its check is the connection's first round trip (within the connect deadline), so a
 * session is only handed out for a bucket that answers.
 */
export async function openStorageSession(
  backend: StorageBackend,
  prefix: string | undefined,
  signal: AbortSignal,
): Promise<Session> {
  try {
    await backend.check(signal);
  } catch (error) {
    backend.close();
    throw error;
  }
  return new StorageSession(backend, prefix ?? '');
}

/** The inputs of `storageOperations` (common-fields.ts) once the harness has parsed them. */
interface Inputs {
  list: { prefix?: string; cursor?: string; limit?: number };
  head: { key: string };
  get: { key: string };
  put: { key: string; body: string; encoding: 'utf8' | 'base64'; content_type?: string };
  delete: { key: string };
}

class StorageSession implements Session {
  private closed = false;

  /** `boundary` is the connector's prefix, or an attachment's narrower one ('' when unset). */
  constructor(
    private readonly backend: StorageBackend,
    private readonly boundary: string,
  ) {}

  ping(signal: AbortSignal): Promise<string> {
    return this.backend.check(signal);
  }

  async execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    // An HTTP store has no server-side statement timeout: the call gives up at timeoutMs itself.
    const signal = AbortSignal.any([call.signal, AbortSignal.timeout(call.limits.timeoutMs)]);
    switch (operation) {
      case 'list':
        return this.list(input as Inputs['list'], call, signal);
      case 'head':
        return { data: await this.backend.head(this.checkKey((input as Inputs['head']).key), signal) };
      case 'get':
        return this.get(input as Inputs['get'], call, signal);
      case 'put':
        return this.put(input as Inputs['put'], signal);
      case 'delete': {
        const key = this.checkKey((input as Inputs['delete']).key);
        await this.backend.delete(key, signal);
        return { data: { key, deleted: true } };
      }
      default:
        throw new PatchbayError('unsupported_operation', `storage has no operation ${operation}`);
    }
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.backend.close();
    }
    return Promise.resolve();
  }

  /**
   * A page of at most the caller's `limit`, `max_rows` and 1,000 objects. `truncated` says max_rows (or the
   * page ceiling) stopped it short of what was asked: all of the prefix when no `limit` is given.
   */
  private async list(input: Inputs['list'], call: CallContext, signal: AbortSignal): Promise<OperationResult> {
    const prefix = input.prefix ?? this.boundary;
    if (!prefix.startsWith(this.boundary)) {
      throw new PatchbayError('scope_denied', `prefix ${JSON.stringify(prefix)} is outside ${JSON.stringify(this.boundary)}`);
    }
    const limit = Math.min(input.limit ?? Infinity, call.limits.maxRows, MAX_PAGE);
    const page = await this.backend.list({ prefix, cursor: input.cursor, limit }, signal);
    // The store filters by prefix already; a key outside it would be a store bug, never shown.
    const objects = page.objects.filter((object) => object.key.startsWith(prefix)).slice(0, limit);
    const more = page.nextCursor !== undefined;
    return {
      data: { prefix, objects, next_cursor: page.nextCursor ?? null },
      truncated: more && (input.limit === undefined || input.limit > limit),
    };
  }

  private async get(input: Inputs['get'], call: CallContext, signal: AbortSignal): Promise<OperationResult> {
    const { object, body } = await this.backend.get(this.checkKey(input.key), signal);
    const { bytes, truncated } = await readCapped(body, call.limits.maxBytes);
    return { data: { ...object, ...shapeBody(bytes, object.content_type ?? undefined, truncated) }, truncated };
  }

  private async put(input: Inputs['put'], signal: AbortSignal): Promise<OperationResult> {
    const key = this.checkKey(input.key);
    const body = decodeBody(input.body, input.encoding);
    return { data: await this.backend.put(key, body, input.content_type ?? defaultContentType(input.encoding), signal) };
  }

  /**
   * A key inside the boundary that names exactly one object. `.` and `..` segments are refused: HTTP stacks
   * and S3-compatible servers normalise them away (reports/../secret is secret), which would step out of
   * the prefix; control characters and keys over 1,024 bytes are refused as no store takes them.
   */
  private checkKey(key: string): string {
    const invalid = (message: string) =>
      new PatchbayError('validation_failed', `key ${message}`, { errors: [{ path: 'key', message }] });
    if (key.split('/').some((segment) => segment === '.' || segment === '..')) throw invalid('must not contain . or .. segments');
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(key)) throw invalid('must not contain control characters');
    if (Buffer.byteLength(key) > 1_024) throw invalid('must be at most 1024 bytes of UTF-8');
    if (!key.startsWith(this.boundary)) {
      throw new PatchbayError('scope_denied', `key ${JSON.stringify(key)} is outside ${JSON.stringify(this.boundary)}`);
    }
    return key;
  }
}

/** The usual meaning of an HTTP status from a store, for errors that name no code of their own. */
export function codeForStatus(status: number | undefined): ErrorCode | undefined {
  if (status === undefined) return undefined;
  if (status === 401) return 'auth_failed';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'upstream_not_found';
  if (status === 408) return 'timeout';
  if (status >= 400 && status < 500 && status !== 429) return 'query_failed';
  return undefined;
}

/** A call given up at timeout_ms (or at the harness deadline): every client library names the abort this way. */
export const isAbort = (error: Error): boolean => error.name === 'AbortError' || error.name === 'TimeoutError';

/** `"abc"` → `abc`: an HTTP ETag keeps its quotes on the wire, Cloud Storage's has none. */
export const bareEtag = (etag: string | undefined): string | null => (etag === undefined ? null : etag.replace(/^"(.*)"$/, '$1'));
