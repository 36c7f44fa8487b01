import { PatchbayError } from '../../../errors.js';
import { analyzeSql, type SqlQuirk, type SqlShape } from '../sql-params.js';
import { deniedFunction } from './functions.js';
import { refuse } from './refusal.js';

/**
 * The read-mode gate of mysql and sqlite, whose servers come with no parser of their own to borrow: the
 * statement is read twice, and must pass both readings.
 *
 * 1. Lexically, by Patchbay's tokenizer, which follows the server's own rules for literals and comments
 *    (sql-params.ts): none of the forms the server and a portable parser read apart (MySQL's executed comments
 *    `/*!`, `/*M!`, `/*+`, and `1--1`; SQLite's `#name`); exactly one statement, starting with a keyword of an
 *    allowed kind; no word that names a denied function, wherever it stands (a column named `sleep` has to be
 *    quoted). SQLite's `[name]` is handed to the parser as `` `name` ``, the same quoted name.
 * 2. By node-sql-parser (its MySQL grammar, then its MariaDB one; its SQLite grammar), whose tree must hold one
 *    statement of an allowed kind, no `INTO` (OUTFILE, DUMPFILE, @var), no `FOR UPDATE`/`LOCK IN SHARE MODE`, no
 *    `:=` assignment, no subquery or CTE that is not a SELECT, and no call of a denied function. Its first
 *    keyword must be the one the tokenizer found.
 *
 * Allowed: mysql SELECT (WITH … SELECT), SHOW, DESCRIBE, EXPLAIN of a SELECT; sqlite SELECT (WITH … SELECT) and
 * EXPLAIN [QUERY PLAN] of one. No PRAGMA: SQLite offers the pragmas without side effects as table-valued
 * functions (`SELECT * FROM pragma_table_info('t')`), which take no value to set.
 * What the parser cannot read is refused (read_only), even a valid read: its grammars have gaps (window
 * clauses in SQLite, `SHOW VARIABLES`, `DESCRIBE db.table`, `VALUES`, `TABLE`), and a statement nobody could
 * read is a statement nobody checked.
 */

type Dialect = 'mysql' | 'sqlite';
type Grammar = 'MySQL' | 'MariaDB' | 'Sqlite';
type AstNode = Record<string, unknown>;
interface Parser {
  astify(sql: string, options: { database: Grammar }): unknown;
}

const GRAMMARS: Readonly<Record<Dialect, readonly Grammar[]>> = { mysql: ['MySQL', 'MariaDB'], sqlite: ['Sqlite'] };

// The statements each dialect may run in read mode, with the first keywords each may start with.
const ALLOWED: Readonly<Record<Dialect, Readonly<Record<string, readonly string[]>>>> = {
  mysql: {
    select: ['SELECT', 'WITH'],
    show: ['SHOW'],
    desc: ['DESCRIBE', 'DESC', 'EXPLAIN'],
    explain: ['EXPLAIN', 'DESCRIBE', 'DESC'],
  },
  sqlite: { select: ['SELECT', 'WITH'] },
};

const KINDS: Readonly<Record<Dialect, string>> = {
  mysql: 'SELECT, SHOW, DESCRIBE and EXPLAIN',
  sqlite: 'SELECT and EXPLAIN (read PRAGMAs through their functions: pragma_table_info(…))',
};
// What an allowed statement may start with, told before parsing (SQLite's EXPLAIN is peeled off here).
const FIRST_KEYWORDS: Readonly<Record<Dialect, ReadonlySet<string>>> = {
  mysql: new Set(Object.values(ALLOWED.mysql).flat()),
  sqlite: new Set([...Object.values(ALLOWED.sqlite).flat(), 'EXPLAIN']),
};

// Statement kinds that may never appear inside an allowed one (node-sql-parser's `type` of each).
const WRITING_TYPES = new Set(['insert', 'replace', 'update', 'delete', 'create', 'drop', 'alter', 'truncate', 'rename']);

const QUIRKS: Readonly<Record<Exclude<SqlQuirk['kind'], 'bracket_name'>, string>> = {
  executed_comment: 'the server runs /*! … */, /*M! … */ and /*+ … */ comments, which read mode cannot check',
  dash_dash: "`--` not followed by a space is two minus signs to MySQL and a comment to read mode's parser; write `- -`",
  hash: "`#` starts a parameter in SQLite and a comment for read mode's parser",
};

// SQLite: EXPLAIN and EXPLAIN QUERY PLAN show a plan and never run the statement; the parser knows neither.
const SQLITE_EXPLAIN = /^\s*EXPLAIN\s+(QUERY\s+PLAN\s+)?/i;

export async function assertPortableRead(dialect: Dialect, sql: string): Promise<void> {
  const shape = analyzeSql(sql, dialect);
  for (const quirk of shape.quirks) if (quirk.kind !== 'bracket_name') refuse(dialect, QUIRKS[quirk.kind]);
  if (shape.statementCount === 0) throw new PatchbayError('query_failed', `${dialect}: the query holds no statement`);
  if (shape.statementCount > 1) refuse(dialect, `one statement per call; this query holds ${shape.statementCount}`);
  const first = shape.firstKeyword ?? '';
  if (!FIRST_KEYWORDS[dialect].has(first)) {
    refuse(dialect, `read mode runs only ${KINDS[dialect]}; this is ${first || 'no statement it knows'}`);
  }
  for (const word of shape.words) refuseDenied(dialect, word);

  let text = dialect === 'sqlite' ? bracketsAsBackticks(sql, shape) : sql;
  let words = shape.words;
  const explain = dialect === 'sqlite' && shape.firstKeyword === 'EXPLAIN' ? SQLITE_EXPLAIN.exec(text) : null;
  if (explain) {
    text = text.slice(explain[0].length);
    words = words.slice(explain[1] === undefined ? 1 : 3);
  }
  const statement = await parseOne(dialect, text);
  const type = String(statement.type);
  const keywords = Object.hasOwn(ALLOWED[dialect], type) ? ALLOWED[dialect][type] : undefined;
  if (keywords === undefined) refuse(dialect, `read mode runs only ${KINDS[dialect]}; this is ${type.toUpperCase()}`);
  if (!keywords.includes(words[0] ?? '')) {
    refuse(dialect, "the server and read mode's parser would read this statement differently");
  }
  if (type === 'explain' && (statement.expr as AstNode | undefined)?.type !== 'select') {
    refuse(dialect, 'EXPLAIN only of a SELECT');
  }
  walk(statement, (node) => checkNode(dialect, node));
}

/** One statement's tree from the first of the dialect's grammars that reads it; refused when none does. */
async function parseOne(dialect: Dialect, text: string): Promise<AstNode> {
  let failure: unknown;
  for (const grammar of GRAMMARS[dialect]) {
    let tree: unknown;
    try {
      tree = (await parserFor(grammar)).astify(text, { database: grammar });
    } catch (error) {
      failure = error;
      continue;
    }
    const statements = (Array.isArray(tree) ? tree : [tree]) as AstNode[];
    if (statements.length !== 1) refuse(dialect, `one statement per call; this query holds ${statements.length}`);
    return statements[0] as AstNode;
  }
  const at = (failure as { location?: { start?: { line?: number; column?: number } } } | undefined)?.location?.start;
  const where = at?.line === undefined ? '' : ` (line ${at.line}, column ${at.column})`;
  refuse(dialect, `read mode runs only statements its SQL parser can read, and it cannot read this one${where}`);
}

function checkNode(dialect: Dialect, node: AstNode): void {
  const into = node.into as AstNode | undefined;
  if (into && (into.keyword != null || into.expr != null || into.position != null)) {
    refuse(dialect, 'SELECT … INTO writes a file or sets variables');
  }
  if (node.locking_read || node.for_update) refuse(dialect, 'SELECT … FOR UPDATE or LOCK IN SHARE MODE locks rows');
  if (node.type === 'assign' || node.operator === ':=') {
    refuse(dialect, 'an assignment (:=) sets a user variable, which outlives the call on its pooled connection');
  }
  if (WRITING_TYPES.has(String(node.type))) {
    refuse(dialect, `a statement may hold only SELECTs; this one holds ${String(node.type).toUpperCase()}`);
  }
  const inner = node.ast as AstNode | undefined; // a subquery or a CTE: { tableList, columnList, ast }
  if (inner && typeof inner === 'object' && inner.type !== 'select') {
    refuse(dialect, 'a subquery or WITH query may only be a SELECT');
  }
  if (node.type === 'function' || node.type === 'aggr_func') refuseDenied(dialect, functionName(node.name));
}

/** `SLEEP`, `test.SLEEP`, `` `SLEEP` ``: the name node-sql-parser gives a call, without its schema. */
function functionName(name: unknown): string {
  if (typeof name === 'string') return name;
  const parts = (name as { name?: unknown } | null)?.name;
  if (typeof parts === 'string') return parts;
  if (Array.isArray(parts)) return String((parts.at(-1) as { value?: unknown } | undefined)?.value ?? '');
  return '';
}

function refuseDenied(dialect: Dialect, name: string): void {
  const effect = deniedFunction(dialect, name);
  if (effect !== undefined) refuse(dialect, `${name.toLowerCase()}() is refused in read mode: it ${effect}`);
}

/** Calls `visit` with every object in the tree, depth first. */
function walk(node: unknown, visit: (node: AstNode) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, visit);
  } else if (node !== null && typeof node === 'object') {
    visit(node as AstNode);
    for (const value of Object.values(node)) walk(value, visit);
  }
}

/** SQLite's `[name]` rewritten as `` `name` ``, the same quoted name, which node-sql-parser's SQLite grammar reads. */
function bracketsAsBackticks(sql: string, shape: SqlShape): string {
  let text = '';
  let last = 0;
  for (const { kind, start, end } of shape.quirks) {
    if (kind !== 'bracket_name') continue;
    if (sql[end - 1] !== ']') refuse('sqlite', 'a [name] is not closed');
    text += `${sql.slice(last, start)}\`${sql.slice(start + 1, end - 1).replaceAll('`', '``')}\``;
    last = end;
  }
  return text + sql.slice(last);
}

const parsers = new Map<Grammar, Promise<Parser>>();

/** node-sql-parser's build of one grammar, loaded on first use (each is a few hundred kilobytes). */
function parserFor(grammar: Grammar): Promise<Parser> {
  let parser = parsers.get(grammar);
  if (parser === undefined) {
    parser = loadParser(grammar);
    parsers.set(grammar, parser);
  }
  return parser;
}

async function loadParser(grammar: Grammar): Promise<Parser> {
  // The builds are CommonJS that Node cannot see named exports in: the Parser class hangs off the default export.
  const build =
    grammar === 'MySQL'
      ? await import('node-sql-parser/build/mysql.js')
      : grammar === 'MariaDB'
        ? await import('node-sql-parser/build/mariadb.js')
        : await import('node-sql-parser/build/sqlite.js');
  return new build.default.Parser();
}
