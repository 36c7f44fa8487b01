import { PatchbayError } from '../../errors.js';
import type { HttpClient, HttpRequest, HttpResponse, SendOptions } from '../../net/http-client.js';

/**
 * The auth fields of rest and graphql (httpAuthFields) applied to each request: the connector's headers,
 * then bearer, basic, an API key (header or query parameter) or an OAuth2 client-credentials token.
 */

/** The parsed httpAuthFields of a rest or graphql config. */
export interface HttpAuthSettings {
  auth_type: 'none' | 'bearer' | 'basic' | 'api_key' | 'oauth2_client_credentials';
  token?: string;
  username?: string;
  password?: string;
  api_key?: string;
  api_key_name?: string;
  api_key_in: 'header' | 'query';
  client_id?: string;
  client_secret?: string;
  token_url?: string;
  scopes: string[];
  headers: Record<string, string>;
  connect_timeout_ms: number;
}

/** Largest token endpoint answer read. */
const TOKEN_MAX_BYTES = 64 * 1024;

export class HttpAuth {
  private readonly oauth2?: OAuth2Token;

  constructor(
    private readonly settings: HttpAuthSettings,
    private readonly client: HttpClient,
  ) {
    if (settings.auth_type === 'oauth2_client_credentials') this.oauth2 = new OAuth2Token(settings, client);
  }

  /**
   * Header names (lower case) and query parameters the connector sets itself; a call may not change them
   * (a tenant header, the credentials), so that the connector's settings are a boundary.
   */
  fixedHeaders(): Set<string> {
    const names = new Set(Object.keys(this.settings.headers).map((name) => name.toLowerCase()));
    const { auth_type: type, api_key_in: keyIn, api_key_name: keyName } = this.settings;
    if (type === 'bearer' || type === 'basic' || type === 'oauth2_client_credentials') names.add('authorization');
    if (type === 'api_key' && keyIn === 'header' && keyName) names.add(keyName.toLowerCase());
    return names;
  }

  fixedQuery(): Set<string> {
    const { auth_type: type, api_key_in: keyIn, api_key_name: keyName } = this.settings;
    return new Set(type === 'api_key' && keyIn === 'query' && keyName ? [keyName] : []);
  }

  /**
   * Sends `request` with the connector's headers and credentials. An OAuth2 token the upstream answers
   * 401 to is dropped and the request sent once more with a fresh one (concurrent calls share the refresh).
   */
  async send(request: HttpRequest, options: SendOptions): Promise<HttpResponse> {
    const token = await this.oauth2?.get();
    const response = await this.client.send(this.authorize(request, token), options);
    if (response.status !== 401 || token === undefined || !this.oauth2) return response;
    this.oauth2.drop(token);
    return this.client.send(this.authorize(request, await this.oauth2.get()), options);
  }

  /** Credentials derived from the config rather than written in it: the Basic header, the OAuth2 tokens. */
  derivedSecrets(): string[] {
    const { auth_type: type, username, password } = this.settings;
    const derived = type === 'basic' ? [basic(username ?? '', password ?? '').slice('Basic '.length)] : [];
    return [...derived, ...(this.oauth2?.issued ?? [])];
  }

  close(): void {
    this.oauth2?.close();
  }

  private authorize(request: HttpRequest, oauth2Token: string | undefined): HttpRequest {
    const settings = this.settings;
    const headers: Record<string, string> = { ...request.headers };
    for (const [name, value] of Object.entries(settings.headers)) headers[name.toLowerCase()] = value;
    const url = new URL(request.url);
    switch (settings.auth_type) {
      case 'bearer':
        headers.authorization = `Bearer ${settings.token ?? ''}`;
        break;
      case 'basic':
        headers.authorization = basic(settings.username ?? '', settings.password ?? '');
        break;
      case 'api_key':
        if (settings.api_key_in === 'query') url.searchParams.set(settings.api_key_name ?? '', settings.api_key ?? '');
        else headers[(settings.api_key_name ?? '').toLowerCase()] = settings.api_key ?? '';
        break;
      case 'oauth2_client_credentials':
        headers.authorization = `Bearer ${oauth2Token ?? ''}`;
        break;
      case 'none':
        break;
    }
    return { ...request, url, headers };
  }
}

const basic = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/**
 * The OAuth2 client-credentials token of one session (RFC 6749 section 4.4): fetched when first needed,
 * cached until shortly before its `expires_in` (a timer drops it, so no clock is read), and fetched once for
 * all the calls that need it at the same time.
 */
class OAuth2Token {
  /** The tokens this session received, newest last (a few: an answer may echo one that was just replaced). */
  readonly issued: string[] = [];
  private current?: { value: string; expiry?: NodeJS.Timeout };
  private pending?: Promise<string>;
  /** Ends a token request in flight when the session closes. */
  private readonly closed = new AbortController();

  constructor(
    private readonly settings: HttpAuthSettings,
    private readonly client: HttpClient,
  ) {}

  get(): Promise<string> {
    if (this.current) return Promise.resolve(this.current.value);
    this.pending ??= this.fetch().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forgets `value` if it is still the cached token (a 401 said it is no longer good). */
  drop(value: string): void {
    if (this.current?.value !== value) return;
    clearTimeout(this.current.expiry);
    this.current = undefined;
  }

  close(): void {
    if (this.current) this.drop(this.current.value);
    this.closed.abort(new Error('the session was closed'));
  }

  private async fetch(): Promise<string> {
    const { client_id: id = '', client_secret: secret = '', scopes } = this.settings;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (scopes.length > 0) form.set('scope', scopes.join(' '));
    // client_secret_basic, which every authorization server must support; the id and secret are form-encoded first.
    const response = await this.client.send(
      {
        method: 'POST',
        url: new URL(this.settings.token_url ?? ''),
        headers: {
          authorization: basic(encodeURIComponent(id), encodeURIComponent(secret)),
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
      },
      { signal: this.closed.signal, maxBytes: TOKEN_MAX_BYTES, timeoutMs: this.settings.connect_timeout_ms },
    );
    const answer = parseJsonObject(response.body);
    if (response.status < 200 || response.status > 299) throw tokenRefusal(response.status, answer.error);
    const value = answer.access_token;
    if (typeof value !== 'string' || value === '') {
      throw new PatchbayError('upstream_error', 'the OAuth2 token endpoint answered without an access_token');
    }
    const lifetimeS = typeof answer.expires_in === 'number' ? answer.expires_in : Number(answer.expires_in);
    this.issued.push(value);
    if (this.issued.length > 4) this.issued.shift();
    const token: { value: string; expiry?: NodeJS.Timeout } = { value };
    if (Number.isFinite(lifetimeS) && lifetimeS > 0) {
      // Refreshed a little early (a tenth of its life, at most 30 s), so that a call never carries a token that expires in flight.
      const lifetimeMs = lifetimeS * 1000;
      token.expiry = setTimeout(() => this.drop(value), lifetimeMs - Math.min(30_000, lifetimeMs / 10));
      token.expiry.unref();
    }
    if (!this.closed.signal.aborted) this.current = token;
    return value;
  }
}

function tokenRefusal(status: number, error: unknown): PatchbayError {
  const detail = `the OAuth2 token endpoint answered HTTP ${status}${typeof error === 'string' ? ` (${error.slice(0, 64)})` : ''}`;
  if (status === 400 && error === 'invalid_scope') return new PatchbayError('permission_denied', detail);
  if (status === 401 || status === 403 || (status === 400 && error !== undefined)) return new PatchbayError('auth_failed', detail);
  if (status === 404) return new PatchbayError('upstream_not_found', detail);
  return new PatchbayError('upstream_error', detail);
}

function parseJsonObject(body: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
