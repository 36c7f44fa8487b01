import { createSign } from 'node:crypto';

/**
 * OAuth 2.0 access tokens for a service account key (https://developers.google.com/identity/protocols/oauth2/service-account):
 * a JWT signed with the key is exchanged at the key file's `token_uri`. Written here rather than taken from
 * google-auth-library so that the token request goes through the same egress-checked agents as every other
 * request, and so that nothing is ever read from the machine (no GOOGLE_APPLICATION_CREDENTIALS, no gcloud
 * files, no metadata server).
 */

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri: string;
}

const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const SCOPE = 'https://www.googleapis.com/auth/devstorage.read_write';
const ASSERTION_LIFETIME_S = 3_600;
/** A token this close to its expiry is replaced before use. */
const REFRESH_MARGIN_MS = 60_000;

/** The key fields of a key file, or a message saying what is missing (never quoting the file: it is secret). */
export function parseServiceAccount(json: string): ServiceAccountKey | string {
  let file: Record<string, unknown>;
  try {
    file = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return 'must be the JSON text of a service account key';
  }
  const text = (name: string) => (typeof file[name] === 'string' && file[name] !== '' ? (file[name] as string) : undefined);
  const clientEmail = text('client_email');
  const privateKey = text('private_key');
  if (clientEmail === undefined || privateKey?.includes('PRIVATE KEY') !== true) {
    return 'must be a service account key file with client_email and private_key';
  }
  const tokenUri = text('token_uri') ?? DEFAULT_TOKEN_URI;
  if (!/^https?:\/\//.test(tokenUri)) return 'token_uri must be an http(s) URL';
  return { client_email: clientEmail, private_key: privateKey, private_key_id: text('private_key_id'), token_uri: tokenUri };
}

/** POSTs a form and answers the JSON body; throws the request's own error for a failed exchange. */
export type PostForm = (url: string, form: URLSearchParams, signal: AbortSignal) => Promise<Record<string, unknown>>;

/** One service account's access token, fetched when first needed and reused until shortly before it expires. */
export class ServiceAccountTokens {
  private current?: { authorization: string; expiresAtMs: number };
  private pending?: Promise<string>;

  constructor(
    private readonly key: ServiceAccountKey,
    private readonly post: PostForm,
  ) {}

  /** The Authorization header value. */
  authorization(signal: AbortSignal): Promise<string> {
    // Token lifetimes are wall-clock times (JWT iat and exp): the clock is read for them, not to time calls.
    if (this.current && Date.now() < this.current.expiresAtMs - REFRESH_MARGIN_MS)
      return Promise.resolve(this.current.authorization);
    this.pending ??= this.exchange(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async exchange(signal: AbortSignal): Promise<string> {
    const issuedAtS = Math.floor(Date.now() / 1_000);
    const assertion = signJwt(this.key, {
      iss: this.key.client_email,
      scope: SCOPE,
      aud: this.key.token_uri,
      iat: issuedAtS,
      exp: issuedAtS + ASSERTION_LIFETIME_S,
    });
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
    const answer = await this.post(this.key.token_uri, form, signal);
    const token = answer.access_token;
    if (typeof token !== 'string' || token === '') throw new Error('the token endpoint answered no access_token');
    const lifetimeS = typeof answer.expires_in === 'number' ? answer.expires_in : ASSERTION_LIFETIME_S;
    this.current = { authorization: `Bearer ${token}`, expiresAtMs: issuedAtS * 1_000 + lifetimeS * 1_000 };
    return this.current.authorization;
  }
}

function signJwt(key: ServiceAccountKey, claims: Record<string, unknown>): string {
  const header = { alg: 'RS256', typ: 'JWT', ...(key.private_key_id !== undefined && { kid: key.private_key_id }) };
  const unsigned = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(unsigned).sign(key.private_key);
  return `${unsigned}.${base64url(signature)}`;
}

const base64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');
