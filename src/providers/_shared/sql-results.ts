import { z } from 'zod';
import type { OperationResult } from '../types.js';

/**
 * The SQL result of DESIGN.md section 6, shaped the same way by every SQL provider:
 * `{columns: [{name, type}], rows: [{column: value}], row_count}`, a repeated column name made unique with a
 * `_2` suffix, and values as JSON can carry them (64-bit integers and decimals as strings, bytes as base64,
 * dates as ISO 8601 text). Each provider reads at most maxRows+1 rows and hands them here as arrays.
 */

export interface SqlColumn {
  name: string;
  /** The database's own name for the type (`bigint`, `timestamp`, `text`). */
  type: string;
}

export interface SqlResult {
  columns: SqlColumn[];
  rows: Record<string, unknown>[];
  /** Rows returned for a statement that returns rows, rows affected for one that does not (UPDATE). */
  row_count: number;
}

/** SqlResult as the `query` operations declare their output. */
export const sqlResultSchema = z.looseObject({
  columns: z.array(z.looseObject({ name: z.string(), type: z.string() })),
  rows: z.array(z.record(z.string(), z.unknown())),
  row_count: z.int(),
});

/**
 * The operation result of one statement: `rows` holds at most maxRows+1 rows, each an array in column order;
 * the extra row only says that there were more (`truncated`). `affectedRows` counts for a statement without
 * columns. `toJson` makes each value JSON-safe (default `jsonValue`); a driver whose own type parsers already
 * did so passes the identity.
 */
export function sqlResult(
  columns: readonly SqlColumn[],
  rows: readonly (readonly unknown[])[],
  maxRows: number,
  affectedRows = 0,
  toJson: (value: unknown) => unknown = jsonValue,
): OperationResult & { data: SqlResult } {
  const names = uniqueNames(columns.map((column) => column.name));
  const unique = columns.map((column, index) => ({ name: names[index] as string, type: column.type }));
  const kept = rows.slice(0, maxRows);
  return {
    data: {
      columns: unique,
      rows: kept.map((row) => Object.fromEntries(unique.map((column, index) => [column.name, toJson(row[index])]))),
      row_count: unique.length > 0 ? kept.length : affectedRows,
    },
    truncated: rows.length > maxRows,
  };
}

/** `id, id` → `id, id_2`: a row object cannot hold two keys of one name. */
export function uniqueNames(names: readonly string[]): string[] {
  const taken = new Set(names);
  const seen = new Set<string>();
  return names.map((name) => {
    if (!seen.has(name)) {
      seen.add(name);
      return name;
    }
    let suffix = 2;
    while (taken.has(`${name}_${suffix}`) || seen.has(`${name}_${suffix}`)) suffix += 1;
    const unique = `${name}_${suffix}`;
    seen.add(unique);
    return unique;
  });
}

/**
 * A driver's value as JSON carries it: bytes as base64, bigint as a string, as is an integer beyond 2^53 (a
 * JSON number would not keep it), a Date as ISO 8601 text. Arrays and objects are parsed JSON documents and
 * pass as they are.
 */
export function jsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number')
    return Number.isInteger(value) && !Number.isSafeInteger(value) ? BigInt(value).toString() : value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  return value;
}
