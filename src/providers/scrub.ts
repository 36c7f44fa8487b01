import type { Bindings, Logger } from 'pino';

/** What a secret value becomes in every outward string, the same mask the API shows for a secret field. */
export const MASK = '********';

// Shorter values would garble every text they touch (DESIGN.md section 8); the API allows but never scrubs them.
const MIN_SECRET_LENGTH = 3;

export type Scrub = (text: string) => string;

/**
 * Replaces every secret value in a text with MASK: as written, URL-encoded, JSON-escaped, and for a
 * URL-shaped secret (a connection string) also the password inside it, which a driver may quote alone.
 */
export function scrubber(secretValues: Iterable<string>): Scrub {
  const forms = new Set<string>();
  for (const value of secretValues) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    for (const form of [value, ...urlPasswords(value)]) {
      forms.add(form);
      forms.add(encodeURIComponent(form));
      forms.add(JSON.stringify(form).slice(1, -1));
    }
  }
  // Longest first, so a value that contains another is masked whole.
  const ordered = [...forms].filter((form) => form.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
  if (ordered.length === 0) return (text) => text;
  return (text) => ordered.reduce((result, form) => (result.includes(form) ? result.split(form).join(MASK) : result), text);
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

function urlPasswords(value: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return [];
  try {
    const { password } = new URL(value);
    return password ? [password, decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}
