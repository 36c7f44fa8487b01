import { RETRYABLE_CODES, type ErrorCode } from './api-types.js';

/** One field's problem in a `validation_failed` error, e.g. `{path: "query", message: "Required"}`. */
export interface FieldError {
  path: string;
  message: string;
}

export interface PatchbayErrorOptions {
  /** The HTTP status; 0 when no response came (a network failure, or an error raised by the SDK itself). @default 0 */
  status?: number;
  /** Whether the same call may succeed later unchanged. @default whether the server counts `code` as retryable */
  retryable?: boolean;
  requestId?: string;
  errors?: FieldError[];
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * A failed call: the server's RFC 9457 problem (`code`, `detail`, `request_id`, `errors`), or a failure on the
 * way to it. Switch on `code`, never on the message. A code this SDK version does not know yet is kept as sent.
 */
export class PatchbayError extends Error {
  /** Stable code, e.g. `read_only`, `not_found`, `rate_limited`. */
  readonly code: ErrorCode | (string & {});
  /** HTTP status; 0 when no response came. */
  readonly status: number;
  /** Whether the same call may succeed later, unchanged (`rate_limited`, `timeout`, an unreachable server…). */
  readonly retryable: boolean;
  /** What went wrong, for people: never a secret, and for `internal_error` only the request id. */
  readonly detail: string;
  /** The server's request id, to quote when reporting a problem. */
  readonly requestId?: string;
  /** Each field's problem, for `validation_failed`. */
  readonly errors?: FieldError[];
  /** For `rate_limited`: how long to wait before the next call. */
  readonly retryAfterMs?: number;

  constructor(code: ErrorCode | (string & {}), detail: string, options: PatchbayErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PatchbayError';
    this.code = code;
    this.detail = detail;
    this.status = options.status ?? 0;
    this.retryable = options.retryable ?? RETRYABLE_CODES.has(code);
    this.requestId = options.requestId;
    this.errors = options.errors;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The error a failed response stands for: its problem body, or a code chosen from the status when it has none. */
export async function errorFromResponse(response: Response, url: string): Promise<PatchbayError> {
  const text = await response.text().catch(() => '');
  const problem = parseProblem(text);
  const retryAfterMs = problem?.retry_after_ms ?? retryAfterHeaderMs(response.headers.get('retry-after'));
  if (problem) {
    return new PatchbayError(problem.code, problem.detail ?? problem.title ?? problem.code, {
      status: response.status,
      requestId: problem.request_id,
      errors: problem.errors,
      retryAfterMs,
    });
  }
  // Not Patchbay's answer: a proxy or load balancer in between, or a baseUrl that points elsewhere. A gateway's
  // 5xx may pass; any other status will not change by itself.
  const code = response.status === 429 ? 'rate_limited' : response.status === 500 ? 'internal_error' : 'upstream_error';
  return new PatchbayError(code, `HTTP ${response.status} without a Patchbay problem body from ${url}`, {
    status: response.status,
    retryable: response.status === 429 || response.status > 500,
    retryAfterMs,
  });
}

/** A request that got no response: the server is unreachable, or the connection broke. */
export function networkError(cause: unknown, url: string): PatchbayError {
  const reason = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
  return new PatchbayError('upstream_error', `no response from ${url}: ${reason}`, { retryable: true, cause });
}

interface Problem {
  code: string;
  title?: string;
  detail?: string;
  request_id?: string;
  errors?: FieldError[];
  retry_after_ms?: number;
}

function parseProblem(text: string): Problem | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof body !== 'object' || body === null || typeof (body as Problem).code !== 'string') return undefined;
  const { code, title, detail, request_id, errors, retry_after_ms } = body as Record<string, unknown>;
  return {
    code: code as string,
    title: typeof title === 'string' ? title : undefined,
    detail: typeof detail === 'string' ? detail : undefined,
    request_id: typeof request_id === 'string' ? request_id : undefined,
    errors: Array.isArray(errors) ? (errors as FieldError[]) : undefined,
    retry_after_ms: typeof retry_after_ms === 'number' && retry_after_ms >= 0 ? retry_after_ms : undefined,
  };
}

/** `Retry-After` in seconds or as an HTTP date (RFC 9110), in milliseconds from now. */
function retryAfterHeaderMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
