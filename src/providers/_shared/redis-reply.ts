/**
 * Redis replies as a call returns them (redis and redis_pubsub): converted to JSON values, then cut to the
 * call's max_rows and max_bytes.
 */

/**
 * A reply as JSON carries it: strings as UTF-8 text, integers as numbers (as strings beyond 2^53, where a
 * number would lose digits), nil as null, arrays as arrays. Never a Buffer.
 */
export function plainReply(reply: unknown): unknown {
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  if (typeof reply === 'string') return Number.isSafeInteger(Number(reply)) ? Number(reply) : reply;
  if (Array.isArray(reply)) return reply.map(plainReply);
  return reply ?? null;
}

/** The size of `value` as JSON, in bytes. */
export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? 'null');

/**
 * A reply cut to the call's limits: every array keeps at most `maxRows` elements, and the whole stays within
 * `maxBytes` as JSON (arrays keep the elements that fit whole; a reply that is one string is cut to fit).
 * `truncated` says something was left out.
 */
export function capReply(reply: unknown, limits: { maxRows: number; maxBytes: number }): { data: unknown; truncated: boolean } {
  let budget = limits.maxBytes;
  let truncated = false;
  let full = false; // the byte budget ran out: every enclosing array stops too
  const fit = (value: unknown): { value: unknown } | undefined => {
    if (!Array.isArray(value)) {
      const size = jsonBytes(value);
      if (size > budget) return undefined;
      budget -= size;
      return { value };
    }
    if (budget < 2) return undefined;
    budget -= 2; // []
    const kept: unknown[] = [];
    for (const item of value) {
      if (kept.length === limits.maxRows) {
        truncated = true;
        break;
      }
      const comma = kept.length > 0 ? 1 : 0;
      budget -= comma;
      const fitted = budget >= 0 ? fit(item) : undefined;
      if (fitted === undefined) {
        budget += comma;
        truncated = full = true;
        break;
      }
      kept.push(fitted.value);
      if (full) break;
    }
    return { value: kept };
  };
  if (typeof reply === 'string' && jsonBytes(reply) > budget) return { data: cutString(reply, budget), truncated: true };
  const fitted = fit(reply);
  return fitted === undefined ? { data: null, truncated: true } : { data: fitted.value, truncated };
}

/** The longest start of `text` whose JSON form fits in `budget` bytes, never splitting a surrogate pair. */
function cutString(text: string, budget: number): string {
  let low = 0;
  let high = text.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (jsonBytes(text.slice(0, middle)) <= budget) low = middle;
    else high = middle - 1;
  }
  const code = text.charCodeAt(low - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? low - 1 : low);
}
