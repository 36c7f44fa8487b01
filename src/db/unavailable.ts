import { ConnectionError } from 'sequelize';
import { PatchbayError } from '../errors.js';

/**
 * Whether an error means that Patchbay's own database cannot be reached right now (stopped, restarting, refusing
 * connections, the connection cut), rather than that a statement was wrong: the one test the error handler, the
 * MCP tool errors and the audit writer share.
 *
 * Sequelize wraps failures to connect in its ConnectionError family (the pool's acquire timeout included), but a
 * connection that dies under a query surfaces as a DatabaseError whose `parent` is the driver's error, and
 * statements sent to the driver directly (services/hot-statements.ts) surface the driver's error itself. So the
 * chain of causes is walked, looking for: Sequelize's connection errors; a socket error code; SQLSTATE class 08
 * (connection exception) or 57P01-57P03 (the server shutting down, crashed, or still starting); and the messages
 * node-postgres gives, without a code, for a client whose connection ended under it.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return causes(error).some(
    (cause) =>
      cause instanceof ConnectionError ||
      (typeof cause.code === 'string' && (SOCKET_CODES.has(cause.code) || /^(08...|57P0[123])$/.test(cause.code))) ||
      DRIVER_MESSAGES.test(cause.message),
  );
}

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/** node-postgres's own errors for a client whose connection is gone (pg/lib/client.js): they carry no code. */
const DRIVER_MESSAGES =
  /^(Connection terminated|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

/** The error and what it wraps (Sequelize's `parent`/`original`, the standard `cause`), a few levels deep. */
function causes(error: unknown): (Error & { code?: unknown })[] {
  const chain: Error[] = [];
  for (let current = error; current instanceof Error && chain.length < 5;) {
    chain.push(current);
    const { parent, original, cause } = current as { parent?: unknown; original?: unknown; cause?: unknown };
    current = parent ?? original ?? cause;
  }
  return chain;
}

/**
 * The answer to a request that needed the database while it was unavailable (undefined for any other error): 503
 * `unavailable` with a Retry-After. The driver's error stays behind as the cause, for the log only.
 */
export function unavailableError(error: unknown): PatchbayError | undefined {
  if (error instanceof PatchbayError) return error.code === 'unavailable' ? error : undefined;
  if (!isDatabaseUnavailable(error)) return undefined;
  return new PatchbayError('unavailable', "Patchbay's database is unavailable; retry shortly", {
    cause: error,
    headers: { 'Retry-After': String(RETRY_AFTER_S) },
  });
}

/**
 * Why the database was unavailable, for a log line: the innermost error's code and message ("ECONNREFUSED: connect
 * ECONNREFUSED 127.0.0.1:5432", "57P01: terminating connection due to administrator command"). Not the error
 * itself: a Sequelize error carries the statement and its parameters.
 */
export function unavailableReason(error: unknown): string {
  const innermost = causes(error).at(-1);
  if (!innermost) return String(error);
  return typeof innermost.code === 'string' ? `${innermost.code}: ${innermost.message}` : innermost.message;
}

/** What a 503 suggests a client wait before retrying: about the time a database restart takes. */
const RETRY_AFTER_S = 5;
