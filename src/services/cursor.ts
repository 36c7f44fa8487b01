import { PatchbayError } from '../errors.js';

/** Opaque keyset cursor over (created_at, id): stable under inserts, O(log n) per page. */
export const encodeCursor = (at: Date, id: string): string =>
  Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');

const invalidCursor = () =>
  new PatchbayError('validation_failed', 'cursor is not valid', {
    errors: [{ path: 'cursor', message: 'not a cursor returned by this endpoint' }],
  });

export function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    const date = new Date(String(at));
    if (typeof id !== 'string' || Number.isNaN(date.getTime())) throw new Error('shape');
    return { at: date, id };
  } catch {
    throw invalidCursor();
  }
}

/** For rows keyed by an integer (health history): any other id is not our cursor, and must not reach the query. */
export function decodeIntegerCursor(cursor: string): { at: Date; id: number } {
  const { at, id } = decodeCursor(cursor);
  const numeric = Number(id);
  if (!/^\d+$/.test(id) || !Number.isSafeInteger(numeric)) throw invalidCursor();
  return { at, id: numeric };
}
