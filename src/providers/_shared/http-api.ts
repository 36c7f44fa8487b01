import { z } from 'zod';
import { PatchbayError, type ErrorCode } from '../../errors.js';
import { scrubDeep, scrubber } from '../scrub.js';
import type { OperationResult } from '../types.js';
import { HttpAuth, type HttpAuthSettings } from './http-auth.js';
import type { EgressGuard } from '../../net/egress.js';
import type { TlsFields } from '../../net/http-agents.js';
import { HttpClient, HttpTimeoutError, type HttpResponse } from '../../net/http-client.js';

/**
 * What rest and graphql share beyond the client and its auth: the boundary of the base URL, the connection
 * check, the classification of HTTP failures, and the shape of an upstream answer as data
 * (`{status, headers, body, body_encoding}`, DESIGN.md section 6); and the HttpClient of an api config
 * (soap's too).
 */

/** The network fields of a parsed api config (networkFields). */
export interface HttpSettings extends TlsFields {
  connect_timeout_ms: number;
}

/** The HttpClient of one api session: at most `poolMax` sockets per origin, each connected within connect_timeout_ms. */
export function apiHttpClient(settings: HttpSettings, ctx: { egress: EgressGuard; poolMax: number }): HttpClient {
  return new HttpClient(ctx.egress, { maxSockets: ctx.poolMax, tls: settings, connectTimeoutMs: settings.connect_timeout_ms });
}

/** The headers every request carries unless the call or connector sets its own. */
export const DEFAULT_HEADERS: Readonly<Record<string, string>> = { 'user-agent': 'patchbay', accept: '*/*' };

/** Largest answer a connection check reads: its body is not returned. */
export const CHECK_MAX_BYTES = 64 * 1024;

export interface HttpApi {
  client: HttpClient;
  auth: HttpAuth;
  close(): void;
}

/** The client and auth of one rest or graphql session; dials only through `egress`. */
export function openHttpApi(
  settings: HttpSettings & HttpAuthSettings,
  ctx: { egress: EgressGuard; poolMax: number },
): HttpApi {
  const client = apiHttpClient(settings, ctx);
  const auth = new HttpAuth(settings, client);
  return {
    client,
    auth,
    close() {
      auth.close();
      client.close();
    },
  };
}

/**
 * Whether `url` lies under `base`: the same origin and, path segment by segment, below the base path. Paths,
 * redirects and everything else a call reaches are held to it.
 */
export function isWithin(base: URL, url: URL): boolean {
  if (url.origin !== base.origin) return false;
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  return url.pathname === base.pathname || url.pathname.startsWith(prefix);
}

/**
 * The check a session makes when it opens, and the connection test's round trip: credentials the upstream
 * refuses (401, 403) fail it with auth_failed. With `strict` (the test), any other failure status fails it too.
 */
export function checkAnswer(response: HttpResponse, what: string, strict: boolean): void {
  const code = statusCode(response.status);
  if (code === 'auth_failed' || (strict && code !== undefined)) {
    throw new PatchbayError(code, `${what} answered HTTP ${response.status}`);
  }
}

/** The error code of an HTTP status a connection check cannot accept; undefined for a success or redirect. */
function statusCode(status: number): ErrorCode | undefined {
  if (status === 401 || status === 403) return 'auth_failed';
  if (status === 404 || status === 410) return 'upstream_not_found';
  if (status >= 400 || status < 200) return 'upstream_error';
  return undefined;
}

/** `HTTP 200 (nginx/1.25.3)`: the status and, when the upstream names itself, its server header. */
export function answerDetail(response: HttpResponse): string {
  const server = response.headers.server;
  return `HTTP ${response.status}${typeof server === 'string' && server !== '' ? ` (${server.slice(0, 60)})` : ''}`;
}

/** classify of rest and graphql: the client's own timeout; network failures are the harness's. */
export function classifyHttp(error: unknown): ErrorCode | undefined {
  return error instanceof HttpTimeoutError ? 'timeout' : undefined;
}

/**
 * An upstream answer as data: `{status, headers, body, body_encoding}`, the body parsed when it is JSON,
 * text when it is text, else base64, and `truncated` when `max_bytes` cut it (a cut JSON body is text).
 * Credentials the session derived itself (a Basic header, an OAuth2 token) are masked: the harness scrubs
 * the config's secret values, but it cannot know these.
 */
export function answerAsData(response: HttpResponse, derivedSecrets: readonly string[]): OperationResult {
  const { body, encoding } = decodeBody(response);
  const data = { status: response.status, headers: { ...response.headers }, body, body_encoding: encoding };
  return { data: scrubDeep(data, scrubber(derivedSecrets)), truncated: response.truncated };
}

/** answerAsData's data as the `request` operations of rest and graphql declare their output. */
export const httpAnswerSchema = z.looseObject({ status: z.int(), headers: z.record(z.string(), z.unknown()), body: z.unknown() });

const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json\b/i;
const TEXT_TYPE = /^text\/|[/+]xml\b|javascript|ecmascript|x-www-form-urlencoded|yaml|csv/i;

function decodeBody(response: HttpResponse): { body: unknown; encoding: 'json' | 'text' | 'base64' } {
  const type = String(response.headers['content-type'] ?? '');
  const bytes = response.body;
  if (bytes.length === 0) return { body: '', encoding: 'text' };
  // stream: true holds back a character that max_bytes cut in half instead of emitting a replacement for it.
  const text = (fatal: boolean) => new TextDecoder('utf-8', { fatal }).decode(bytes, { stream: response.truncated });
  if (JSON_TYPE.test(type) && !response.truncated) {
    try {
      return { body: JSON.parse(text(false)) as unknown, encoding: 'json' };
    } catch {
      // declared JSON, but not: returned as the text it is
    }
  }
  if (JSON_TYPE.test(type) || TEXT_TYPE.test(type)) return { body: text(false), encoding: 'text' };
  if (type === '') {
    try {
      return { body: text(true), encoding: 'text' };
    } catch {
      // not UTF-8: binary
    }
  }
  return { body: bytes.toString('base64'), encoding: 'base64' };
}

/**
 * Opens a new api-provider session with its first request (the health path, `{ __typename }`, the WSDL), so a
 * pooled session exists only for an upstream that answers; a session that fails to open is closed, not leaked.
 */
export async function openedSession<S extends { open(signal: AbortSignal): Promise<unknown>; close(): Promise<void> }>(
  session: S,
  signal: AbortSignal,
): Promise<S> {
  try {
    await session.open(signal);
  } catch (error) {
    await session.close();
    throw error;
  }
  return session;
}
