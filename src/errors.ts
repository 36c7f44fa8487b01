/**
 * The one registry of error codes: each stable code with its HTTP status and title.
 * Everything may throw a PatchbayError; only the error-handler plugin turns one into a response.
 */
export const errorCodes = {
  bad_request: { status: 400, title: 'Bad request' },
  validation_failed: { status: 422, title: 'Validation failed' },
  unauthenticated: { status: 401, title: 'Unauthenticated' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  conflict: { status: 409, title: 'Conflict' },
  connector_in_use: { status: 409, title: 'Connector in use' },
  connector_disabled: { status: 409, title: 'Connector disabled' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  rate_limited: { status: 429, title: 'Rate limited' },
  unsupported_operation: { status: 422, title: 'Unsupported operation' },
  egress_denied: { status: 422, title: 'Egress denied' },
  read_only: { status: 403, title: 'Read only' },
  scope_denied: { status: 403, title: 'Scope denied' },
  query_failed: { status: 422, title: 'Query failed' },
  auth_failed: { status: 502, title: 'Authentication failed' },
  permission_denied: { status: 502, title: 'Permission denied' },
  database_not_found: { status: 502, title: 'Database not found' },
  upstream_not_found: { status: 404, title: 'Upstream resource not found' },
  dns_not_found: { status: 502, title: 'Host not found' },
  connection_refused: { status: 502, title: 'Connection refused' },
  tls_error: { status: 502, title: 'TLS error' },
  timeout: { status: 504, title: 'Timeout' },
  upstream_error: { status: 502, title: 'Upstream error' },
  unavailable: { status: 503, title: 'Service unavailable' },
  internal_error: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCodes;

export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === 'string' && Object.hasOwn(errorCodes, value);

export interface FieldError {
  path: string;
  message: string;
}

export interface PatchbayErrorOptions {
  cause?: unknown;
  /** Per-field problems, for validation_failed. */
  errors?: FieldError[];
  /** Extra members for the problem body (e.g. retry_after_ms). Never a secret. */
  extra?: Record<string, unknown>;
  /** Response headers the error implies (e.g. WWW-Authenticate). */
  headers?: Record<string, string>;
}

export class PatchbayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors?: FieldError[];
  readonly extra?: Record<string, unknown>;
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, detail?: string, options: PatchbayErrorOptions = {}) {
    super(detail ?? errorCodes[code].title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PatchbayError';
    this.code = code;
    this.status = errorCodes[code].status;
    this.errors = options.errors;
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

/** A 422 listing every field problem; the detail repeats them so a log line alone says what was wrong. */
export const validationError = (errors: FieldError[]): PatchbayError =>
  new PatchbayError('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });

/** What a client may read of an error: a 500 names only its request id (the cause is in the log). */
export const publicDetail = (error: PatchbayError, requestId: string): string =>
  error.code === 'internal_error' ? `internal error; quote request id ${requestId}` : error.message;
