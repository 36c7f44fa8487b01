import { createHash } from 'node:crypto';
import { PatchbayError } from '../../../errors.js';
import type { SqlDialect } from '../sql-params.js';
import type { FunctionCall } from './catalogue.js';
import { assertPortableRead } from './portable.js';
import { assertPostgresRead } from './postgresql.js';

/**
 * Read mode's parser allow-list (DESIGN.md section 7), one of its layers: the SQL providers call it in `read`
 * mode with the text they are about to send (placeholders already bound), before anything is sent. It resolves
 * with the names of the functions the statement calls when it is one read it can prove harmless (the session
 * then checks those names against the server's own catalogue, catalogue.ts), and otherwise throws:
 * - `validation_failed` for a statement longer than MAX_READ_STATEMENT_BYTES;
 * - `read_only` for anything off the allow-list: another kind of statement, a second statement, a write hidden
 *   in a read (a data-modifying CTE, `SELECT … INTO`, `FOR UPDATE`, `EXPLAIN ANALYZE`), a denied function
 *   (functions.ts), a statement nested deeper than the checks go;
 * - `query_failed` for a PostgreSQL statement that PostgreSQL's own parser rejects (the server would reject it
 *   too, in either mode), or a query that holds no statement at all.
 * The other layers stay: the operation's keyword test (`writes()`, before the harness calls the session), one
 * statement per call on the wire (pg's extended protocol, mysql2's prepared statements), and the database's own
 * read-only wall (pg's read-only transaction, MySQL's read-only session, SQLite's read-only handle), which
 * also stops writes the guard cannot see (a user-defined function that writes).
 */
export type { FunctionCall } from './catalogue.js';

export async function assertReadOnlySql(dialect: SqlDialect, sql: string): Promise<readonly FunctionCall[]> {
  assertReadSize(dialect, sql);
  // A digest, not the text: 2,000 statements of up to 64 KiB each would otherwise be kept whole.
  const key = createHash('sha256').update(`${dialect}\u0000`).update(sql).digest('base64');
  const known = provenReads.get(key);
  if (known !== undefined) return known;
  const calls = await (dialect === 'postgresql' ? assertPostgresRead(sql) : assertPortableRead(dialect, sql));
  remember(key, calls);
  return calls;
}

/**
 * The longest statement read mode checks, in UTF-8 bytes of the text as it will run. Every check is linear in
 * the length of the text, but PostgreSQL's own parser (libpg-query) is not always, and a read an agent writes
 * is far shorter: 64 KiB holds a thousand-line report query.
 */
export const MAX_READ_STATEMENT_BYTES = 64 * 1024;

/** validation_failed at `query` above MAX_READ_STATEMENT_BYTES, measured without copying the text. */
export function assertReadSize(dialect: SqlDialect, sql: string): void {
  // A UTF-16 unit is at most 3 UTF-8 bytes: only a text near the cap needs to be measured.
  if (sql.length * 3 <= MAX_READ_STATEMENT_BYTES) return;
  if (sql.length <= MAX_READ_STATEMENT_BYTES && Buffer.byteLength(sql, 'utf8') <= MAX_READ_STATEMENT_BYTES) return;
  throw new PatchbayError('validation_failed', `${dialect}: a statement in read mode may be at most ${MAX_READ_STATEMENT_BYTES} bytes long`, {
    errors: [{ path: 'query', message: `longer than ${MAX_READ_STATEMENT_BYTES} bytes (read mode's limit)` }],
  });
}

/**
 * Statements already proven to be harmless reads, with the functions each calls. Agents repeat the same
 * parameterised statements, and the verdict depends on the text alone, so a repeat skips the parse (the called
 * functions are still checked against the server's catalogue on every call). Refusals are not kept (they are rare
 * and cheap to redo). Bounded; the oldest entry goes first.
 */
const PROVEN_READS_MAX = 2_000;
const provenReads = new Map<string, readonly FunctionCall[]>();

function remember(key: string, calls: readonly FunctionCall[]): void {
  if (provenReads.size >= PROVEN_READS_MAX) {
    const oldest = provenReads.keys().next().value;
    if (oldest !== undefined) provenReads.delete(oldest);
  }
  provenReads.set(key, calls);
}
