import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { PatchbayError, type ErrorCode } from '../../errors.js';
import { isReadStatement } from '../_shared/sql-guard/portable.js';
import { sqlOperations, withDescribe } from '../_shared/sql-operations.js';
import { SqliteSession } from './session.js';
import type { Provider } from '../types.js';

const config = z.strictObject({
  path: z
    .string()
    .trim()
    .min(1)
    .refine((value) => !isAbsolute(value), { message: 'must be relative to PATCHBAY_SQLITE_ROOT, not absolute' })
    .refine((value) => !value.split(/[\\/]/).includes('..'), { message: 'must not contain a ".." segment' })
    .refine((value) => !/^file:|[\0?]/i.test(value), { message: 'must be a plain file path, not a URI' })
    .describe('Database file, relative to PATCHBAY_SQLITE_ROOT (e.g. reports/sales.db).'),
  readonly: z
    .boolean()
    .default(false)
    .describe('Open the file read-only even in read_write mode (read mode always opens it read-only).'),
});

// describe: the tables and views of the file.
const CATALOGUE_QUERY = `SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type, p."notnull" = 0 AS nullable
  FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p
 WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'
 ORDER BY m.name, p.cid`;

const sqlite: Provider<typeof config> = {
  id: 'sqlite',
  type: 'database',
  description: 'SQLite database files under the PATCHBAY_SQLITE_ROOT folder.',
  config,
  operations: sqlOperations('sqlite', (query) => !isReadStatement(query, 'sqlite')),
  defaultOperation: 'query',

  async connect(settings, ctx) {
    const file = await resolveInsideRoot(ctx.sqliteRoot, settings.path);
    const { default: sqlite3 } = await import('sqlite3');
    const session = new SqliteSession(sqlite3, file, settings.path, settings.readonly, ctx.poolMax);
    try {
      await session.warm();
    } catch (error) {
      await session.close();
      throw error;
    }
    return withDescribe(session, CATALOGUE_QUERY);
  },

  classify(error) {
    const code = (error as { code?: unknown } | null)?.code;
    return typeof code === 'string' && Object.hasOwn(SQLITE_CODES, code) ? SQLITE_CODES[code] : undefined;
  },
};

export default sqlite;

// https://www.sqlite.org/rescode.html; sqlite3 names the primary code of each error.
const SQLITE_CODES: Readonly<Record<string, ErrorCode>> = {
  SQLITE_ERROR: 'query_failed', // syntax, no such table, too many attached databases
  SQLITE_CONSTRAINT: 'query_failed',
  SQLITE_MISMATCH: 'query_failed',
  SQLITE_RANGE: 'query_failed',
  SQLITE_TOOBIG: 'query_failed',
  SQLITE_READONLY: 'read_only', // the file is open read-only (read mode, or the connector's readonly)
  SQLITE_INTERRUPT: 'timeout',
  SQLITE_BUSY: 'timeout', // another connection held the lock for all of timeout_ms
  SQLITE_LOCKED: 'timeout',
  SQLITE_AUTH: 'permission_denied',
  SQLITE_PERM: 'permission_denied',
  SQLITE_CANTOPEN: 'database_not_found',
  SQLITE_NOTADB: 'database_not_found', // the file exists but is no SQLite database
};

/**
 * The real path of `relative` under the real root. A connector must not open the server's own files: a
 * symbolic link (of the file or of a folder on the way) that leads out of the root answers scope_denied, and
 * a missing file database_not_found (Patchbay never creates one). Messages name only the configured path.
 */
async function resolveInsideRoot(root: string, relative: string): Promise<string> {
  const realRoot = await realpath(root).catch(() => {
    throw new PatchbayError('database_not_found', 'sqlite: the folder PATCHBAY_SQLITE_ROOT does not exist');
  });
  const inside = (real: string) => {
    const rest = path.relative(realRoot, real);
    return rest !== '' && rest !== '..' && !rest.startsWith(`..${path.sep}`) && !path.isAbsolute(rest);
  };
  const outside = () => new PatchbayError('scope_denied', `sqlite: ${relative} leads outside PATCHBAY_SQLITE_ROOT`);
  const wanted = path.resolve(realRoot, relative);
  let real: string;
  try {
    real = await realpath(wanted);
  } catch (error) {
    if (!isMissing(error)) throw error;
    // The folder it would be in may itself lead out of the root: say so rather than whether the file exists.
    const folder = await realpath(path.dirname(wanted)).catch(() => undefined);
    if (folder !== undefined && folder !== realRoot && !inside(folder)) throw outside();
    throw new PatchbayError('database_not_found', `sqlite: ${relative} does not exist under PATCHBAY_SQLITE_ROOT`);
  }
  if (!inside(real)) throw outside();
  if (!(await stat(real)).isFile()) throw new PatchbayError('database_not_found', `sqlite: ${relative} is not a file`);
  return real;
}

const isMissing = (error: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes(String((error as { code?: unknown }).code));

/** Absolute on any platform: `/x`, `\x`, `C:x`, `\\server\share`. */
function isAbsolute(value: string): boolean {
  return path.posix.isAbsolute(value) || path.win32.isAbsolute(value) || /^[A-Za-z]:/.test(value);
}
