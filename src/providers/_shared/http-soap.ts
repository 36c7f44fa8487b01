import type { IHttpClient } from 'soap';
import { PatchbayError } from '../../errors.js';
import type { HttpClient, HttpResponse } from '../../net/http-client.js';

/**
 * The `soap` library's HTTP client (its `httpClient` option), backed by the api providers' HttpClient: the
 * WSDL, its imports and every call go through the egress guard, with the connector's basic auth, and a call's
 * answer is read only up to its `max_bytes`.
 */

/** Largest WSDL (or imported schema) read. */
export const WSDL_MAX_BYTES = 10 * 1024 * 1024;

/** What the soap provider passes through soap as a call's options (soap hands them to `request` as they are). */
export interface SoapExchangeOptions {
  signal?: AbortSignal;
  maxBytes?: number;
  timeoutMs?: number;
  /** Filled when the answer was longer than maxBytes: the text kept (a cut envelope cannot be parsed). */
  cut?: { text?: string };
}

/** Raised through soap when a call's answer passed max_bytes; the soap provider returns `cut` instead. */
export class SoapAnswerTooLarge extends Error {
  constructor() {
    super('the SOAP answer is longer than max_bytes');
    this.name = 'SoapAnswerTooLarge';
  }
}

export interface SoapHttpSettings {
  /** `Authorization` of every request (HTTP basic), or none. */
  authorization?: string;
  /** Signal of requests soap makes without call options (the WSDL and its imports, while connecting). */
  signal: AbortSignal;
}

type RequestCallback = Parameters<IHttpClient['request']>[2];

export class SoapHttp implements IHttpClient {
  constructor(
    private readonly client: HttpClient,
    private readonly settings: SoapHttpSettings,
  ) {}

  /** soap's contract: `data` means POST (a call), none means GET (the WSDL, an import); the callback gets (error, response, body). */
  request(rurl: string, data: unknown, callback: RequestCallback, exheaders?: Record<string, unknown>, exoptions?: unknown) {
    const options = (exoptions ?? {}) as SoapExchangeOptions;
    const url = new URL(rurl);
    const method = data === null || data === undefined ? 'GET' : 'POST';
    this.send(method, url, exheaders ?? {}, data, options).then(
      (response) => {
        let answer: { status: number; headers: Record<string, unknown>; data: string };
        try {
          answer = soapAnswer(response, method, url, options);
        } catch (error) {
          callback(error);
          return;
        }
        callback(null, answer, answer.data);
      },
      (error: unknown) => callback(error),
    );
    // soap uses the returned promise only with its own axios client; callers of this one read the callback.
    return undefined as unknown as ReturnType<IHttpClient['request']>;
  }

  /** A GET of `url` with the connector's auth, as soap would make it (the connection test's round trip). */
  get(url: URL, signal: AbortSignal, maxBytes: number): Promise<HttpResponse> {
    return this.send('GET', url, {}, undefined, { signal, maxBytes });
  }

  private send(
    method: 'GET' | 'POST',
    url: URL,
    soapHeaders: Record<string, unknown>,
    data: unknown,
    options: SoapExchangeOptions,
  ): Promise<HttpResponse> {
    const headers: Record<string, string> = {
      'user-agent': 'patchbay',
      accept: 'text/xml, application/soap+xml, application/xml;q=0.9, */*;q=0.8',
    };
    for (const [name, value] of Object.entries(soapHeaders)) headers[name.toLowerCase()] = String(value);
    if (this.settings.authorization) headers.authorization = this.settings.authorization;
    return this.client.send(
      { method, url, headers, body: method === 'POST' ? (Buffer.isBuffer(data) ? data : String(data)) : undefined },
      {
        signal: options.signal ?? this.settings.signal,
        maxBytes: options.maxBytes ?? WSDL_MAX_BYTES,
        timeoutMs: options.timeoutMs,
        // A WSDL that moved within its origin is followed; a call (POST) never is.
        follow: method === 'GET' ? (target) => target.origin === url.origin : undefined,
      },
    );
  }
}

/** The answer as soap reads it, or why there is none to read: a cut body, a WSDL that did not come. */
function soapAnswer(response: HttpResponse, method: 'GET' | 'POST', url: URL, options: SoapExchangeOptions) {
  if (response.truncated) {
    if (method === 'GET') throw new PatchbayError('upstream_error', `${url.pathname} is larger than ${WSDL_MAX_BYTES} bytes`);
    if (options.cut) options.cut.text = new TextDecoder().decode(response.body, { stream: true });
    throw new SoapAnswerTooLarge();
  }
  if (method === 'GET') assertWsdlAnswer(response, url);
  return { status: response.status, headers: { ...response.headers }, data: response.body.toString('utf8') };
}

/** A WSDL or import answer that is not the document: the credentials, a missing document, or a failure. */
export function assertWsdlAnswer(response: HttpResponse, url: URL): void {
  if (response.status === 200) return;
  const detail = `GET ${url.pathname} answered HTTP ${response.status}`;
  if (response.status === 401 || response.status === 403) throw new PatchbayError('auth_failed', detail);
  if (response.status === 404 || response.status === 410) throw new PatchbayError('upstream_not_found', detail);
  throw new PatchbayError('upstream_error', detail);
}
