import { PatchbayError } from '../../errors.js';

/**
 * `:name` placeholders in SQL, found by a small lexer that knows where a colon is *not* a placeholder: in
 * string literals, quoted identifiers, comments and `::type` casts, as each dialect writes them:
 * - postgresql: '…' and E'…' (backslash escapes), "…" names, -- and nested /* *\/ comments, dollar-quoted
 *   bodies ($$…$$, $tag$…$tag$); values are bound as $1, $2 …
 * - mysql: '…' and "…" strings with backslash escapes, `…` names, # and -- (before a space) comments,
 *   /* *\/ comments except /*! … *\/, MariaDB's /*M! … *\/ and /*+ … *\/, which the server executes; values are
 *   bound as `?`
 * - sqlite: '…' strings, "…", `…` and […] names, -- and /* *\/ comments, and the semicolons inside
 *   CREATE TRIGGER … BEGIN … END; values are bound as `?`
 * Nothing from params is ever spliced into the text.
 */

export type SqlDialect = 'postgresql' | 'mysql' | 'sqlite';

export interface SqlShape {
  /** Every `:name` outside literals, comments and casts, in order. */
  placeholders: { name: string; start: number; end: number }[];
  /**
   * Parameters in the dialect's other styles (`$1`; `?`; `?1`, `@name`, `$name`), written by the caller;
   * refused, they would read values they were not given.
   */
  positional: string[];
  /** The statement's first keyword, upper-case (`SELECT`), or undefined when there is none. */
  firstKeyword: string | undefined;
  /** Bare words (keywords and unquoted names) of the first statement, upper-case, in order. */
  words: string[];
  /** Statements separated by top-level semicolons; a trailing semicolon does not start a new one. */
  statementCount: number;
  /**
   * Forms that this dialect's server reads otherwise than most SQL parsers do, or that set session state
   * (read mode refuses them: src/providers/_shared/sql-guard), outside literals and comments, with their place.
   */
  quirks: SqlQuirk[];
  /** The text ends inside a string, quoted name, comment or dollar-quoted body. */
  unterminated: boolean;
  /**
   * Names called as functions in the first statement (a bare or quoted name right before `(`), as written
   * (unquoted, case kept), and whether a `.` qualified them. Keywords before a parenthesis (`IN (`, `OVER (`)
   * are among them: a reader looks names up, it never trusts that a word is not a function.
   */
  calls: { name: string; qualified: boolean }[];
  /** The deepest nesting of parentheses and brackets (and, in PostgreSQL, of block comments). */
  depth: number;
  /**
   * Only when asked for: the text's tokens, every statement's, as its shape: words upper-case (a `:name`
   * placeholder as `:` and its name), quoted names as written, every literal (string, number, dollar-quoted
   * body) and every other parameter as `?`, operators one character each; comments and semicolons left out. The
   * audit's statement class and fingerprint are read from it (sql-summary.ts).
   */
  tokens?: string[];
}

export interface SqlQuirk {
  /**
   * - `executed_comment`: MySQL's /*! … *\/, /*M! … *\/ (MariaDB) and /*+ … *\/, comments the server runs
   * - `dash_dash`: MySQL's `--` before anything but a space or a control character, two minus signs (`1--1`)
   * - `hash`: SQLite's `#`, which starts a parameter (`#name`), not a comment
   * - `bracket_name`: SQLite's `[name]`, a quoted name
   * - `assignment`: MySQL's `:=`, which sets a user variable
   */
  kind: 'executed_comment' | 'dash_dash' | 'hash' | 'bracket_name' | 'assignment';
  start: number;
  end: number;
}

/**
 * Character classes tested by code unit rather than by regular expression: the lexer tests every character of
 * the text, and this is several times faster. Each matches exactly what its comment's pattern matches.
 */
interface CharClass {
  test(char: string): boolean;
}
const charClass = (accepts: (code: number) => boolean): CharClass => ({
  test: (char) => char.length > 0 && accepts(char.charCodeAt(0)),
});
const isLetter = (code: number) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122);
const isDigit = (code: number) => code >= 48 && code <= 57;
/** /\d/ */
const DIGIT = charClass(isDigit);
/** /\s/ */
const SPACE = charClass(
  (code) =>
    code === 32 ||
    (code >= 9 && code <= 13) ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff,
);
/** /[A-Za-z_\u0080-\uffff]/ */
const IDENT_START = charClass((code) => isLetter(code) || code === 95 || code >= 0x80);
/** /[A-Za-z0-9_$\u0080-\uffff]/ */
const IDENT_PART = charClass((code) => isLetter(code) || isDigit(code) || code === 95 || code === 36 || code >= 0x80);
// Placeholder names are the param names the input schema accepts.
/** /[A-Za-z_]/ */
const PARAM_START = charClass((code) => isLetter(code) || code === 95);
/** /[A-Za-z0-9_]/ */
const PARAM_PART = charClass((code) => isLetter(code) || isDigit(code) || code === 95);

const NO_TOKENS: Pick<string[], 'push' | 'pop' | 'at'> = { push: () => 0, pop: () => undefined, at: () => undefined };

/**
 * One pass, left to right, each character looked at a bounded number of times: the time is linear in the
 * length of the text whatever it holds (unterminated comments and strings, deep nesting), so it may run on any
 * request before any size check.
 */
export function analyzeSql(sql: string, dialect: SqlDialect = 'postgresql', withTokens = false): SqlShape {
  const shape: SqlShape = {
    placeholders: [],
    positional: [],
    firstKeyword: undefined,
    words: [],
    statementCount: 0,
    quirks: [],
    unterminated: false,
    calls: [],
    depth: 0,
  };
  // Kept only when asked for: on a long text most of the time goes into keeping them.
  const tokens: Pick<string[], 'push' | 'pop' | 'at'> = withTokens ? (shape.tokens = []) : NO_TOKENS;
  let inStatement = false; // seen a token since the last semicolon
  let statementWords: string[] = []; // the first words of the current statement, to recognise CREATE TRIGGER
  const trigger = new TriggerBody();
  let depth = 0;
  let afterDot = false; // the last token was `.`
  let qualified = false; // the token being read follows a `.`
  let i = 0;
  const token = (word?: string) => {
    if (!inStatement) shape.statementCount += 1;
    inStatement = true;
    trigger.token(word);
    if (word === undefined) return;
    if (statementWords.length < 3) {
      statementWords.push(word);
      if (dialect === 'sqlite') trigger.start(statementWords);
    }
    if (shape.statementCount === 1) shape.words.push(word);
  };
  // A name (bare or quoted) that ends at `end`: a call when `(` follows, past whitespace only.
  const name = (text: string, end: number) => {
    if (shape.statementCount === 1 && sql[skipSpace(sql, end)] === '(') shape.calls.push({ name: text, qualified });
  };
  const closed = (end: number, closer: string) => {
    if (end > sql.length || !sql.endsWith(closer, end)) shape.unterminated = true;
    return Math.min(end, sql.length);
  };

  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    const dot: boolean = afterDot;
    qualified = dot;
    afterDot = false;
    if (SPACE.test(c)) {
      afterDot = dot;
      i += 1;
    } else if (isLineComment(sql, i, dialect)) {
      afterDot = dot;
      i = lineEnd(sql, i);
    } else if (dialect === 'mysql' && executedCommentOpening(sql, i) > 0) {
      token(); // /*! … *\/, /*M! … *\/ and /*+ … *\/ are executed: their content is code, lexed as such
      const end = scan(sql, i + executedCommentOpening(sql, i), DIGIT);
      shape.quirks.push({ kind: 'executed_comment', start: i, end });
      i = end;
    } else if (c === '/' && next === '*') {
      afterDot = dot;
      if (dialect === 'postgresql') {
        const { end, deepest } = blockCommentEnd(sql, i);
        shape.depth = Math.max(shape.depth, deepest);
        i = closed(end, '*/');
      } else {
        i = closed(flatCommentEnd(sql, i), '*/');
      }
    } else if (c === '*' && next === '/' && dialect === 'mysql') {
      i += 2; // the end of an executed comment
    } else if (c === "'") {
      token();
      // An E, N, B or X just before is the string's prefix (E'…', X'ff'), part of the literal.
      if (withTokens && /^[ENBX]$/.test(tokens.at(-1) ?? '') && IDENT_START.test(sql[i - 1] as string)) tokens.pop();
      tokens.push('?');
      i = closed(quotedEnd(sql, i, "'", dialect === 'mysql' || (dialect === 'postgresql' && isEscapeString(sql, i))), "'");
    } else if (c === '"') {
      token();
      const end = closed(quotedEnd(sql, i, '"', dialect === 'mysql'), '"');
      // A quoted name, except in MySQL, where "…" is a string.
      if (dialect !== 'mysql') name(unquote(sql.slice(i + 1, end - 1), '"'), end);
      if (withTokens) tokens.push(dialect === 'mysql' ? '?' : sql.slice(i, end));
      i = end;
    } else if (c === '`' && dialect !== 'postgresql') {
      token();
      const end = closed(quotedEnd(sql, i, '`', false), '`');
      name(unquote(sql.slice(i + 1, end - 1), '`'), end);
      if (withTokens) tokens.push(sql.slice(i, end));
      i = end;
    } else if (c === '[' && dialect === 'sqlite') {
      token();
      const close = sql.indexOf(']', i + 1);
      const end = close === -1 ? sql.length : close + 1;
      if (close === -1) shape.unterminated = true;
      shape.quirks.push({ kind: 'bracket_name', start: i, end });
      name(sql.slice(i + 1, close === -1 ? end : close), end);
      if (withTokens) tokens.push(sql.slice(i, end));
      i = end;
    } else if (c === '#' && dialect === 'sqlite') {
      token();
      const end = scan(sql, i + 1, PARAM_PART);
      shape.quirks.push({ kind: 'hash', start: i, end });
      tokens.push('?');
      i = end;
    } else if (c === '-' && next === '-' && dialect === 'mysql') {
      token(); // not a comment (isLineComment said so): two minus signs
      shape.quirks.push({ kind: 'dash_dash', start: i, end: i + 2 });
      tokens.push('-', '-');
      i += 2;
    } else if (c === '$' && dialect === 'postgresql' && next !== undefined && DIGIT.test(next)) {
      token();
      const end = scan(sql, i + 1, DIGIT);
      shape.positional.push(sql.slice(i, end));
      tokens.push('?');
      i = end;
    } else if (c === '$' && dialect === 'postgresql' && dollarTag(sql, i) !== undefined) {
      token();
      const tag = dollarTag(sql, i) as string;
      const close = sql.indexOf(tag, i + tag.length);
      if (close === -1) shape.unterminated = true;
      tokens.push('?');
      i = close === -1 ? sql.length : close + tag.length;
    } else if (c === '?' && dialect !== 'postgresql') {
      token(); // in PostgreSQL `?` is an operator (jsonb); elsewhere an anonymous parameter
      const end = dialect === 'sqlite' ? scan(sql, i + 1, DIGIT) : i + 1;
      shape.positional.push(sql.slice(i, end));
      tokens.push('?');
      i = end;
    } else if ((c === '@' || c === '$') && dialect === 'sqlite' && next !== undefined && PARAM_START.test(next)) {
      token();
      const end = scan(sql, i + 1, PARAM_PART);
      shape.positional.push(sql.slice(i, end));
      tokens.push('?');
      i = end;
    } else if (c === ':' && next === ':') {
      token();
      tokens.push(':', ':');
      i += 2; // a cast: the type name that follows is an identifier, never a placeholder
    } else if (c === ':' && next === '=' && dialect === 'mysql') {
      token();
      shape.quirks.push({ kind: 'assignment', start: i, end: i + 2 });
      tokens.push(':', '=');
      i += 2;
    } else if (c === ':' && next !== undefined && PARAM_START.test(next)) {
      token();
      const end = scan(sql, i + 1, PARAM_PART);
      shape.placeholders.push({ name: sql.slice(i + 1, end), start: i, end });
      if (withTokens) tokens.push(':', sql.slice(i + 1, end).toUpperCase());
      i = end;
    } else if (c === ';') {
      if (trigger.endsStatement()) {
        inStatement = false;
        statementWords = [];
      }
      i += 1;
    } else if (IDENT_START.test(c)) {
      const end = scan(sql, i, IDENT_PART);
      const text = sql.slice(i, end);
      const word = text.toUpperCase();
      token(word);
      if (shape.firstKeyword === undefined && shape.statementCount === 1) shape.firstKeyword = word;
      name(text, end);
      tokens.push(word);
      i = end;
    } else if (DIGIT.test(c)) {
      token();
      tokens.push('?');
      i = numberEnd(sql, i);
    } else {
      token(); // punctuation and operators; `(` too, so (SELECT 1) still finds SELECT as its keyword
      tokens.push(c);
      if (c === '(' || c === '[') {
        depth += 1;
        shape.depth = Math.max(shape.depth, depth);
      } else if ((c === ')' || c === ']') && depth > 0) {
        depth -= 1;
      }
      afterDot = c === '.';
      i += 1;
    }
  }
  return shape;
}

/**
 * analyzeSql, remembered for the statements seen last, by dialect and text: agents repeat the same few
 * statements, and one call reads its text several times (the read gate's first test, the binding of its
 * parameters, the audit's summary), so a remembered shape holds its tokens too. The shape is shared: never change
 * it. Bounded by the text it holds (a shape takes some tens of bytes per character of text at worst); the least
 * recently used goes first, and a text longer than READ_CACHE_TEXT_MAX is read every time rather than kept (it
 * would crowd out the common short ones), without its tokens unless `withTokens`.
 */
export function readSql(sql: string, dialect: SqlDialect, withTokens = false): SqlShape {
  if (sql.length > READ_CACHE_TEXT_MAX) return analyzeSql(sql, dialect, withTokens);
  const key = `${dialect}\u0000${sql}`;
  let shape = readShapes.get(key);
  if (shape) {
    // Re-inserting moves it to the end, the most recently used.
    readShapes.delete(key);
  } else {
    shape = analyzeSql(sql, dialect, true);
    readChars += key.length;
    for (const oldest of readShapes.keys()) {
      if (readChars <= READ_CACHE_CHARS) break;
      readShapes.delete(oldest);
      readChars -= oldest.length;
    }
  }
  readShapes.set(key, shape);
  return shape;
}

/** The text readSql keeps, in characters: a few thousand common statements. */
const READ_CACHE_CHARS = 256 * 1024;
const READ_CACHE_TEXT_MAX = 4_096;
const readShapes = new Map<string, SqlShape>();
let readChars = 0;

/**
 * SQLite's CREATE TRIGGER … BEGIN stmt; stmt; END holds semicolons that do not end it. As sqlite3_complete()
 * decides, inside a trigger only a semicolon that follows `; END` ends the statement.
 */
class TriggerBody {
  private state: 'none' | 'body' | 'semicolon' | 'end' = 'none';

  /** Called with the first (up to three) words of a statement: CREATE [TEMP|TEMPORARY] TRIGGER. */
  start(words: string[]): void {
    if (this.state !== 'none' || words[0] !== 'CREATE') return;
    if (words[1] === 'TRIGGER' || (/^TEMP(ORARY)?$/.test(words[1] ?? '') && words[2] === 'TRIGGER')) this.state = 'body';
  }

  token(word: string | undefined): void {
    if (this.state === 'semicolon') this.state = word === 'END' ? 'end' : 'body';
    else if (this.state === 'end') this.state = 'body';
  }

  /** At a semicolon: whether it ends the statement. */
  endsStatement(): boolean {
    if (this.state === 'none') return true;
    if (this.state === 'end') {
      this.state = 'none';
      return true;
    }
    this.state = 'semicolon';
    return false;
  }
}

/**
 * Rewrites `:name` to the dialect's parameters and lists the values in that order: `$n` in PostgreSQL (one
 * number per distinct name), `?` in MySQL and SQLite (one per occurrence, so a repeated name repeats its
 * value). `fixed` (an attachment's bound params, set by an admin) wins over `params`. Every placeholder needs
 * a value and every param a placeholder: a miss either way is validation_failed at `params.<name>`.
 */
export function bindNamedParams(
  sql: string,
  params: Readonly<Record<string, unknown>>,
  fixed: Readonly<Record<string, unknown>> = {},
  dialect: SqlDialect = 'postgresql',
): { text: string; values: unknown[] } {
  const shape = readSql(sql, dialect);
  if (shape.positional.length > 0) {
    throw new PatchbayError('validation_failed', 'use :name placeholders, not positional parameters', {
      errors: [{ path: 'query', message: `parameter ${shape.positional[0]} is not supported; use :name` }],
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

  const numbered = dialect === 'postgresql';
  let text = '';
  let last = 0;
  for (const { name, start, end } of shape.placeholders) {
    text += `${sql.slice(last, start)}${numbered ? `$${numbers.get(name)}` : '?'}`;
    last = end;
  }
  text += sql.slice(last);
  // undefined is not a SQL value; a param given as undefined (absent in JSON) binds NULL.
  const names = numbered ? [...numbers.keys()] : shape.placeholders.map(({ name }) => name);
  return { text, values: names.map((name) => valueOf(name) ?? null) };
}

/** /[0-9A-Fa-f]/ */
const HEX_DIGIT = charClass((code) => isDigit(code) || (code >= 65 && code <= 70) || (code >= 97 && code <= 102));

// 12, 1.5, 1e-3, 0x1F: the whole number is one token (its exponent is no word). `from` is at a digit.
function numberEnd(sql: string, from: number): number {
  if (sql[from] === '0' && (sql[from + 1] === 'x' || sql[from + 1] === 'X') && HEX_DIGIT.test(sql[from + 2] ?? '')) {
    return scan(sql, from + 2, HEX_DIGIT);
  }
  let i = scan(sql, from, DIGIT);
  if (sql[i] === '.') i = scan(sql, i + 1, DIGIT);
  if (sql[i] === 'e' || sql[i] === 'E') {
    const sign = sql[i + 1] === '+' || sql[i + 1] === '-' ? 1 : 0;
    if (DIGIT.test(sql[i + 1 + sign] ?? '')) i = scan(sql, i + 1 + sign, DIGIT);
  }
  return i;
}

const scan = (sql: string, from: number, part: CharClass): number => {
  let i = from;
  while (i < sql.length && part.test(sql[i] as string)) i += 1;
  return i;
};

const lineEnd = (sql: string, from: number): number => {
  const end = sql.indexOf('\n', from);
  return end === -1 ? sql.length : end + 1;
};

// `--` starts a comment everywhere, but in MySQL only before whitespace or a control character (`1--1` is
// arithmetic); MySQL also has # comments.
function isLineComment(sql: string, at: number, dialect: SqlDialect): boolean {
  if (dialect === 'mysql' && sql[at] === '#') return true;
  if (!sql.startsWith('--', at)) return false;
  return dialect !== 'mysql' || at + 2 >= sql.length || /[\s\p{Cc}]/u.test(sql[at + 2] as string);
}

// The length of what opens a comment MySQL or MariaDB executes (/*!, /*M!, /*+), or 0.
function executedCommentOpening(sql: string, at: number): number {
  if (!sql.startsWith('/*', at)) return 0;
  if (sql[at + 2] === '!' || sql[at + 2] === '+') return 3;
  return sql.startsWith('M!', at + 2) ? 4 : 0;
}

// MySQL and SQLite block comments do not nest; unterminated, the end is past the text.
function flatCommentEnd(sql: string, from: number): number {
  const close = sql.indexOf('*/', from + 2);
  return close === -1 ? sql.length + 1 : close + 2;
}

// PostgreSQL block comments nest: /* a /* b */ still a comment */. Unterminated, the end is past the text.
function blockCommentEnd(sql: string, from: number): { end: number; deepest: number } {
  let depth = 0;
  let deepest = 0;
  let i = from;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth += 1;
      deepest = Math.max(deepest, depth);
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth -= 1;
      i += 2;
      if (depth === 0) return { end: i, deepest };
    } else {
      i += 1;
    }
  }
  return { end: sql.length + 1, deepest };
}

const skipSpace = (sql: string, from: number): number => {
  let i = from;
  while (i < sql.length && SPACE.test(sql[i] as string)) i += 1;
  return i;
};

/** A quoted name's text: the doubled quote is one quote. */
const unquote = (text: string, quote: string): string => text.replaceAll(quote + quote, quote);

// A doubled quote is an escaped quote; in an E'…' string (and any MySQL string) a backslash escapes the next
// character too.
function quotedEnd(sql: string, from: number, quote: string, backslashEscapes: boolean): number {
  let i = from + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (backslashEscapes && c === '\\') i += 2;
    else if (c === quote && sql[i + 1] === quote) i += 2;
    else if (c === quote) return i + 1;
    else i += 1;
  }
  return sql.length + 1; // unterminated
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
