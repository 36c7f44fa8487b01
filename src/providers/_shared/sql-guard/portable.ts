import { PatchbayError } from '../../../errors.js';
import { analyzeSql, readSql, type SqlQuirk, type SqlShape } from '../sql-params.js';
import type { FunctionCall } from './catalogue.js';
import { deniedFunction } from './functions.js';
import { refuse } from './refusal.js';

/**
 * The read-mode gate of mysql and sqlite, whose servers come with no parser of their own to borrow. It reads
 * the statement with Patchbay's tokenizer (sql-params.ts), which follows the server's own rules for literals,
 * quoted names and comments, in one pass: its time is linear in the length of the text, whatever the text
 * holds. (A general SQL parser did this before; its backtracking took seconds on a few hundred bytes of nested,
 * unclosed subqueries, so it is no longer on the request path.)
 *
 * - none of the forms the server reads otherwise than a reader would: MySQL's executed comments `/*!`, `/*M!`,
 *   `/*+`, `1--1` and the `:=` assignment; SQLite's `#name`; a string, quoted name or comment left open;
 * - exactly one statement, starting with a keyword of an allowed kind: mysql SELECT (WITH … SELECT), SHOW,
 *   DESCRIBE/DESC, EXPLAIN; sqlite SELECT (WITH … SELECT), EXPLAIN [QUERY PLAN]. No PRAGMA: SQLite offers the
 *   pragmas without side effects as table-valued functions (`SELECT * FROM pragma_table_info('t')`);
 * - outside SHOW (which only ever reads), no word that writes or locks wherever it stands, in a subquery or a
 *   CTE too: INSERT, UPDATE, DELETE, REPLACE, INTO (OUTFILE, DUMPFILE, @var), FOR UPDATE, FOR SHARE, LOCK IN
 *   SHARE MODE, EXPLAIN ANALYZE, PROCEDURE ANALYSE, NEXT VALUE FOR, DDL … (`REPLACE(…)` and `INSERT(…)`, string
 *   functions, are calls, not statements); a column with such a name is quoted;
 * - no word that names a denied function (functions.ts), wherever it stands, and no call of one however quoted.
 *
 * The names the statement calls are returned: the session checks them against the server's own catalogue
 * (MySQL's stored and loadable functions, SQLite's functions that are not built in), which only it can read.
 */

type Dialect = 'mysql' | 'sqlite';

const FIRST_KEYWORDS: Readonly<Record<Dialect, ReadonlySet<string>>> = {
  mysql: new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN']),
  sqlite: new Set(['SELECT', 'WITH', 'EXPLAIN']),
};

const KINDS: Readonly<Record<Dialect, string>> = {
  mysql: 'SELECT, SHOW, DESCRIBE and EXPLAIN',
  sqlite: 'SELECT and EXPLAIN (read PRAGMAs through their functions: pragma_table_info(…))',
};

// Words that write, lock or run something else, refused wherever they stand unless called as a function.
const WRITING_WORDS = new Set([
  ...['INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'MERGE', 'UPSERT', 'INTO', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE'],
  ...['RENAME', 'GRANT', 'REVOKE', 'CALL', 'EXEC', 'EXECUTE', 'DO', 'HANDLER', 'LOAD', 'LOCK', 'UNLOCK', 'SET'],
  ...['ANALYZE', 'OPTIMIZE', 'REPAIR', 'FLUSH', 'KILL', 'ATTACH', 'DETACH', 'VACUUM', 'REINDEX', 'PRAGMA'],
  ...['PROCEDURE', 'PREPARE', 'DEALLOCATE'],
]);

const QUIRKS: Readonly<Record<Exclude<SqlQuirk['kind'], 'bracket_name'>, string>> = {
  executed_comment: 'the server runs /*! … */, /*M! … */ and /*+ … */ comments, which read mode cannot check',
  dash_dash: "`--` not followed by a space is two minus signs to MySQL and a comment to most readers; write `- -`",
  hash: '`#` starts a parameter in SQLite and a comment for most readers',
  assignment: 'an assignment (:=) sets a user variable, which outlives the call on its pooled connection',
};

/** Why read mode refuses `sql`, or undefined when the text alone shows nothing to refuse. Throws query_failed when it holds no statement. */
function problem(dialect: Dialect, sql: string, shape: SqlShape): string | undefined {
  for (const quirk of shape.quirks) if (quirk.kind !== 'bracket_name') return QUIRKS[quirk.kind];
  if (shape.unterminated) return 'the statement ends inside a string, a quoted name or a comment';
  if (shape.statementCount === 0) throw new PatchbayError('query_failed', `${dialect}: the query holds no statement`);
  if (shape.statementCount > 1) return `one statement per call; this query holds ${shape.statementCount}`;
  const first = shape.firstKeyword ?? '';
  if (!FIRST_KEYWORDS[dialect].has(first)) return `read mode runs only ${KINDS[dialect]}; this is ${first || 'no statement it knows'}`;

  const { words } = shape;
  // How often each word is called (`REPLACE(…)`): only its other occurrences are the keyword.
  const calls = new Map<string, number>();
  for (const call of shape.calls) {
    const upper = call.name.toUpperCase();
    calls.set(upper, (calls.get(upper) ?? 0) + 1);
  }
  for (const word of new Set(words)) {
    const denied = deniedFunction(dialect, word);
    if (denied !== undefined) return `${word.toLowerCase()}() is refused in read mode: it ${denied}`;
  }
  const reads = first === 'SHOW';
  for (const [index, word] of words.entries()) {
    const called = calls.get(word) ?? 0;
    if (called > 0) calls.set(word, called - 1);
    if (reads || called > 0) continue;
    const previous = words[index - 1];
    if (word === 'SET' && previous === 'CHARACTER') continue; // CAST(x AS CHAR CHARACTER SET utf8mb4)
    if (WRITING_WORDS.has(word)) return `${describe(word, previous)} is refused in read mode`;
    if (word === 'SHARE' && previous === 'FOR') return 'SELECT … FOR SHARE locks rows';
    if (word === 'NEXT' && words[index + 1] === 'VALUE') return 'NEXT VALUE FOR advances a sequence';
  }
  // Built-in MySQL functions are never qualified: `db.f()` is a stored function, whose body read mode cannot see.
  for (const { name, qualified } of shape.calls) {
    if (qualified && dialect === 'mysql') return `${name}() is a stored function, which read mode does not run`;
  }
  for (const name of new Set(shape.calls.map((call) => call.name))) {
    const denied = deniedFunction(dialect, name);
    if (denied !== undefined) return `${name.toLowerCase()}() is refused in read mode: it ${denied}`;
  }
  return undefined;
}

function describe(word: string, previous: string | undefined): string {
  if (word === 'INTO') return 'SELECT … INTO (a file, a table or variables)';
  if (word === 'UPDATE' && previous === 'FOR') return 'SELECT … FOR UPDATE';
  if (word === 'LOCK') return 'LOCK (IN SHARE MODE)';
  if (word === 'ANALYZE') return 'ANALYZE, which runs the statement,';
  return word;
}

/**
 * The cheap first gate (`Operation.writes`) of mysql and sqlite: whether the statement is one the read-mode
 * gate would pass on its text alone.
 */
export function isReadStatement(sql: string, dialect: Dialect): boolean {
  const shape = readSql(sql, dialect);
  try {
    return problem(dialect, sql, shape) === undefined;
  } catch {
    return false;
  }
}

/** Refuses (read_only) what read mode does not run; resolves with the names the statement calls, lower-case (function names are not case-sensitive in either dialect). */
export async function assertPortableRead(dialect: Dialect, sql: string): Promise<FunctionCall[]> {
  const shape = analyzeSql(sql, dialect);
  const reason = problem(dialect, sql, shape);
  if (reason !== undefined) refuse(dialect, reason);
  const names = new Set(shape.calls.filter((call) => !call.qualified).map((call) => call.name.toLowerCase()));
  return [...names].map((name) => ({ name }));
}
