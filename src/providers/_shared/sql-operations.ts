import { z } from 'zod';
import type { Operation, Session } from '../types.js';
import { operation, sqlQueryInput } from './common-fields.js';
import type { SqlDialect } from './sql-params.js';
import { sqlResultSchema } from './sql-results.js';
import { summarizeSql } from './sql-summary.js';

/**
 * The operations of the SQL providers (postgresql, mysql, sqlite), declared once:
 * - `query`, whose first read gate (`writes`) each provider gives, and whose audit summary comes from the same
 *   reading of the text;
 * - `describe`: the tables and columns of the schema an attachment reaches, a fixed catalogue query of each
 *   provider (`withDescribe`) run as its `query` in read mode, whatever the attachment's mode, so it passes the
 *   same limits, checks and audit as any query.
 */
export function sqlOperations(dialect: SqlDialect, writes: (query: string) => boolean): { query: Operation; describe: Operation } {
  return {
    query: operation(
      'Run one SQL statement with `:name` parameters; rows come back keyed by column name.',
      sqlQueryInput,
      (input) => writes(input.query),
      {
        // The input as sent: trimmed as the schema trims it, so that it is the text the first gate read.
        summarize: (input) => (typeof input.query === 'string' ? summarizeSql(input.query.trim(), dialect) : {}),
        output: sqlResultSchema,
        seeAlso: { operation: 'describe', shows: 'the tables and columns' },
      },
    ),
    describe: operation(
      'List the tables and columns (name, type, nullable) this attachment can query.',
      z.strictObject({}),
      'never',
      { mode: 'read', summarize: () => ({ statement_class: 'describe' }), output: describedSchema },
    ),
  };
}

const describedSchema = z.looseObject({
  tables: z.array(
    z.looseObject({ name: z.string(), columns: z.array(z.looseObject({ name: z.string(), type: z.string(), nullable: z.boolean() })) }),
  ),
});

type DescribedSchema = z.output<typeof describedSchema>;

/**
 * A SQL session that also answers `describe`: `catalogueQuery`, which returns table_name, column_name,
 * data_type and nullable ordered by table and column position, run as the session's own `query` in read mode,
 * its rows grouped by table. Every other operation goes to the session as it is.
 */
export function withDescribe(session: Session, catalogueQuery: string): Session {
  return {
    ping: (signal) => session.ping(signal),
    close: () => session.close(),
    async execute(name, input, call) {
      if (name !== 'describe') return session.execute(name, input, call);
      const result = await session.execute('query', { query: catalogueQuery }, { ...call, mode: 'read' });
      return { ...result, data: groupByTable(result.data) };
    },
  };
}

function groupByTable(data: unknown): DescribedSchema {
  const rows = (data as { rows?: Record<string, unknown>[] }).rows ?? [];
  const tables = new Map<string, DescribedSchema['tables'][number]>();
  for (const row of rows) {
    const name = String(row.table_name);
    let table = tables.get(name);
    if (!table) {
      table = { name, columns: [] };
      tables.set(name, table);
    }
    // MySQL and SQLite answer the comparison as 1 or 0.
    table.columns.push({ name: String(row.column_name), type: String(row.data_type ?? ''), nullable: row.nullable === true || row.nullable === 1 });
  }
  return { tables: [...tables.values()] };
}
