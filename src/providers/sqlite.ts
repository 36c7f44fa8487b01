import path from 'node:path';
import { z } from 'zod';
import { isReadStatement, operation, sqlQueryInput } from './_shared/common-fields.js';
import type { Provider } from './types.js';

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

const sqlite: Provider<typeof config> = {
  id: 'sqlite',
  type: 'database',
  description: 'SQLite database files under the PATCHBAY_SQLITE_ROOT folder.',
  config,
  operations: {
    query: operation(
      'Run one SQL statement with `:name` parameters; rows come back keyed by column name.',
      sqlQueryInput,
      (input) => !isReadStatement(input.query, 'sqlite'),
    ),
  },
  defaultOperation: 'query',
  classify: () => undefined,
};

export default sqlite;

/** Absolute on any platform: `/x`, `\x`, `C:x`, `\\server\share`. */
function isAbsolute(value: string): boolean {
  return path.posix.isAbsolute(value) || path.win32.isAbsolute(value) || /^[A-Za-z]:/.test(value);
}
