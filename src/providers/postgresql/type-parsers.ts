import type pgModule from 'pg';
import type { CustomTypesConfig } from 'pg';

/**
 * Result values as JSON can carry them (DESIGN.md section 6): int8 and numeric stay strings (pg's default),
 * bytea becomes base64, dates and times ISO 8601 text. Per pool, so pg's global parsers stay untouched.
 */
export function typeParsers(pg: typeof pgModule): CustomTypesConfig {
  const types = new pg.TypeOverrides();
  const builtin = pg.types.getTypeParser as (oid: number, format: 'text') => (value: string) => unknown;
  const parseBytea = builtin(17, 'text') as (value: string) => Buffer;
  const parseTextArray = builtin(1009, 'text'); // text[]: elements as strings, NULL as null
  const asText = (value: string) => value;
  // Output follows DateStyle ISO and TimeZone UTC, which every call sets (callSettings in session.ts).
  const scalars: Record<number, (value: string) => unknown> = {
    17: (value) => parseBytea(value).toString('base64'),
    1082: asText, // date: 2024-05-01
    1083: asText, // time
    1266: asText, // timetz
    1186: asText, // interval, IntervalStyle iso_8601: P1DT2H
    1114: (value) => value.replace(' ', 'T'), // timestamp: 2024-05-01T10:00:00.123456
    1184: (value) => value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00').replace(/\+00:00$/, 'Z'), // timestamptz
  };
  const arrays: Record<number, number> = { 1001: 17, 1182: 1082, 1183: 1083, 1270: 1266, 1187: 1186, 1115: 1114, 1185: 1184 };
  for (const [oid, parse] of Object.entries(scalars)) types.setTypeParser(Number(oid), 'text', parse);
  for (const [oid, element] of Object.entries(arrays)) {
    const parse = scalars[element] as (value: string) => unknown;
    types.setTypeParser(Number(oid), 'text', (value: string) => mapArray(parseTextArray(value), parse));
  }
  return types;
}

function mapArray(value: unknown, parse: (value: string) => unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => mapArray(item, parse));
  return typeof value === 'string' ? parse(value) : value;
}
