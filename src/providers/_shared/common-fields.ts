import { z } from 'zod';
import type { FieldError } from '../../errors.js';
import { boundary, destination, secret, type Operation, type Writes } from '../types.js';

/**
 * Config fields and operation inputs that two or more providers share, so that users meet one vocabulary
 * (DESIGN.md section 6) and each rule is written once. Builders are functions where the description names the
 * system ("TCP port of the MySQL server"), constants where the field is the same everywhere.
 */

// ---------------------------------------------------------------------------------------------------------------
// Operations

/**
 * An operation whose `writes`, when it tests the input, sees the parsed input with its type (the harness parses
 * before calling it) and the parsed connector config; `more` holds what else it declares (`summarize`).
 */
export function operation<S extends z.ZodType>(
  description: string,
  input: S,
  writes: 'never' | 'always' | ((input: z.output<S>, config: Readonly<Record<string, unknown>>) => boolean),
  more: Omit<Operation, 'description' | 'input' | 'writes'> = {},
): Operation {
  return { ...more, description, input, writes: writes as Writes };
}

// ---------------------------------------------------------------------------------------------------------------
// Network: every provider that dials a server (all but sqlite)

const pem = (what: string) =>
  z
    .string()
    .trim()
    .refine((value) => value.includes('-----BEGIN '), { message: 'must be PEM text (-----BEGIN …)' })
    .optional()
    .describe(what);

/** `connect_timeout_ms` and the TLS fields; spread into every network provider's config. */
export const networkFields = {
  connect_timeout_ms: z
    .int()
    .min(100)
    .max(60_000)
    .default(5_000)
    .describe('Milliseconds allowed for connecting, and for the whole connection test.'),
  tls_ca: pem('PEM certificate(s) of the authority that signed the server certificate; the system roots when unset.'),
  tls_cert: pem('PEM client certificate for mutual TLS; needs tls_key.'),
  tls_key: secret(pem('PEM private key of tls_cert.'), 'pem'),
  tls_reject_unauthorized: z
    .boolean()
    .default(true)
    .describe('Refuse a server certificate that does not verify; false is for test servers only.'),
};

/** Cross-field rules of networkFields: a client certificate and its key come together. */
export function networkIssues(config: { tls_cert?: string; tls_key?: string }): FieldError[] {
  if (config.tls_cert !== undefined && config.tls_key === undefined) {
    return [{ path: 'tls_key', message: 'required when tls_cert is set' }];
  }
  if (config.tls_key !== undefined && config.tls_cert === undefined) {
    return [{ path: 'tls_cert', message: 'required when tls_key is set' }];
  }
  return [];
}

export const hostField = (server: string) =>
  destination(
    z
      .string()
      .trim()
      .regex(/^[^\s/@]+$/, { message: 'must be a host name or IP address (no scheme, path or credentials)' })
      .optional()
      .describe(`Host name or IP address of the ${server}.`),
  );

export const portField = (server: string, defaultPort: number) =>
  destination(z.int().min(1).max(65_535).default(defaultPort).describe(`TCP port of the ${server}.`));

export const usernameField = (purpose: string) => z.string().min(1).optional().describe(`User name ${purpose}.`);

/** Empty is allowed: some servers accept a user with an empty password. */
export const passwordField = (purpose: string) => secret(z.string().optional().describe(`Password ${purpose}.`));

/** A secret connection string or URL with one of the given schemes (credentials may live in it). */
export const connectionUrlField = (schemes: readonly string[], description: string) =>
  destination(
    secret(
      z
        .string()
        .trim()
        .refine((value) => schemes.some((scheme) => value.toLowerCase().startsWith(`${scheme}://`)), {
          message: `must start with ${schemes.map((scheme) => `${scheme}://`).join(' or ')}`,
        })
        .optional()
        .describe(description),
      'url',
    ),
  );

/** An http(s) URL that is not secret, so it may not carry credentials: those belong in the secret fields. */
export const httpUrl = z
  .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
  .refine((value) => !hasUserInfo(value), { message: 'must not contain credentials: use the auth fields' });

/** `host:port`, with an IPv6 address in brackets (`[::1]:9092`). */
export const hostPort = z
  .string()
  .trim()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:/@[\]]+):\d{1,5}$/, { message: 'must be host:port' })
  .refine((value) => isPort(Number(value.slice(value.lastIndexOf(':') + 1))), { message: 'port must be 1..65535' });

/**
 * A connection string (or URL) is an alternative to the separate fields: one or the other, never both.
 * A separate field counts as given when it is set to something other than its schema default (a defaulted
 * `port` cannot be told apart from one the user typed). Fields that an attachment may override, such as
 * `database`, are not listed: an override wins over the connection string.
 */
export function alternativeIssues(
  schema: z.ZodObject,
  config: Record<string, unknown>,
  alternative: string,
  separate: readonly string[],
  required: string,
): FieldError[] {
  const given = separate.filter((field) => {
    const value = config[field];
    return value !== undefined && value !== schema.shape[field]?.safeParse(undefined).data;
  });
  if (config[alternative] !== undefined && given.length > 0) {
    return [{ path: alternative, message: `give either ${alternative} or ${given.join(', ')}, not both` }];
  }
  if (config[alternative] === undefined && config[required] === undefined) {
    return [{ path: required, message: `required unless ${alternative} is given` }];
  }
  return [];
}

/** Fields that must be given together (a user name and its password, a key id and its secret). */
export function togetherIssues(config: Record<string, unknown>, fields: readonly string[]): FieldError[] {
  const given = fields.filter((field) => config[field] !== undefined);
  if (given.length === 0 || given.length === fields.length) return [];
  return fields
    .filter((field) => config[field] === undefined)
    .map((field) => ({ path: field, message: `required when ${given.join(', ')} is set` }));
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP: headers and the auth fields of rest and graphql

// RFC 9110 token characters (header names, and api_key_name); values may not break the header line.
const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerName = z.string().regex(HTTP_TOKEN, { message: 'must be an HTTP header name' });
const headerValue = z.string().regex(/^[^\r\n\0]*$/, { message: 'must not contain line breaks' });
// Set by the client from the request itself; a caller-supplied value would desynchronise the message.
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

export const httpHeaders = z
  .record(headerName, headerValue)
  .refine((headers) => Object.keys(headers).every((name) => !RESERVED_HEADERS.has(name.toLowerCase())), {
    message: `must not set ${[...RESERVED_HEADERS].join(', ')}`,
  });

const AUTH_TYPES = ['none', 'bearer', 'basic', 'api_key', 'oauth2_client_credentials'] as const;
type AuthType = (typeof AUTH_TYPES)[number];

const AUTH_NEEDS: Record<AuthType, readonly string[]> = {
  none: [],
  bearer: ['token'],
  basic: ['username', 'password'],
  api_key: ['api_key', 'api_key_name'],
  oauth2_client_credentials: ['client_id', 'client_secret', 'token_url'],
};

/** The auth fields of rest and graphql; `httpAuthIssues` says which ones each `auth_type` needs. */
export const httpAuthFields = {
  auth_type: z.enum(AUTH_TYPES).default('none').describe('How requests authenticate.'),
  token: secret(z.string().min(1).optional().describe('Bearer token (auth_type bearer).')),
  username: z.string().min(1).optional().describe('User name (auth_type basic).'),
  password: secret(z.string().optional().describe('Password (auth_type basic).')),
  api_key: secret(z.string().min(1).optional().describe('API key (auth_type api_key).')),
  api_key_name: z
    .string()
    .regex(HTTP_TOKEN, { message: 'must be a header or query parameter name' })
    .optional()
    .describe('Header or query parameter that carries api_key (auth_type api_key).'),
  api_key_in: z.enum(['header', 'query']).default('header').describe('Whether api_key travels as a header or a query parameter.'),
  client_id: z.string().min(1).optional().describe('OAuth2 client id (auth_type oauth2_client_credentials).'),
  client_secret: secret(z.string().min(1).optional().describe('OAuth2 client secret (auth_type oauth2_client_credentials).')),
  token_url: destination(httpUrl.optional().describe('OAuth2 token endpoint (auth_type oauth2_client_credentials).')),
  scopes: z.array(z.string().min(1)).default([]).describe('OAuth2 scopes requested with the token.'),
  headers: secret(
    httpHeaders
      .default({})
      .describe('Headers sent on every request. Secret as a whole: masked in responses and every value scrubbed.'),
  ),
};

export function httpAuthIssues(config: { auth_type: AuthType } & Record<string, unknown>): FieldError[] {
  return AUTH_NEEDS[config.auth_type]
    .filter((field) => config[field] === undefined)
    .map((field) => ({ path: field, message: `required when auth_type is ${config.auth_type}` }));
}

// ---------------------------------------------------------------------------------------------------------------
// Storage: s3, minio, gcs, azure_blob

export const bucketField = (what: string) =>
  z
    .string()
    .trim()
    .min(1)
    .regex(/^[^/\s]+$/, { message: 'must not contain slashes or spaces' })
    .describe(`${what}; fixed per connector, an attachment cannot change it.`);

export const prefixField = boundary(
  'prefix',
  z
    .string()
    .min(1)
    .optional()
    .describe(
      'Key prefix this connector is limited to; requests outside it are refused (scope_denied). ' +
        'An attachment may only narrow it (its prefix must start with this one).',
    ),
);

/** AWS-style static credentials; both or neither (`togetherIssues`). Never the host's ambient credentials. */
export const awsCredentialFields = {
  access_key_id: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe('Access key id; with secret_access_key. Without both, requests are unsigned (anonymous).'),
  secret_access_key: secret(z.string().min(1).optional().describe('Secret access key of access_key_id.')),
};

const objectKey = z.string().min(1).max(1024).describe('Object key (the connector prefix included).');
const keyInput = z.strictObject({ key: objectKey });

export const storageOperations = {
  list: operation(
    'List objects under a prefix, a page at a time.',
    z.strictObject({
      prefix: z.string().optional().describe("Key prefix to list; defaults to the connector's prefix."),
      cursor: z.string().min(1).optional().describe('next_cursor of the previous page.'),
      limit: z.int().min(1).max(1000).optional().describe("Objects per page; defaults to the call's max_rows."),
    }),
    'never',
  ),
  head: operation("Read an object's size, content type, etag and modification time.", keyInput, 'never'),
  get: operation('Read an object: text, JSON or base64 with its content_type, capped by max_bytes.', keyInput, 'never'),
  put: operation(
    'Create or replace an object.',
    z.strictObject({
      key: objectKey,
      body: z.string().describe('Object content, encoded as `encoding` says.'),
      encoding: z.enum(['utf8', 'base64']).default('utf8').describe('How body is encoded.'),
      content_type: z.string().min(1).optional().describe('Content type stored with the object.'),
    }),
    'always',
  ),
  delete: operation('Delete an object.', keyInput, 'always'),
} satisfies Record<string, Operation>;

// ---------------------------------------------------------------------------------------------------------------
// Messaging: kafka, rabbitmq, sqs, redis_pubsub, mqtt, nats

/** The message of a publish; spread into each provider's publish input beside its destination field. */
export const messageFields = {
  message: z.string().describe('Message body, encoded as `encoding` says.'),
  encoding: z.enum(['utf8', 'base64']).default('utf8').describe('How message is encoded.'),
};

export const messageHeaders = z.record(z.string().min(1), z.string()).optional().describe('Message headers (string values).');

/** Every consume is bounded: it returns what arrived, at most max_messages, after at most wait_ms. */
export const consumeFields = {
  max_messages: z.int().min(1).max(1000).default(10).describe('Most messages to return.'),
  wait_ms: z.int().min(0).max(30_000).default(1_000).describe('Longest wait for messages, in milliseconds.'),
};

/** What a consume returns, `{messages: [...]}`: the output every consume operation declares. */
export const consumeOutput = z.looseObject({ messages: z.array(z.unknown()) });

// ---------------------------------------------------------------------------------------------------------------
// SQL: postgresql, mysql, sqlite (their read checks: sql-guard/)

export const sqlQueryInput = z.strictObject({
  query: z.string().trim().min(1).describe('One SQL statement; `:name` placeholders are bound from params.'),
  params: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.unknown())
    .optional()
    .describe('Values for the `:name` placeholders.'),
});

// ---------------------------------------------------------------------------------------------------------------

function hasUserInfo(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return false;
  }
}

const isPort = (port: number): boolean => Number.isInteger(port) && port >= 1 && port <= 65_535;
