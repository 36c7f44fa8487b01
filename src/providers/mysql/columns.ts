import type { FieldPacket } from 'mysql2/promise';

/**
 * Column types as MySQL and MariaDB name them, read from the protocol's column definition: the type code, the
 * binary character set (63) that tells VARBINARY from VARCHAR and BLOB from TEXT, the UNSIGNED, ENUM and SET
 * flags, and MariaDB's extended metadata (`uuid`, `inet6`, JSON).
 */

const TYPE_NAMES: Readonly<Record<number, string>> = {
  0x00: 'decimal',
  0x01: 'tinyint',
  0x02: 'smallint',
  0x03: 'int',
  0x04: 'float',
  0x05: 'double',
  0x06: 'null',
  0x07: 'timestamp',
  0x08: 'bigint',
  0x09: 'mediumint',
  0x0a: 'date',
  0x0b: 'time',
  0x0c: 'datetime',
  0x0d: 'year',
  0x0e: 'date',
  0x0f: 'varchar',
  0x10: 'bit',
  0xf2: 'vector',
  0xf5: 'json',
  0xf6: 'decimal',
  0xf7: 'enum',
  0xf8: 'set',
  0xf9: 'tinytext',
  0xfa: 'mediumtext',
  0xfb: 'longtext',
  0xfc: 'text',
  0xfd: 'varchar',
  0xfe: 'char',
  0xff: 'geometry',
};
// The same types holding bytes (character set 63, "binary").
const BINARY_NAMES: Readonly<Record<string, string>> = {
  varchar: 'varbinary',
  char: 'binary',
  tinytext: 'tinyblob',
  text: 'blob',
  mediumtext: 'mediumblob',
  longtext: 'longblob',
};
const NUMERIC = new Set(['decimal', 'tinyint', 'smallint', 'int', 'mediumint', 'bigint', 'float', 'double']);

const BINARY_CHARSET = 63;
const UNSIGNED_FLAG = 32;
const ENUM_FLAG = 256;
const SET_FLAG = 2048;

interface ColumnDefinition {
  columnType?: number;
  type?: number;
  characterSet?: number;
  flags?: number;
  extendedTypeName?: string;
  extendedFormat?: string;
}

export function columnType(field: FieldPacket): string {
  const column = field as unknown as ColumnDefinition;
  if (column.extendedTypeName) return column.extendedTypeName.toLowerCase();
  if (column.extendedFormat === 'json') return 'json';
  const flags = column.flags ?? 0;
  if (flags & ENUM_FLAG) return 'enum';
  if (flags & SET_FLAG) return 'set';
  const name = TYPE_NAMES[column.columnType ?? column.type ?? -1] ?? 'unknown';
  if (NUMERIC.has(name)) return flags & UNSIGNED_FLAG ? `${name} unsigned` : name;
  return column.characterSet === BINARY_CHARSET ? (BINARY_NAMES[name] ?? name) : name;
}

/**
 * A value as the session returns it (dateStrings, bigNumberStrings) made ISO 8601: DATETIME
 * `2024-05-01 10:20:30` becomes `2024-05-01T10:20:30`, TIMESTAMP (the session's time zone is UTC) becomes
 * `2024-05-01T10:20:30Z`; DATE and TIME stay as they are. Bytes are left to sqlResult (base64).
 */
export function columnValue(value: unknown, type: string): unknown {
  if (typeof value !== 'string') return value;
  if (type === 'datetime') return value.replace(' ', 'T');
  if (type === 'timestamp') return `${value.replace(' ', 'T')}Z`;
  return value;
}
