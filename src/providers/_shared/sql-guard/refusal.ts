import { PatchbayError } from '../../../errors.js';
import type { SqlDialect } from '../sql-params.js';

/** Read mode refuses the statement (403 read_only); `detail` names what, never the statement's text. */
export function refuse(dialect: SqlDialect, detail: string): never {
  throw new PatchbayError('read_only', `${dialect}: ${detail}`);
}
