import type { SqlDialect } from '../sql-params.js';
import { assertPortableRead } from './portable.js';
import { assertPostgresRead } from './postgresql.js';

/**
 * Read mode's parser allow-list (DESIGN.md section 7), one of its layers: the SQL providers call it in `read`
 * mode with the text they are about to send (placeholders already bound), before anything is sent. It resolves
 * when the statement is one read it can prove harmless, and otherwise throws:
 * - `read_only` for anything off the allow-list: another kind of statement, a second statement, a write hidden
 *   in a read (a data-modifying CTE, `SELECT … INTO`, `FOR UPDATE`, `EXPLAIN ANALYZE`), a denied function
 *   (functions.ts), and, for mysql and sqlite, a statement the portable parser cannot read (it may be a valid
 *   read; read mode runs only what it has checked);
 * - `query_failed` for a PostgreSQL statement that PostgreSQL's own parser rejects (the server would reject it
 *   too, in either mode), or a query that holds no statement at all.
 * The other layers stay: the operation's keyword test (`writes()`, before the harness calls the session), one
 * statement per call on the wire (pg's extended protocol, mysql2's prepared statements), and the database's own
 * read-only wall (pg `BEGIN READ ONLY` … `ROLLBACK`, MySQL's read-only session, SQLite's read-only handle), which
 * also stops writes the guard cannot see (a user-defined function that writes).
 */
export async function assertReadOnlySql(dialect: SqlDialect, sql: string): Promise<void> {
  const key = `${dialect}\u0000${sql}`;
  if (provenReads.has(key)) return;
  await (dialect === 'postgresql' ? assertPostgresRead(sql) : assertPortableRead(dialect, sql));
  remember(key);
}

/**
 * Statements already proven to be harmless reads. Agents repeat the same parameterised statements, and the verdict
 * depends on the text alone, so a repeat skips the parse. Refusals are not kept (they are rare and cheap to redo).
 * Bounded; the oldest entry goes first.
 */
const PROVEN_READS_MAX = 2_000;
const provenReads = new Set<string>();

function remember(key: string): void {
  if (provenReads.size >= PROVEN_READS_MAX) {
    const oldest = provenReads.values().next().value;
    if (oldest !== undefined) provenReads.delete(oldest);
  }
  provenReads.add(key);
}
