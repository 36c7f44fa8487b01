import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { EgressGuard } from './egress.js';
import { egressAgents, type EgressAgentOptions, type EgressAgents } from './http-agents.js';

/**
 * Outbound HTTP: the client of the api providers (rest, graphql, soap) and of webhook deliveries. Every socket
 * is dialled through the egress guard (egressAgents), at most `maxSockets` per origin, within `connectTimeoutMs`;
 * a body is read up to a byte limit and never past it; redirects are followed only where the caller allows.
 * Built on node:http rather than undici, which is not installed (Node 20 bundles it for fetch but exposes no
 * Agent to pass a connector to).
 */

export interface HttpRequest {
  method: string;
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Decoded (gzip, deflate, br) and at most `maxBytes` long. */
  body: Buffer;
  /** The body went on past `maxBytes`; the rest was never read. */
  truncated: boolean;
  /** Where the answer came from, after the redirects followed. */
  url: URL;
}

export interface SendOptions {
  /** @default none: only `timeoutMs` bounds the exchange */
  signal?: AbortSignal;
  /**
   * Most body bytes kept; reading stops at the first byte past it. With 0 none is: the answer settles at its
   * head, and its body is read only to be dropped, still within the signal and `timeoutMs`.
   */
  maxBytes: number;
  /** Time for the whole exchange, body included; HttpTimeoutError past it. @default only the signal bounds it */
  timeoutMs?: number;
  /** Whether to follow a redirect to `url`; a redirect it refuses is returned as the answer. @default none followed */
  follow?(url: URL): boolean;
}

/** No complete answer within the call's time limit. The upstream may still be working: classify as `timeout`. */
export class HttpTimeoutError extends Error {
  readonly code = 'PB_HTTP_TIMEOUT';
  constructor(
    method: string,
    url: URL,
    readonly ms: number,
  ) {
    super(`no answer within ${ms} ms: ${method} ${url.pathname}`);
    this.name = 'HttpTimeoutError';
  }
}

const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// Safe to send again when a kept-alive socket turns out to have been closed by the server meanwhile.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export class HttpClient {
  private readonly agents: EgressAgents;

  constructor(egress: EgressGuard, options: EgressAgentOptions) {
    this.agents = egressAgents(egress, options);
  }

  /** Sends `request`, following the redirects `options.follow` allows (at most five), all within `timeoutMs`. */
  async send(request: HttpRequest, options: SendOptions): Promise<HttpResponse> {
    let timer: NodeJS.Timeout | undefined;
    let signal = options.signal;
    if (options.timeoutMs !== undefined) {
      const expired = new AbortController();
      const ms = options.timeoutMs;
      timer = setTimeout(() => expired.abort(new HttpTimeoutError(request.method, request.url, ms)), ms);
      signal = options.signal ? AbortSignal.any([options.signal, expired.signal]) : expired.signal;
    }
    try {
      let current = request;
      for (let redirects = 0; ; redirects += 1) {
        const response = await this.exchange(current, { ...options, signal });
        const next = redirects < MAX_REDIRECTS ? redirectOf(current, response, options) : undefined;
        if (next === undefined) return response;
        current = next;
      }
    } finally {
      // A body read only to be dropped (maxBytes 0) is still bounded by the limit: the timer outlives the call.
      if (options.maxBytes === 0) timer?.unref();
      else clearTimeout(timer);
    }
  }

  /** Ends every connection, those in use included. */
  close(): void {
    this.agents.destroy();
  }

  private async exchange(request: HttpRequest, options: SendOptions): Promise<HttpResponse> {
    try {
      return await this.once(request, options);
    } catch (error) {
      // A kept-alive socket the server closed just before it was reused: Node's documented retry case.
      if (!(error instanceof StaleSocketError) || !IDEMPOTENT.has(request.method)) throw unwrapStale(error);
      return this.once(request, options).catch((retried: unknown) => {
        throw unwrapStale(retried);
      });
    }
  }

  private once(request: HttpRequest, options: SendOptions): Promise<HttpResponse> {
    const { url, method, body } = request;
    const { signal } = options;
    const secure = url.protocol === 'https:';
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const done = (error: unknown, response?: HttpResponse) => {
        if (settled) return;
        settled = true;
        if (error === undefined && response) resolve(response);
        else reject(error);
      };
      const req = (secure ? https : http).request(url, {
        method,
        headers: body === undefined ? request.headers : { ...request.headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: secure ? this.agents.https : this.agents.http,
      });
      const fail = (error: unknown) => {
        req.destroy();
        done(error);
      };
      const abort = () => fail(signal?.reason);
      let answered = false;
      req.on('error', (error) => done(req.reusedSocket && !answered ? new StaleSocketError(error) : error));
      // Until the exchange is over, a body read after the answer settled included.
      req.once('close', () => signal?.removeEventListener('abort', abort));
      req.on('response', (res) => {
        answered = true;
        if (options.maxBytes === 0) {
          res.resume(); // read and dropped, so that the connection ends cleanly
          done(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0), truncated: false, url });
          return;
        }
        readCapped(decoded(res), options.maxBytes).then(
          ({ body: read, truncated }) => {
            if (truncated) res.destroy(); // the rest is never read; the socket is not reused
            done(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: read, truncated, url });
          },
          (error: unknown) => fail(error),
        );
      });
      if (signal?.aborted) return abort();
      signal?.addEventListener('abort', abort, { once: true });
      req.end(body);
    });
  }
}

/** An error on a reused keep-alive socket before any answer; sent once more if the method allows. */
class StaleSocketError extends Error {
  constructor(readonly original: unknown) {
    super('stale keep-alive socket');
  }
}

const unwrapStale = (error: unknown): unknown => (error instanceof StaleSocketError ? error.original : error);

/** The request a redirect asks for, when `follow` allows its target (same rules as fetch for the method). */
function redirectOf(request: HttpRequest, response: HttpResponse, options: SendOptions): HttpRequest | undefined {
  const location = response.headers.location;
  if (!REDIRECTS.has(response.status) || location === undefined || options.follow === undefined) return undefined;
  let target: URL;
  try {
    target = new URL(location, request.url);
  } catch {
    return undefined;
  }
  if (!options.follow(target)) return undefined;
  const toGet =
    (response.status === 303 && request.method !== 'HEAD') ||
    ((response.status === 301 || response.status === 302) && request.method === 'POST');
  if (!toGet) return { ...request, url: target };
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== 'content-type'));
  return { method: 'GET', url: target, headers };
}

/** The body stream, decoded when the server compressed it (it may even if not asked). */
function decoded(res: http.IncomingMessage): Readable {
  const encoding = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? zlib.createGunzip()
      : encoding === 'deflate'
        ? zlib.createInflate()
        : encoding === 'br'
          ? zlib.createBrotliDecompress()
          : undefined;
  if (!decoder) return res;
  res.on('error', (error) => decoder.destroy(error));
  // An answer cut off by the network ends its decoder too (a complete one lets the decoder finish).
  res.on('close', () => {
    if (!res.complete) decoder.destroy(new Error('the answer ended before its body was complete'));
  });
  return res.pipe(decoder);
}

/** Reads at most `maxBytes` (stopping at the first byte past it), so that a huge body is never held. */
function readCapped(stream: Readable, maxBytes: number): Promise<{ body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const finish = (truncated: boolean) => {
      finished = true;
      stream.removeAllListeners('data');
      resolve({ body: Buffer.concat(chunks, size), truncated });
    };
    stream.on('data', (chunk: Buffer) => {
      if (size + chunk.length > maxBytes) {
        chunks.push(chunk.subarray(0, maxBytes - size));
        size = maxBytes;
        stream.destroy();
        finish(true);
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.once('end', () => finish(false));
    stream.on('error', reject);
    stream.once('close', () => {
      if (!finished) reject(new Error('the answer ended before its body was complete'));
    });
  });
}
