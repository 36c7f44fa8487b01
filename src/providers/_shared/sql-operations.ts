import { operation, sqlQueryInput } from './common-fields.js';
import type { SqlDialect } from './sql-params.js';
import { summarizeSql } from './sql-summary.js';
import type { Operation } from '../types.js';

/**
 * The operations of the SQL providers (postgresql, mysql, sqlite), declared once: `query`, whose first read
 * gate (`writes`) each provider gives, and whose audit summary comes from the same reading of the text.
 */
export function sqlOperations(dialect: SqlDialect, writes: (query: string) => boolean): { query: Operation } {
  return {
    query: operation(
      'Run one SQL statement with `:name` parameters; rows come back keyed by column name.',
      sqlQueryInput,
      (input) => writes(input.query),
      // The input as sent: trimmed as the schema trims it, so that it is the text the first gate read.
      { summarize: (input) => (typeof input.query === 'string' ? summarizeSql(input.query.trim(), dialect) : {}) },
    ),
  };
}
