import { z } from 'zod';
import { PatchbayError } from '../errors.js';
import type { HttpResponse } from '../net/http-client.js';
import {
  httpAuthFields,
  httpAuthIssues,
  httpHeaders,
  httpUrl,
  networkFields,
  networkIssues,
  operation,
} from './_shared/common-fields.js';
import {
  answerAsData,
  answerDetail,
  CHECK_MAX_BYTES,
  checkAnswer,
  classifyHttp,
  DEFAULT_HEADERS,
  httpAnswerSchema,
  isWithin,
  openedSession,
  openHttpApi,
  type HttpApi,
} from './_shared/http-api.js';
import { destination, type CallContext, type OperationResult, type Provider, type Session } from './types.js';

const config = z.strictObject({
  base_url: destination(httpUrl.describe('Base URL every request path is resolved against; requests stay on its origin, under its path.')),
  ...httpAuthFields,
  health_path: z
    .string()
    .startsWith('/', { message: 'must start with /' })
    .default('/')
    .describe('Path on base_url that the connection test requests with GET, with the configured auth.'),
  ...networkFields,
});

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const queryValue = z.union([z.string(), z.number(), z.boolean()]);

const requestInput = z
  .strictObject({
    method: z.enum(METHODS).default('GET').describe('HTTP method.'),
    path: z
      .string()
      .refine((value) => !/^[a-z][a-z0-9+.-]*:|^[\\/]{2}/i.test(value), {
        message: 'must be a path on base_url, not a URL',
      })
      .describe('Path (and optional ?query) appended to the path of base_url.'),
    query: z
      .record(z.string(), z.union([queryValue, z.array(queryValue)]))
      .optional()
      .describe('Query parameters; an array repeats the parameter.'),
    headers: httpHeaders.optional().describe('Request headers, added to the connector headers (which they cannot change).'),
    body: z.unknown().optional().describe('A string is sent as it is; anything else as JSON.'),
  })
  .refine((input) => input.body === undefined || (input.method !== 'GET' && input.method !== 'HEAD'), {
    path: ['body'],
    message: 'GET and HEAD requests carry no body',
  });

type RestConfig = z.output<typeof config>;
type RequestInput = z.output<typeof requestInput>;

const rest: Provider<typeof config> = {
  id: 'rest',
  type: 'api',
  description: 'HTTP APIs under one base URL, with the credentials kept by Patchbay.',
  config,
  refine: (value) => [...networkIssues(value), ...httpAuthIssues(value)],
  operations: {
    request: operation(
      'Send one HTTP request; the upstream status, headers and body come back as data.',
      requestInput,
      // Some servers obey a method-override header, so a GET carrying one is a write in disguise.
      (input) => (input.method !== 'GET' && input.method !== 'HEAD') || overridesMethod(input.headers),
      {
        summarize: ({ method }) => ({ statement_class: typeof method === 'string' ? method.toLowerCase() : 'get' }),
        output: httpAnswerSchema,
      },
    ),
  },
  defaultOperation: 'request',

  connect: (settings, ctx) => openedSession(new RestSession(openHttpApi(settings, ctx), settings), ctx.signal),

  classify: classifyHttp,
};

export default rest;

class RestSession implements Session {
  private readonly base: URL;
  /** The check made when the session opened, which the first ping reports instead of asking again. */
  private opened?: HttpResponse;

  constructor(
    private readonly api: HttpApi,
    private readonly settings: RestConfig,
  ) {
    this.base = new URL(settings.base_url);
  }

  /** Requests health_path once: credentials the upstream refuses fail the session's opening (auth_failed). */
  async open(signal: AbortSignal): Promise<void> {
    this.opened = await this.check(signal);
    checkAnswer(this.opened, `GET ${this.settings.health_path}`, false);
  }

  async ping(signal: AbortSignal): Promise<string> {
    const answer = this.opened ?? (await this.check(signal));
    this.opened = undefined;
    checkAnswer(answer, `GET ${this.settings.health_path}`, true);
    return `${answerDetail(answer)} from GET ${this.settings.health_path}`;
  }

  async execute(_operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    const { method, path, query, headers = {}, body } = input as RequestInput;
    const url = this.resolve(path, query);
    const fixed = this.api.auth.fixedHeaders();
    const sent: Record<string, string> = { ...DEFAULT_HEADERS };
    for (const [name, value] of Object.entries(headers)) {
      if (fixed.has(name.toLowerCase())) throw new PatchbayError('scope_denied', `the connector sets the header ${name}`);
      sent[name.toLowerCase()] = value;
    }
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      sent['content-type'] ??= typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
    }
    const answer = await this.api.auth.send(
      { method, url, headers: sent, body: payload },
      {
        signal: call.signal,
        maxBytes: call.limits.maxBytes,
        timeoutMs: call.limits.timeoutMs,
        follow: (target) => isWithin(this.base, target),
      },
    );
    return answerAsData(answer, this.api.auth.derivedSecrets());
  }

  async close(): Promise<void> {
    this.api.close();
  }

  private check(signal: AbortSignal): Promise<HttpResponse> {
    return this.api.auth.send(
      { method: 'GET', url: this.resolve(this.settings.health_path), headers: { ...DEFAULT_HEADERS } },
      { signal, maxBytes: CHECK_MAX_BYTES, follow: (target) => isWithin(this.base, target) },
    );
  }

  /**
   * `path` appended to the base URL's path, with the base URL's query, then the path's, then `query`. A path
   * that climbs out from under the base path (`/../admin`, also percent-encoded), or a parameter the connector
   * sets itself (a query api_key), is refused with scope_denied.
   */
  private resolve(path: string, query: RequestInput['query'] = {}): URL {
    const [pathPart = '', search = ''] = (path.split('#')[0] ?? '').split(/\?(.*)/s);
    // Dot segments are removed by the URL parser, and checked below; encoded ones the server might decode are refused here.
    const hidden = pathPart.split('/').some((segment) => decodeSegment(segment).split(/[/\\]/).includes('..') && /%/.test(segment));
    const joined = `${this.base.pathname.replace(/\/$/, '')}/${pathPart.replace(/^\//, '')}`;
    const url = new URL(this.base.origin + joined);
    if (hidden || !isWithin(this.base, url)) {
      throw new PatchbayError('scope_denied', `the path ${path} leads outside the base URL`);
    }
    url.search = this.base.search;
    for (const [name, value] of new URLSearchParams(search)) url.searchParams.append(name, value);
    for (const [name, value] of Object.entries(query)) {
      for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
    }
    for (const name of this.api.auth.fixedQuery()) {
      if (url.searchParams.has(name)) throw new PatchbayError('scope_denied', `the connector sets the query parameter ${name}`);
    }
    return url;
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const METHOD_OVERRIDE_HEADERS = new Set(['x-http-method-override', 'x-http-method', 'x-method-override']);

function overridesMethod(headers: Record<string, string> | undefined): boolean {
  return Object.keys(headers ?? {}).some((name) => METHOD_OVERRIDE_HEADERS.has(name.toLowerCase()));
}
