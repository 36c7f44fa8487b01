import { PatchbayError } from '../errors.js';

/**
 * The `describe` operation of the SQL providers: the tables and columns of the schema an attachment reaches
 * (postgresql: the connector's or override's `schema`, else the first on the search path; mysql: the database;
 * sqlite: the file). It is a fixed catalogue query run as the provider's `query` in read mode, so it passes
 * through the same harness, limits and audit as any query, and REST (`{"operation": "describe"}`) and MCP
 * (`{alias}__describe`) answer it alike.
 */

export const DESCRIBE_OPERATION = 'describe';

// Each returns table_name, column_name, data_type, nullable, ordered by table and column position.
const CATALOGUE_QUERIES: Readonly<Record<string, string>> = {
  // information_schema lists only the columns the connector's user may use: the "allowed" schema.
  postgresql: `SELECT table_name, column_name,
       CASE WHEN data_type IN ('USER-DEFINED', 'ARRAY') THEN udt_name ELSE data_type END AS data_type,
       is_nullable = 'YES' AS nullable
  FROM information_schema.columns
 WHERE table_schema = current_schema()
 ORDER BY table_name, ordinal_position`,
  mysql: `SELECT table_name AS table_name, column_name AS column_name, column_type AS data_type,
       is_nullable = 'YES' AS nullable
  FROM information_schema.columns
 WHERE table_schema = DATABASE()
 ORDER BY table_name, ordinal_position`,
  sqlite: `SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, p."notnull" = 0 AS nullable
  FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
 WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'
 ORDER BY m.name, p.cid`,
};

/** Providers whose `query` takes SQL: they get `describe`, and statement fingerprints in the audit log. */
export const isSqlProvider = (providerId: string): boolean => Object.hasOwn(CATALOGUE_QUERIES, providerId);

export interface DescribedSchema {
  tables: { name: string; columns: { name: string; type: string; nullable: boolean }[] }[];
}

/** The `query` input that describes the schema; `describe` takes no input of its own. */
export function describeQuery(providerId: string, input: Record<string, unknown>): { query: string } {
  const extra = Object.keys(input);
  if (extra.length > 0) {
    throw new PatchbayError('validation_failed', 'describe takes no input', {
      errors: extra.map((path) => ({ path, message: 'unknown field' })),
    });
  }
  return { query: CATALOGUE_QUERIES[providerId] as string };
}

/** The catalogue rows (`{table_name, column_name, data_type, nullable}`) grouped by table. */
export function shapeDescribe(data: unknown): DescribedSchema {
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
