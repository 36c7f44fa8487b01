import { createHash } from 'node:crypto';
import type { CallSummary } from '../types.js';
import { readSql, type SqlDialect, type SqlShape } from './sql-params.js';

/**
 * The audit summary of a SQL statement (DESIGN.md section 9: never a literal value): its class and a fingerprint
 * of its shape, read from the tokens of the same reading of the text that read mode's first gate and the
 * parameter binding use (readSql), so a statement is read once however many of them ask.
 */

const CLASSES: Readonly<Record<string, string>> = {
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
const DATA_CHANGES = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE']);

const summaries = new WeakMap<SqlShape, CallSummary>();

/**
 * `statement_class`: `select`, `insert`, `update`, `delete`, `merge`, `ddl`, `dcl`, `transaction`, `utility` or
 * `other`; `statement_fingerprint`: 16 hex digits of SHA-256 over the statement's tokens with every literal as
 * `?` (a run of literals, as in `IN (1, 2, 3)`, counts as one), equal for statements of the same shape.
 */
export function summarizeSql(sql: string, dialect: SqlDialect): CallSummary {
  const shape = readSql(sql, dialect, true);
  let summary = summaries.get(shape);
  if (!summary) {
    const tokens = shape.tokens ?? [];
    summary = { statement_class: statementClass(tokens), statement_fingerprint: fingerprint(tokens) };
    summaries.set(shape, summary);
  }
  return summary;
}

function statementClass(tokens: readonly string[]): string {
  const first = tokens.find((token) => token !== '(');
  if (first === 'WITH') {
    // A data-changing CTE or main statement: the first INSERT/UPDATE/DELETE/MERGE that is not a function call.
    const change = tokens.find((token, index) => DATA_CHANGES.has(token) && tokens[index + 1] !== '(');
    return change ? (CLASSES[change] as string) : 'select';
  }
  return first !== undefined && Object.hasOwn(CLASSES, first) ? (CLASSES[first] as string) : 'other';
}

function fingerprint(tokens: readonly string[]): string {
  const shape = tokens.join(' ').replace(/\?(?: , \?)+/g, '?');
  return createHash('sha256').update(shape).digest('hex').slice(0, 16);
}
