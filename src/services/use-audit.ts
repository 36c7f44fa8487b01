import { createHash } from 'node:crypto';
import { isSqlProvider } from './sql-catalogue.js';

/**
 * What the audit log keeps of each execute besides its outcome (DESIGN.md section 9: never a secret or a literal
 * value): the statement's class and a fingerprint of its shape, and the size of the answer.
 */

export interface StatementSummary {
  /** `select`, `insert`, `update`, `delete`, `merge`, `ddl`, `dcl`, `transaction`, `utility` or `other` for SQL; the command or method name elsewhere. */
  statement_class?: string;
  /** 16 hex digits of SHA-256 over the statement with every literal replaced by `?`: equal for the same shape. */
  statement_fingerprint?: string;
}

const CLASSES: Record<string, string> = {
  SELECT: 'select',
  VALUES: 'select',
  TABLE: 'select',
  INSERT: 'insert',
  REPLACE: 'insert',
  UPSERT: 'insert',
  UPDATE: 'update',
  DELETE: 'delete',
  MERGE: 'merge',
  CREATE: 'ddl',
  ALTER: 'ddl',
  DROP: 'ddl',
  TRUNCATE: 'ddl',
  RENAME: 'ddl',
  COMMENT: 'ddl',
  GRANT: 'dcl',
  REVOKE: 'dcl',
  BEGIN: 'transaction',
  START: 'transaction',
  COMMIT: 'transaction',
  ROLLBACK: 'transaction',
  SAVEPOINT: 'transaction',
  RELEASE: 'transaction',
  SHOW: 'utility',
  EXPLAIN: 'utility',
  DESCRIBE: 'utility',
  DESC: 'utility',
  SET: 'utility',
  PRAGMA: 'utility',
  VACUUM: 'utility',
  ANALYZE: 'utility',
  COPY: 'utility',
  CALL: 'utility',
};
const DATA_CHANGES = ['INSERT', 'UPDATE', 'DELETE', 'MERGE'];

/** The class and fingerprint of a SQL statement, the command of a Redis call, the method of an HTTP request. */
export function summarizeStatement(providerId: string, operation: string | undefined, input: Record<string, unknown>): StatementSummary {
  if (isSqlProvider(providerId) && typeof input.query === 'string' && (operation ?? 'query') === 'query') {
    return summarizeSql(input.query, providerId === 'mysql' ? 'mysql' : 'ansi');
  }
  if (providerId === 'redis' && Array.isArray(input.command) && typeof input.command[0] === 'string') {
    return { statement_class: input.command[0].toLowerCase().slice(0, 32) };
  }
  if ((providerId === 'rest' || providerId === 'graphql') && (operation ?? 'request') === 'request') {
    return { statement_class: typeof input.method === 'string' ? input.method.toLowerCase() : providerId === 'rest' ? 'get' : 'post' };
  }
  return {};
}

/** Summaries of the statements seen last, by dialect and text: agents repeat the same few statements. */
const summaries = new Map<string, StatementSummary>();
const SUMMARIES_MAX = 1_000;
/** Longer statements are summarised every time rather than kept (they would crowd out the common short ones). */
const SUMMARY_TEXT_MAX = 4_096;

function summarizeSql(sql: string, dialect: Dialect): StatementSummary {
  if (sql.length > SUMMARY_TEXT_MAX) return summarize(sql, dialect);
  const key = `${dialect}\u0000${sql}`;
  let summary = summaries.get(key);
  if (summary) {
    // Least recently used goes first: re-inserting moves it to the end.
    summaries.delete(key);
  } else {
    summary = summarize(sql, dialect);
    if (summaries.size >= SUMMARIES_MAX) summaries.delete(summaries.keys().next().value as string);
  }
  summaries.set(key, summary);
  return summary;
}

function summarize(sql: string, dialect: Dialect): StatementSummary {
  const tokens = sqlTokens(sql, dialect);
  return { statement_class: statementClass(tokens), statement_fingerprint: fingerprint(tokens) };
}

/** Rows (or messages, documents, objects, elements) in an answer, when it has a count; null when it has none. */
export function countRows(data: unknown): number | null {
  if (Array.isArray(data)) return data.length;
  if (data === null || typeof data !== 'object') return null;
  const record = data as Record<string, unknown>;
  if (typeof record.row_count === 'number') return record.row_count;
  for (const key of ['rows', 'messages', 'documents', 'objects', 'tables']) {
    const value = record[key];
    if (Array.isArray(value)) return value.length;
  }
  return null;
}

/** The size of a value as JSON, in bytes. */
export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? 'null');

// ---------------------------------------------------------------------------------------------------------------
// A small SQL tokenizer: enough to drop literals and comments and to find the statement's keyword. It never needs
// to be a parser: a statement it misreads gets a poorer fingerprint, never a literal in the log.

type Dialect = 'ansi' | 'mysql';

function sqlTokens(sql: string, dialect: Dialect): string[] {
  const tokens: string[] = [];
  let i = 0;
  const skipQuoted = (quote: string, backslash: boolean) => {
    i += 1;
    while (i < sql.length) {
      const c = sql[i];
      if (backslash && c === '\\') i += 2;
      else if (c === quote && sql[i + 1] === quote) i += 2;
      else if (c === quote) return void (i += 1);
      else i += 1;
    }
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const rest = sql.slice(i, i + 2);
    if (/\s/.test(c)) i += 1;
    else if (rest === '--' || (dialect === 'mysql' && c === '#')) i = lineEnd(sql, i);
    else if (rest === '/*') i = commentEnd(sql, i);
    else if (c === "'") {
      // A string, also with an E, N, B or X prefix (read as a word just before: it becomes part of the literal).
      // Backslashes escape in MySQL strings and PostgreSQL's E'…'.
      const prefix = /[A-Za-z]/.test(sql[i - 1] ?? '') ? tokens.at(-1) : undefined;
      const prefixed = prefix === 'E' || prefix === 'N' || prefix === 'B' || prefix === 'X';
      if (prefixed) tokens.pop();
      skipQuoted("'", dialect === 'mysql' || prefix === 'E');
      tokens.push('?');
    } else if (c === '"' && dialect === 'mysql') {
      skipQuoted('"', true);
      tokens.push('?');
    } else if (c === '"' || c === '`') {
      const start = i;
      skipQuoted(c, false);
      tokens.push(sql.slice(start, i));
    } else if (c === '$' && dialect === 'ansi' && /^\$([A-Za-z_]\w*)?\$/.test(sql.slice(i, i + 64))) {
      const tag = (/^\$([A-Za-z_]\w*)?\$/.exec(sql.slice(i, i + 64)) as RegExpExecArray)[0];
      const close = sql.indexOf(tag, i + tag.length);
      i = close === -1 ? sql.length : close + tag.length;
      tokens.push('?');
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      i += (/^(0x[0-9a-f]+|[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?)/i.exec(sql.slice(i))?.[0].length ?? 1);
      tokens.push('?');
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const word = /^[A-Za-z0-9_$\u0080-\uffff]+/.exec(sql.slice(i))?.[0] ?? c;
      i += word.length;
      tokens.push(word.toUpperCase());
    } else if (c === '$' || c === '?') {
      // $1, ?, ?1: a parameter, whose value is never in the text.
      i += 1 + (/^[0-9]*/.exec(sql.slice(i + 1))?.[0].length ?? 0);
      tokens.push('?');
    } else {
      i += 1;
      if (c !== ';') tokens.push(c);
    }
  }
  return tokens;
}

const lineEnd = (sql: string, from: number) => {
  const end = sql.indexOf('\n', from);
  return end === -1 ? sql.length : end + 1;
};

const commentEnd = (sql: string, from: number) => {
  const end = sql.indexOf('*/', from + 2);
  return end === -1 ? sql.length : end + 2;
};

function statementClass(tokens: string[]): string {
  const first = tokens.find((token) => token !== '(');
  if (first === 'WITH') {
    // A data-changing CTE or main statement: the first INSERT/UPDATE/DELETE/MERGE that is not a function call.
    const change = tokens.find((token, index) => DATA_CHANGES.includes(token) && tokens[index + 1] !== '(');
    return change ? (CLASSES[change] as string) : 'select';
  }
  return (first && CLASSES[first]) ?? 'other';
}

/** `IN (1, 2, 3)` and `IN (4)` fingerprint alike: a run of literals is one. */
function fingerprint(tokens: string[]): string {
  const shape = tokens.join(' ').replace(/\?(?: , \?)+/g, '?');
  return createHash('sha256').update(shape).digest('hex').slice(0, 16);
}
