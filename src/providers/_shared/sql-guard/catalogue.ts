import type { SqlDialect } from '../sql-params.js';
import { refuse } from './refusal.js';

/**
 * Read mode's function policy from the server's own catalogue: default-deny, for what the name denylist
 * (functions.ts) cannot know (user-defined functions, extensions installed later, a volatile function nobody
 * listed). The guard (index.ts) finds the calls in the statement; each session asks its server about them.
 */

/** A function a statement calls: its name as the server stores it and, where the guard knows it, its argument count. */
export interface FunctionCall {
  name: string;
  args?: number;
}

/** Refuses (read_only) the call the server's catalogue names as denied; `reason` completes "… it …". */
export function refuseCatalogued(dialect: SqlDialect, denied: { name: string; reason: string } | undefined): void {
  if (denied !== undefined) refuse(dialect, `${denied.name}() is refused in read mode: it ${denied.reason}`);
}

/**
 * PostgreSQL: volatile functions that only read a clock, a random source or the size of the database's own
 * files. Harmless: they change nothing and hold nothing past the call. Allowed only where the system catalogue
 * or an extension defines them, never a user's function of the same name.
 */
export const PG_VOLATILE_ALLOWED = [
  ...['random', 'random_normal', 'clock_timestamp', 'timeofday', 'gen_random_uuid', 'uuid_generate_v4'],
  ...['pg_relation_size', 'pg_total_relation_size', 'pg_table_size', 'pg_indexes_size', 'pg_database_size'],
] as const;

/** PostgreSQL functions that run SQL they are given as text (or a cursor), whatever pg_proc says of them. */
const PG_SQL_TEXT = ['ts_rewrite', 'ts_stat', 'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema'];

const literalArray = (names: readonly string[]) => `ARRAY[${names.map((name) => `'${name}'`).join(', ')}]::text[]`;

/**
 * The select-list item that finds the first denied call among `calls`, a parameter holding the calls as a JSON
 * array of `{name, args}` (`args` null where unknown): `name` and `reason` as JSON, or NULL. Overloads are resolved by name and argument count (counting
 * defaults and VARIADIC): a call is refused when any overload it could reach is denied, in any schema. Denied:
 * - a function that runs SQL given as text (the text forms of ts_rewrite and ts_stat, the query_to_xml family);
 * - a volatile function (`provolatile = 'v'`: it may change something, or hold something past the call),
 *   except PG_VOLATILE_ALLOWED;
 * - a function outside the system catalogue that no extension installed and that is written in SQL or a
 *   procedural language: its body may call anything, whatever volatility it claims.
 */
export function postgresDeniedCall(calls: string): string {
  return `(SELECT json_build_object('name', c.name, 'reason', r.reason)
      FROM json_to_recordset(${calls}::json) AS c(name text, args int)
      JOIN pg_catalog.pg_proc p ON p.proname = c.name
      JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      JOIN pg_catalog.pg_language l ON l.oid = p.prolang
      CROSS JOIN LATERAL (SELECT n.nspname IN ('pg_catalog', 'information_schema') OR EXISTS (
        SELECT 1 FROM pg_catalog.pg_depend d
        WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') AS trusted) t
      CROSS JOIN LATERAL (SELECT CASE
        WHEN p.proname = ANY(${literalArray(PG_SQL_TEXT)}) AND 'pg_catalog.text'::regtype::oid = ANY(p.proargtypes::oid[])
          THEN 'runs SQL given as text, which read mode cannot check'
        WHEN p.provolatile = 'v' AND NOT (t.trusted AND p.proname = ANY(${literalArray(PG_VOLATILE_ALLOWED)}))
          THEN 'is volatile (pg_proc): it may change something, or hold something past the call'
        WHEN NOT t.trusted AND l.lanname NOT IN ('internal', 'c')
          THEN 'is a ' || l.lanname || ' function outside the system catalogue, whose body read mode cannot check'
        END AS reason) r
      WHERE r.reason IS NOT NULL
        AND (c.args IS NULL OR c.args BETWEEN p.pronargs - p.pronargdefaults AND p.pronargs
             OR (p.provariadic <> 0 AND c.args >= p.pronargs - 1))
      LIMIT 1)`;
}
