import http from 'node:http';
import https from 'node:https';
import type { EgressAgents } from '../../net/http-agents.js';
import type { ObjectPage, StorageBackend, StoredObject } from '../_shared/storage-session.js';
import { ServiceAccountTokens, type ServiceAccountKey } from './service-account.js';

/**
 * The Cloud Storage JSON API (https://cloud.google.com/storage/docs/json_api), the five calls the storage
 * operations need, over Node's http through the egress-checked agents. @google-cloud/storage v7 sends its
 * requests through teeny-request, which ignores a caller's agent (it takes a process-wide pool or a proxy
 * from the environment), so its sockets could not be checked against PATCHBAY_EGRESS.
 */

/** A failed JSON API or token request; `status` and `reason` decide its code (classify in index.ts). */
export class GcsError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly reason: string | undefined,
    /** The token endpoint refused the service account key (not the storage API). */
    readonly tokenRefused = false,
  ) {
    super(message);
    this.name = 'GcsError';
  }
}

/** The longest error body read: enough for any API error, never a whole object by mistake. */
const ERROR_BODY_BYTES = 64 * 1_024;

interface Request {
  method: 'GET' | 'POST' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: Buffer;
  signal: AbortSignal;
}

export class GcsBucket implements StorageBackend {
  private readonly tokens?: ServiceAccountTokens;
  private readonly endpoint: string;

  constructor(
    private readonly agents: EgressAgents,
    endpoint: string,
    private readonly bucket: string,
    /** The connector's prefix: the check lists under it, where a prefix-scoped grant lets it list. */
    private readonly prefix: string | undefined,
    key: ServiceAccountKey | undefined,
  ) {
    this.endpoint = endpoint.replace(/\/+$/, '');
    // Without a key every request is anonymous: nothing falls back to credentials found on the machine.
    if (key) this.tokens = new ServiceAccountTokens(key, (url, form, signal) => this.postForm(url, form, signal));
  }

  async check(signal: AbortSignal): Promise<string> {
    await this.json(
      'GET',
      this.objectsUrl({ maxResults: '1', fields: 'kind', ...(this.prefix && { prefix: this.prefix }) }),
      signal,
    );
    return `bucket ${this.bucket} is reachable`;
  }

  async list(page: { prefix: string; cursor: string | undefined; limit: number }, signal: AbortSignal): Promise<ObjectPage> {
    const query: Record<string, string> = { maxResults: String(page.limit) };
    if (page.prefix) query.prefix = page.prefix;
    if (page.cursor !== undefined) query.pageToken = page.cursor;
    const answer = (await this.json('GET', this.objectsUrl(query), signal)) as {
      items?: ObjectResource[];
      nextPageToken?: string;
    };
    return { objects: (answer.items ?? []).map(stored), nextCursor: answer.nextPageToken || undefined };
  }

  async head(key: string, signal: AbortSignal): Promise<StoredObject> {
    return stored((await this.json('GET', this.objectUrl(key), signal)) as ObjectResource);
  }

  async get(key: string, signal: AbortSignal) {
    const response = await this.send({ method: 'GET', url: this.objectUrl(key, { alt: 'media' }), signal });
    const header = (name: string) =>
      typeof response.headers[name] === 'string' ? (response.headers[name] as string) : undefined;
    const modified = header('last-modified');
    const object: StoredObject = {
      key,
      size: Number(header('x-goog-stored-content-length') ?? header('content-length') ?? 0),
      content_type: header('content-type') ?? null,
      etag: header('etag')?.replace(/^"(.*)"$/, '$1') ?? null,
      last_modified: modified === undefined ? null : new Date(modified).toISOString(),
    };
    return { object, body: response };
  }

  async put(key: string, body: Buffer, contentType: string, signal: AbortSignal): Promise<StoredObject> {
    const url = new URL(`${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(this.bucket)}/o`);
    url.search = new URLSearchParams({ uploadType: 'media', name: key }).toString();
    const response = await this.send({
      method: 'POST',
      url,
      headers: { 'content-type': contentType, 'content-length': String(body.length) },
      body,
      signal,
    });
    return stored(JSON.parse(await readText(response)) as ObjectResource);
  }

  async delete(key: string, signal: AbortSignal): Promise<void> {
    (await this.send({ method: 'DELETE', url: this.objectUrl(key), signal })).resume();
  }

  close(): void {
    this.agents.destroy();
  }

  private objectsUrl(query: Record<string, string>): URL {
    const url = new URL(`${this.endpoint}/storage/v1/b/${encodeURIComponent(this.bucket)}/o`);
    url.search = new URLSearchParams(query).toString();
    return url;
  }

  // The whole key is one path segment: its slashes are encoded, so no server can read them as path steps.
  private objectUrl(key: string, query: Record<string, string> = {}): URL {
    const url = new URL(`${this.endpoint}/storage/v1/b/${encodeURIComponent(this.bucket)}/o/${encodeURIComponent(key)}`);
    url.search = new URLSearchParams(query).toString();
    return url;
  }

  private async json(method: Request['method'], url: URL, signal: AbortSignal): Promise<unknown> {
    return JSON.parse(await readText(await this.send({ method, url, signal }))) as unknown;
  }

  /** One authorised request; an answer of 400 or more becomes a GcsError. */
  private async send(request: Request): Promise<http.IncomingMessage> {
    const authorization = await this.tokens?.authorization(request.signal);
    const response = await exchange(this.agents, {
      ...request,
      headers: { ...request.headers, ...(authorization !== undefined && { authorization }) },
    });
    const status = response.statusCode ?? 0;
    if (status < 400) return response;
    const error = parseJson(await readText(response, ERROR_BODY_BYTES)) as ApiErrorBody | undefined;
    throw new GcsError(
      `${status}: ${error?.error?.message ?? response.statusMessage ?? 'request failed'}`,
      status,
      error?.error?.errors?.[0]?.reason,
    );
  }

  private async postForm(url: string, form: URLSearchParams, signal: AbortSignal): Promise<Record<string, unknown>> {
    const body = Buffer.from(form.toString());
    const response = await exchange(this.agents, {
      method: 'POST',
      url: new URL(url),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
      body,
      signal,
    });
    const status = response.statusCode ?? 0;
    const answer = (parseJson(await readText(response, ERROR_BODY_BYTES)) ?? {}) as Record<string, unknown>;
    if (status >= 400) {
      const reason = typeof answer.error === 'string' ? answer.error : undefined;
      const detail = typeof answer.error_description === 'string' ? `: ${answer.error_description}` : '';
      throw new GcsError(
        `the token endpoint refused the service account (${status} ${reason ?? ''}${detail})`,
        status,
        reason,
        true,
      );
    }
    return answer;
  }
}

interface ObjectResource {
  name: string;
  size?: string;
  contentType?: string;
  etag?: string;
  updated?: string;
}

interface ApiErrorBody {
  error?: { message?: string; errors?: { reason?: string }[] };
}

const stored = (resource: ObjectResource): StoredObject => ({
  key: resource.name,
  size: Number(resource.size ?? 0),
  content_type: resource.contentType ?? null,
  etag: resource.etag ?? null,
  last_modified: resource.updated ?? null,
});

function exchange(agents: EgressAgents, request: Request): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = request.url.protocol === 'https:' ? https : http;
    const outgoing = client.request(
      request.url,
      { method: request.method, headers: request.headers, agent: agents.forUrl(request.url), signal: request.signal },
      resolve,
    );
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

/** The body as text, up to `limit` bytes (the rest is discarded with the connection). */
async function readText(response: http.IncomingMessage, limit = Infinity): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
