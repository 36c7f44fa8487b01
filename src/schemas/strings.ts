import { z } from 'zod';

/**
 * Characters no id, name, email, slug or alias may hold: the C0 controls (NUL included: SQLite cuts a statement
 * there and PostgreSQL refuses it in text), DEL, the C1 controls, and a UTF-16 surrogate without its partner (no
 * database stores one faithfully). With the `u` flag a well-formed pair is one code point and never matches.
 * A character class: linear, no backtracking, whatever the input.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/u;

/** The same, less tab, line feed and carriage return: free text (descriptions) may have lines. */
// eslint-disable-next-line no-control-regex -- as above
const CONTROL_IN_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ud800-\udfff]/u;

export const CONTROL_MESSAGE = 'must not contain control characters';

export const hasControlCharacters = (value: string): boolean => CONTROL.test(value);

/** A string that names or identifies something (id, name, email, slug, alias, path or query value). */
export const plainString = () => z.string().refine((value) => !CONTROL.test(value), CONTROL_MESSAGE);

/** A display name: trimmed, 1..max characters, no control characters. */
export const nameString = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((value) => !CONTROL.test(value), CONTROL_MESSAGE);

/** Free text such as a description: lines allowed, other control characters not. */
export const textString = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => !CONTROL_IN_TEXT.test(value), CONTROL_MESSAGE);

/**
 * The longest path parameter the router accepts (Fastify's `maxParamLength`): every id is far shorter (a UUID
 * is 36, an agent id at most 64). A longer one is 400 `bad_request`.
 */
export const MAX_PARAM_LENGTH = 128;

/** What a JSON column cannot store on PostgreSQL: jsonb refuses `\u0000` and an escaped lone surrogate. */
// eslint-disable-next-line no-control-regex -- as above
const UNSTORABLE_IN_JSON = /[\u0000\ud800-\udfff]/u;

/** Every string and key of a JSON value, walked with an explicit stack (any depth). */
function* jsonStrings(value: unknown): Generator<string> {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') yield node;
    else if (Array.isArray(node)) stack.push(...node);
    else if (node !== null && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        yield key;
        stack.push(item);
      }
    }
  }
}

export const isStorableJson = (value: unknown): boolean => {
  for (const text of jsonStrings(value)) if (UNSTORABLE_IN_JSON.test(text)) return false;
  return true;
};

/** A free-form JSON object that is stored as JSON (bound parameters, registry configuration). */
export const storableJsonObject = () =>
  z.record(z.string(), z.unknown()).refine(isStorableJson, 'must not contain NUL characters or unpaired surrogates');

/**
 * A copy of a JSON value whose strings and keys a JSON column can store: NUL and lone surrogates become U+FFFD.
 * For values Patchbay builds itself (audit details), which are shallow.
 */
export function storableJson<T>(value: T): T {
  if (isStorableJson(value)) return value;
  // eslint-disable-next-line no-control-regex -- as above
  const clean = (text: string) => text.replace(/[\u0000\ud800-\udfff]/gu, '\ufffd');
  return JSON.parse(
    JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item === 'string') return clean(item);
      if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
        return Object.fromEntries(Object.entries(item).map(([key, child]) => [clean(key), child]));
      }
      return item;
    }),
  ) as T;
}
