import type { ErrorCode } from '../errors.js';

/**
 * The network rules: what a failed socket, name lookup, TLS handshake or outbound HTTP exchange means, as a
 * stable code and a secret-free text. The harness answers with them when a provider's own classify does not
 * know an error; webhook deliveries store them as `last_error`. Nothing here quotes a body or a stack.
 */

export interface NetworkFailure {
  code: ErrorCode;
  /** The wording alone, stable: `connection refused`, `TLS failed (CERT_HAS_EXPIRED)`. */
  summary: string;
  /** The summary and what the error says of where or why: `connection refused: 127.0.0.1:5432`. */
  message: string;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);

/**
 * The failures common to every provider and to webhook deliveries, recognised on the error, its causes and an
 * AggregateError's parts; undefined when none applies.
 */
export function networkFailure(error: unknown): NetworkFailure | undefined {
  for (const part of errorChain(error)) {
    const failure = ruleFor(part);
    if (failure) return failure;
  }
  return undefined;
}

/**
 * The text of an outbound request's failure where no code is kept (a webhook delivery's `last_error`): the
 * rule's summary, else `request failed (<code>)`. Never an unclassified error's own message.
 */
export function failureSummary(error: unknown): string {
  const failure = networkFailure(error);
  if (failure) return failure.summary;
  const { code } = (error ?? {}) as { code?: unknown };
  return typeof code === 'string' ? `request failed (${code})` : 'request failed';
}

function ruleFor(part: ErrorPart): NetworkFailure | undefined {
  const code = typeof part.code === 'string' ? part.code : '';
  const where = typeof part.address === 'string' ? `${part.address}${part.port ? `:${part.port}` : ''}` : undefined;
  if (code === 'EGRESS_DENIED') return failure('egress_denied', part.message);
  if (code === 'PB_HTTP_TIMEOUT' && typeof part.ms === 'number') {
    return { code: 'timeout', summary: `no answer within ${part.ms} ms`, message: part.message };
  }
  if (DNS_CODES.has(code)) return failure('dns_not_found', 'host not found', typeof part.hostname === 'string' ? part.hostname : undefined);
  if (code === 'ECONNREFUSED') return failure('connection_refused', 'connection refused', where);
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return failure('connection_refused', 'no route to host', where);
  if (code === 'ETIMEDOUT') return failure('timeout', 'connection timed out', where);
  if (isTlsCode(code)) return failure('tls_error', `TLS failed (${code})`, part.message);
  // Before the reset rule: a peer that hangs up mid-handshake is a TLS failure (ECONNRESET, "…before secure TLS…").
  if (/certificate|\bSSL\b|\bTLS\b|wrong version number/i.test(part.message)) return failure('tls_error', 'TLS failed', part.message);
  if (code === 'ECONNRESET') return failure('upstream_error', 'connection reset', where);
  return undefined;
}

const failure = (code: ErrorCode, summary: string, detail?: string): NetworkFailure => ({
  code,
  summary,
  message: detail ? `${summary}: ${detail}` : summary,
});

/** Node's TLS codes and OpenSSL's verify codes (UNABLE_TO_VERIFY_LEAF_SIGNATURE…), which do not all name a CERT. */
const isTlsCode = (code: string): boolean =>
  /^(ERR_TLS_|ERR_SSL_|UNABLE_TO_)|CERT/.test(code) || code === 'EPROTO' || code === 'HOSTNAME_MISMATCH';

type ErrorPart = Error & { code?: unknown; address?: unknown; port?: unknown; hostname?: unknown; ms?: unknown };

function* errorChain(error: unknown, depth = 0): Generator<ErrorPart> {
  if (!(error instanceof Error) || depth > 4) return;
  yield error as ErrorPart;
  if (error instanceof AggregateError) for (const inner of error.errors) yield* errorChain(inner, depth + 1);
  yield* errorChain(error.cause, depth + 1);
}
