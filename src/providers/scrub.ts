import type { Bindings, Logger } from 'pino';
import { MASK } from '../schemas/vocabulary.js';

/** What a secret value becomes in every outward string: the mask the API shows for a secret field. */
export { MASK };

// Shorter values would garble every text they touch (DESIGN.md section 8); the API allows but never scrubs them.
const MIN_SECRET_LENGTH = 3;

export type Scrub = (text: string) => string;

/**
 * Replaces every secret value in a text with MASK, in every form it may take there (`encodedForms`). Give it
 * the parts of composite secrets too (`secretParts`): a driver may quote a password without its URL.
 */
export function scrubber(secretValues: Iterable<string>): Scrub {
  const forms = new Set<string>();
  for (const value of secretValues) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    for (const form of encodedForms(value)) forms.add(form);
  }
  // Longest first, so a value that contains another is masked whole.
  const ordered = [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (text) => text;
  return (text) => ordered.reduce((result, form) => (result.includes(form) ? result.split(form).join(MASK) : result), text);
}

/**
 * A secret as written, and as each encoder that may carry it into a message writes it: percent-encoded
 * (encodeURIComponent, in upper- and lower-case hex; encodeURI, which keeps `;/?:@&=+$,#`; a URL's user
 * info as WHATWG URL writes it, which keeps `+` and `'`; a form, with `+` for a space) and JSON-escaped (`\"`,
 * `\\`, control characters; also with `\/`, `\uXXXX` for every non-ASCII character, or both, as some
 * encoders write them).
 */
export function encodedForms(value: string): string[] {
  const forms = new Set([value]);
  const percent = encodeURIComponent(value);
  forms.add(percent);
  forms.add(percent.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
  forms.add(encodeURI(value));
  forms.add(new URLSearchParams({ v: value }).toString().slice(2));
  const userInfo = new URL('http://host');
  userInfo.password = value;
  forms.add(userInfo.password);
  const json = JSON.stringify(value).slice(1, -1);
  for (const slashes of [json, json.replace(/\//g, '\\/')]) {
    forms.add(slashes);
    forms.add(slashes.replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`));
  }
  return [...forms];
}

/**
 * How a composite secret field holds its secret parts, declared next to the field (`secret(field, kind)`):
 * - `url`: a connection URI (`postgres://`, `mongodb://u:p@h1,h2/`, `rediss://:p@`, `amqps://`): the password
 *   of its user info, as written and decoded, and password-like query parameters (`?password=`);
 * - `query`: a query string (an Azure SAS token): the values of its password-like parameters (`sig`);
 * - `azure_connection_string`: `AccountKey=…;SharedAccessSignature=…`: those values;
 * - `service_account_json`: a Google key file: `private_key` (and each line of its PEM body),
 *   `client_secret`, `refresh_token`;
 * - `pem`: a PEM private key: each line of its body, which a parser error may quote alone.
 */
export type SecretKind = 'url' | 'query' | 'azure_connection_string' | 'service_account_json' | 'pem';

/** The secret parts inside `value` that may appear in a text without the rest of it. */
export function secretParts(kind: SecretKind, value: string): string[] {
  switch (kind) {
    case 'url':
      return [...userInfoPasswords(value), ...queryParts(value.slice(value.indexOf('?') + 1 || value.length))];
    case 'query':
      return queryParts(value.replace(/^\?/, ''));
    case 'azure_connection_string':
      return azureParts(value);
    case 'service_account_json':
      return keyFileParts(value);
    case 'pem':
      return pemLines(value);
  }
}

// Query parameters that carry a secret: libpq's password and sslpassword, tokens, keys, Azure SAS signatures.
const SECRET_PARAMETER = /^(?:password|passwd|pass|pwd|sslpassword|secret|client_secret|token|access_token|auth_token|api_?key|sig|signature)$/i;

/** The password of a URI's user info; the authority may list several hosts, which URL cannot parse. */
function userInfoPasswords(value: string): string[] {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(value)?.[1] ?? '';
  const at = authority.lastIndexOf('@');
  if (at < 0) return [];
  const userInfo = authority.slice(0, at);
  const colon = userInfo.indexOf(':');
  if (colon < 0) return [];
  const password = userInfo.slice(colon + 1);
  return [password, decoded(password)];
}

function queryParts(query: string): string[] {
  const parts: string[] = [];
  for (const pair of query.split(/[&;]/)) {
    const equals = pair.indexOf('=');
    if (equals < 0 || !SECRET_PARAMETER.test(decoded(pair.slice(0, equals)))) continue;
    const raw = pair.slice(equals + 1);
    parts.push(raw, decoded(raw.replace(/\+/g, ' ')), decoded(raw));
  }
  return parts;
}

function azureParts(value: string): string[] {
  const parts: string[] = [];
  for (const pair of value.split(';')) {
    const equals = pair.indexOf('=');
    const key = pair.slice(0, equals).trim().toLowerCase();
    const part = pair.slice(equals + 1).trim();
    if (equals < 0 || part === '') continue;
    if (key === 'accountkey' || key === 'sharedaccesskey') parts.push(part);
    if (key === 'sharedaccesssignature') parts.push(part, ...queryParts(part.replace(/^\?/, '')));
  }
  return parts;
}

function keyFileParts(value: string): string[] {
  let key: unknown;
  try {
    key = JSON.parse(value);
  } catch {
    return [];
  }
  if (key === null || typeof key !== 'object') return [];
  const parts: string[] = [];
  for (const name of ['private_key', 'client_secret', 'refresh_token']) {
    const part = (key as Record<string, unknown>)[name];
    if (typeof part === 'string') parts.push(part, ...pemLines(part));
  }
  return parts;
}

/** The body lines of every PEM block (base64, 64 characters each), and the body as one line. */
function pemLines(value: string): string[] {
  const lines: string[] = [];
  for (const block of value.matchAll(/-----BEGIN [^-]+-----([\s\S]*?)-----END [^-]+-----/g)) {
    const body = (block[1] ?? '').split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.includes(':'));
    lines.push(...body, body.join(''));
  }
  return lines;
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * A JSON value with every string (keys included) scrubbed; for bodies an api provider returns. An Error
 * becomes a plain `{name, message, code, stack}` so that its message and stack are scrubbed too (log lines).
 */
export function scrubDeep(value: unknown, scrub: Scrub): unknown {
  // An explicit stack, not recursion: an api provider's answer may nest deeper than the call stack allows.
  const copy = (item: unknown): unknown => {
    if (typeof item === 'string') return scrub(item);
    if (item instanceof Error) {
      const { code } = item as { code?: unknown };
      return { name: item.name, message: scrub(item.message), code, stack: item.stack && scrub(item.stack) };
    }
    if (Array.isArray(item)) {
      const target: unknown[] = new Array<unknown>(item.length);
      pending.push([item, target]);
      return target;
    }
    if (item !== null && typeof item === 'object' && Object.getPrototypeOf(item) === Object.prototype) {
      const target: Record<string, unknown> = {};
      pending.push([item as Record<string, unknown>, target]);
      return target;
    }
    return item;
  };
  const pending: [unknown[] | Record<string, unknown>, unknown[] | Record<string, unknown>][] = [];
  const result = copy(value);
  while (pending.length > 0) {
    const [source, target] = pending.pop() as [unknown[] | Record<string, unknown>, unknown[] | Record<string, unknown>];
    if (Array.isArray(source)) {
      source.forEach((item, index) => ((target as unknown[])[index] = copy(item)));
    } else {
      // defineProperty, as Object.fromEntries does: a "__proto__" key stays a key, never a prototype.
      for (const [key, item] of Object.entries(source)) {
        Object.defineProperty(target, scrub(key), { value: copy(item), enumerable: true, writable: true, configurable: true });
      }
    }
  }
  return result;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/**
 * A child logger whose lines are scrubbed: the message, the merged object and any error in it. pino has no
 * per-child hook for this, so the level methods are wrapped (changing the child's level later unwraps them).
 */
export function scrubbedLogger(log: Logger, scrub: Scrub, bindings: Bindings): Logger {
  const child = log.child(bindings);
  for (const level of LEVELS) {
    const write = child[level].bind(child) as (...args: unknown[]) => void;
    child[level] = ((...args: unknown[]) => {
      if (!child.isLevelEnabled(level)) return;
      const [first, ...rest] = args;
      // pino reads a lone Error's message as the line's message; keep that, scrubbed.
      const merged = first instanceof Error ? { err: first } : first;
      const message = first instanceof Error && rest.length === 0 ? [first.message] : rest;
      write(scrubDeep(merged, scrub), ...message.map((arg) => (typeof arg === 'string' ? scrub(arg) : arg)));
    }) as Logger[typeof level];
  }
  return child;
}
