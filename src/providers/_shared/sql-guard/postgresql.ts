import type * as LibpgQuery from 'libpg-query';
import { PatchbayError } from '../../../errors.js';
import { analyzeSql } from '../sql-params.js';
import type { FunctionCall } from './catalogue.js';
import { deniedFunction } from './functions.js';
import { refuse } from './refusal.js';

/**
 * PostgreSQL's read-mode gate, on the tree of libpg-query: PostgreSQL's own parser (its grammar, compiled to
 * WebAssembly), so the tree is the statement as the server will read it. Allowed: one `SelectStmt` (which is also
 * what `VALUES`, `TABLE` and `WITH … SELECT` parse to) without `INTO` or a locking clause anywhere in it, whose
 * every CTE and subquery is a SELECT as well; `EXPLAIN` without `ANALYZE` of such a statement; `SHOW`. No call
 * of a denied function (functions.ts) anywhere in the tree. Resolves with the names of the functions it calls,
 * which the session checks against the server's pg_proc (catalogue.ts).
 *
 * libpg-query's work is not linear in every input (PostgreSQL's scanner rescans nested comments; deep trees
 * come back as deeply nested JSON), so Patchbay's own one-pass tokenizer sees the text first and refuses nesting
 * deeper than a person writes: more than MAX_DEPTH parentheses, brackets or nested comments, or more than
 * MAX_OPERATORS operators in a row of one level.
 */
let libpgQuery: Promise<typeof LibpgQuery> | undefined;

const MAX_DEPTH = 64;

export async function assertPostgresRead(sql: string): Promise<FunctionCall[]> {
  const shape = analyzeSql(sql, 'postgresql');
  if (shape.depth > MAX_DEPTH) refuse('postgresql', `read mode checks statements nested at most ${MAX_DEPTH} deep`);
  // Loaded once: a dynamic import per call costs more than the parse itself.
  const { parse } = await (libpgQuery ??= import('libpg-query'));
  let tree: { stmts?: { stmt: Record<string, unknown> }[] };
  try {
    tree = (await parse(sql)) as typeof tree;
  } catch (error) {
    // The server's own grammar refused it, as the server would: a mistake in the query, whatever the mode.
    throw new PatchbayError(
      'query_failed',
      `postgresql: ${error instanceof Error ? error.message : 'the statement does not parse'}`,
    );
  }
  const statements = tree.stmts ?? [];
  if (statements.length === 0) throw new PatchbayError('query_failed', 'postgresql: the query holds no statement');
  if (statements.length > 1) refuse('postgresql', `one statement per call; this query holds ${statements.length}`);
  const [kind, body] = Object.entries((statements[0] as { stmt: Record<string, unknown> }).stmt)[0] ?? [];
  switch (kind) {
    case 'SelectStmt':
      return checkSelect(body);
    case 'VariableShowStmt':
      return [];
    case 'ExplainStmt': {
      const { query, options = [] } = body as { query?: Record<string, unknown>; options?: { DefElem?: { defname?: string } }[] };
      // EXPLAIN ANALYZE executes the statement; refused even as ANALYZE false, to keep the rule one word long.
      if (options.some((option) => option.DefElem?.defname?.toLowerCase() === 'analyze')) {
        refuse('postgresql', 'EXPLAIN ANALYZE executes its statement');
      }
      const [inner, innerBody] = Object.entries(query ?? {})[0] ?? [];
      if (inner !== 'SelectStmt') {
        refuse('postgresql', `EXPLAIN only of a SELECT in read mode; this explains ${statementName(inner)}`);
      }
      return checkSelect(innerBody);
    }
    default:
      refuse('postgresql', `read mode runs only SELECT, EXPLAIN and SHOW; this is ${statementName(kind)}`);
  }
}

/**
 * Walks the whole tree of a SELECT: its CTEs, set operations, subqueries, expressions and function calls.
 * Returns the names of the functions it calls.
 */
function checkSelect(select: unknown): FunctionCall[] {
  const calls = new Map<string, FunctionCall>();
  walk(select, (key, value) => {
    if (key === 'intoClause') refuse('postgresql', 'SELECT … INTO creates a table');
    if (key === 'lockingClause') refuse('postgresql', 'SELECT … FOR UPDATE/SHARE locks rows');
    // Node types are the PascalCase keys; a statement inside a SELECT can only be a data-modifying CTE.
    if (/^[A-Z]\w*Stmt$/.test(key) && key !== 'SelectStmt') {
      refuse('postgresql', `a WITH query may hold only SELECTs; this one holds ${statementName(key)}`);
    }
    if (key === 'FuncCall') {
      const call = value as { funcname?: { String?: { sval?: string } }[]; args?: unknown[] };
      const name = call.funcname?.at(-1)?.String?.sval ?? '';
      const args = call.args?.length ?? 0;
      const effect = deniedFunction('postgresql', name);
      if (effect !== undefined) refuse('postgresql', `${name}() is refused in read mode: it ${effect}`);
      calls.set(`${name}/${args}`, { name, args });
    }
  });
  return [...calls.values()];
}

/**
 * Calls `visit` with every key and value of every object in the tree. An explicit stack rather than recursion:
 * a long chain of operators (`1+1+…`) is a tree as deep as it is long.
 */
function walk(root: unknown, visit: (key: string, value: unknown) => void): void {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
    } else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        visit(key, value);
        stack.push(value);
      }
    }
  }
}

/** `DeleteStmt` → "a DELETE", `VariableSetStmt` → "a VARIABLE SET". */
function statementName(kind: string | undefined): string {
  if (kind === undefined) return 'nothing';
  return `a ${kind
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase()}`;
}
