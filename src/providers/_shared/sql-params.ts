import { PatchbayError } from '../../errors.js';

/**
 * `:name` placeholders in PostgreSQL SQL, found by a small lexer that knows where a colon is *not* a
 * placeholder: in string literals ('…', E'…' with backslash escapes), quoted identifiers ("…"), comments
 * (-- and nested /* *\/), dollar-quoted bodies ($$…$$, $tag$…$tag$) and `::type` casts. Values are always
 * bound as $1, $2 …; nothing from params is ever spliced into the text.
 */

export interface SqlShape {
  /** Every `:name` outside literals, comments and casts, in order. */
  placeholders: { name: string; start: number; end: number }[];
  /** `$1`-style parameters written by the caller; refused, they would read values they were not given. */
  positional: string[];
  /** The statement's first keyword, upper-case (`SELECT`), or undefined when there is none. */
  firstKeyword: string | undefined;
  /** Statements separated by top-level semicolons; a trailing semicolon does not start a new one. */
  statementCount: number;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
// Placeholder names are the param names the input schema accepts.
const PARAM_START = /[A-Za-z_]/;
const PARAM_PART = /[A-Za-z0-9_]/;

export function analyzeSql(sql: string): SqlShape {
  const shape: SqlShape = { placeholders: [], positional: [], firstKeyword: undefined, statementCount: 0 };
  let inStatement = false; // seen a token since the last semicolon
  let i = 0;
  const token = () => {
    if (!inStatement) shape.statementCount += 1;
    inStatement = true;
  };

  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === '-' && next === '-') {
      i = lineEnd(sql, i);
    } else if (c === '/' && next === '*') {
      i = blockCommentEnd(sql, i);
    } else if (c === "'") {
      token();
      i = quotedEnd(sql, i, "'", isEscapeString(sql, i));
    } else if (c === '"') {
      token();
      i = quotedEnd(sql, i, '"', false);
    } else if (c === '$' && next !== undefined && /\d/.test(next)) {
      token();
      const end = scan(sql, i + 1, /\d/);
      shape.positional.push(sql.slice(i, end));
      i = end;
    } else if (c === '$' && dollarTag(sql, i) !== undefined) {
      token();
      const tag = dollarTag(sql, i) as string;
      const close = sql.indexOf(tag, i + tag.length);
      i = close === -1 ? sql.length : close + tag.length;
    } else if (c === ':' && next === ':') {
      token();
      i += 2; // a cast: the type name that follows is an identifier, never a placeholder
    } else if (c === ':' && next !== undefined && PARAM_START.test(next)) {
      token();
      const end = scan(sql, i + 1, PARAM_PART);
      shape.placeholders.push({ name: sql.slice(i + 1, end), start: i, end });
      i = end;
    } else if (c === ';') {
      inStatement = false;
      i += 1;
    } else if (IDENT_START.test(c)) {
      token();
      const end = scan(sql, i, IDENT_PART);
      if (shape.firstKeyword === undefined && shape.statementCount === 1) {
        shape.firstKeyword = sql.slice(i, end).toUpperCase();
      }
      i = end;
    } else {
      token(); // punctuation, operators, numbers; `(` too, so (SELECT 1) still finds SELECT as its keyword
      i += 1;
    }
  }
  return shape;
}

/**
 * Rewrites `:name` to `$n` (one number per distinct name) and lists the values in that order. `fixed`
 * (an attachment's bound params, set by an admin) wins over `params`. Every placeholder needs a value and
 * every param a placeholder: a miss either way is validation_failed at `params.<name>`.
 */
export function bindNamedParams(
  sql: string,
  params: Readonly<Record<string, unknown>>,
  fixed: Readonly<Record<string, unknown>> = {},
): { text: string; values: unknown[] } {
  const shape = analyzeSql(sql);
  if (shape.positional.length > 0) {
    throw new PatchbayError('validation_failed', 'use :name placeholders, not positional parameters', {
      errors: [{ path: 'query', message: `positional parameter ${shape.positional[0]} is not supported; use :name` }],
    });
  }
  const numbers = new Map<string, number>();
  for (const { name } of shape.placeholders) if (!numbers.has(name)) numbers.set(name, numbers.size + 1);

  const valueOf = (name: string) => (Object.hasOwn(fixed, name) ? fixed[name] : params[name]);
  const missing = [...numbers.keys()].filter((name) => !Object.hasOwn(fixed, name) && !Object.hasOwn(params, name));
  const extra = Object.keys(params).filter((name) => !numbers.has(name));
  if (missing.length > 0 || extra.length > 0) {
    throw new PatchbayError('validation_failed', 'query placeholders and params do not match', {
      errors: [
        ...missing.map((name) => ({ path: `params.${name}`, message: `missing value for :${name}` })),
        ...extra.map((name) => ({ path: `params.${name}`, message: `no :${name} placeholder in the query` })),
      ],
    });
  }

  let text = '';
  let last = 0;
  for (const { name, start, end } of shape.placeholders) {
    text += `${sql.slice(last, start)}$${numbers.get(name)}`;
    last = end;
  }
  text += sql.slice(last);
  // undefined is not a SQL value; a param given as undefined (absent in JSON) binds NULL.
  return { text, values: [...numbers.keys()].map((name) => valueOf(name) ?? null) };
}

const scan = (sql: string, from: number, part: RegExp): number => {
  let i = from;
  while (i < sql.length && part.test(sql[i] as string)) i += 1;
  return i;
};

const lineEnd = (sql: string, from: number): number => {
  const end = sql.indexOf('\n', from);
  return end === -1 ? sql.length : end + 1;
};

// PostgreSQL block comments nest: /* a /* b */ still a comment */.
function blockCommentEnd(sql: string, from: number): number {
  let depth = 0;
  let i = from;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth += 1;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else {
      i += 1;
    }
  }
  return sql.length;
}

// A doubled quote is an escaped quote; in an E'…' string a backslash escapes the next character too.
function quotedEnd(sql: string, from: number, quote: string, backslashEscapes: boolean): number {
  let i = from + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') i += 2;
    else if (c === quote && sql[i + 1] === quote) i += 2;
    else if (c === quote) return i + 1;
    else i += 1;
  }
  return sql.length;
}

// E'…' (or e'…'), where the E is a prefix and not the end of an identifier such as `name'`.
function isEscapeString(sql: string, quote: number): boolean {
  const prefix = sql[quote - 1];
  return (prefix === 'E' || prefix === 'e') && (quote < 2 || !IDENT_PART.test(sql[quote - 2] as string));
}

// $$ or $tag$ where tag is an identifier without $; `a$b` is an identifier, not a tag.
function dollarTag(sql: string, at: number): string | undefined {
  if (at > 0 && IDENT_PART.test(sql[at - 1] as string)) return undefined;
  const match = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(at, at + 64));
  return match?.[0];
}
