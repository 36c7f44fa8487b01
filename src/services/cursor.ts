import { Op, type Attributes, type Model, type ModelStatic, type WhereOptions } from 'sequelize';
import { PatchbayError } from '../errors.js';
import { hasControlCharacters, MAX_PARAM_LENGTH } from '../schemas/strings.js';

/**
 * Keyset (cursor) pagination over (a time column, id): stable under inserts, O(log n) per page. The cursor is
 * opaque to clients: the base64url JSON of the last row's [time, id], the id always as a string.
 */
const encodeCursor = (at: Date, id: string | number): string =>
  Buffer.from(JSON.stringify([at.toISOString(), String(id)])).toString('base64url');

const invalidCursor = () =>
  new PatchbayError('validation_failed', 'cursor is not valid', {
    errors: [{ path: 'cursor', message: 'not a cursor returned by this endpoint' }],
  });

/** Refuses what we did not encode; for integer ids (health history) any other id must not reach the query either. */
function decodeCursor(cursor: string, idKind: 'string' | 'integer'): { at: Date; id: string | number } {
  let at: Date;
  let id: string;
  try {
    const [rawAt, rawId] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    at = new Date(String(rawAt));
    // The ids this encodes are ours: a NUL or another control character never is, and would reach the database.
    if (typeof rawId !== 'string' || rawId.length > MAX_PARAM_LENGTH || hasControlCharacters(rawId) || Number.isNaN(at.getTime())) {
      throw new Error('shape');
    }
    id = rawId;
  } catch {
    throw invalidCursor();
  }
  if (idKind === 'string') return { at, id };
  const numeric = Number(id);
  if (!/^\d+$/.test(id) || !Number.isSafeInteger(numeric)) throw invalidCursor();
  return { at, id: numeric };
}

/** A row with a time column and an `id`, the key of its keyset. */
type Keyed<TimeColumn extends string> = Model & Record<TimeColumn, Date> & { id: string | number };

export type KeysetPageOptions<M extends Keyed<TimeColumn>, TimeColumn extends string, T> = {
  model: ModelStatic<M>;
  /** The caller's filter; the continuation condition is added beside it. */
  where: WhereOptions<Attributes<M>>;
  /** ASC: oldest first. DESC: newest first. Ties on the time column are broken by id, in the same direction. */
  order: 'ASC' | 'DESC';
  /** @default 'created_at' */
  timeColumn?: TimeColumn;
  limit: number;
  /** The `next_cursor` of the previous page; one this endpoint did not return is a 422 `validation_failed`. */
  cursor?: string;
  map: (row: M) => T;
} & (M['id'] extends number
  ? {
      /** Required for integer ids: a cursor whose id is not an integer is refused before it reaches the query. */
      idKind: 'integer';
    }
  : {
      /** @default 'string' */
      idKind?: 'string';
    });

/** One page of `model` after `cursor`: fetches limit + 1 rows to learn whether another page follows. */
export async function keysetPage<M extends Keyed<TimeColumn>, T, TimeColumn extends string = 'created_at'>(
  options: KeysetPageOptions<M, TimeColumn, T>,
): Promise<{ data: T[]; next_cursor: string | null }> {
  const { model, order, limit, map } = options;
  const timeColumn = options.timeColumn ?? ('created_at' as TimeColumn);
  let where = options.where;
  if (options.cursor) {
    const after = decodeCursor(options.cursor, options.idKind ?? 'string');
    const beyond = order === 'ASC' ? Op.gt : Op.lt;
    const from = order === 'ASC' ? Op.gte : Op.lte;
    // The leading range is implied by the OR, but written out it lets the database seek the (…, time, id)
    // index to the cursor instead of filtering every row before it (PostgreSQL does not split an OR).
    const continuation = {
      [timeColumn]: { [from]: after.at },
      [Op.or]: [{ [timeColumn]: { [beyond]: after.at } }, { [timeColumn]: after.at, id: { [beyond]: after.id } }],
    };
    where = { [Op.and]: [where, continuation] } as WhereOptions<Attributes<M>>;
  }
  const rows = await model.findAll({
    where,
    order: [
      [timeColumn, order],
      ['id', order],
    ],
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    data: page.map((row) => map(row)),
    next_cursor: rows.length > limit && last ? encodeCursor(last[timeColumn], last.id) : null,
  };
}
