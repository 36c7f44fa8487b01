import type sqlite3Module from 'sqlite3';
import type { Database, Statement } from 'sqlite3';
import type { z } from 'zod';
import { PatchbayError } from '../../errors.js';
import type { sqlQueryInput } from '../_shared/common-fields.js';
import { refuseCatalogued, type FunctionCall } from '../_shared/sql-guard/catalogue.js';
import { assertReadOnlySql } from '../_shared/sql-guard/index.js';
import { analyzeSql, bindNamedParams, type SqlShape } from '../_shared/sql-params.js';
import { sqlResult, type SqlColumn } from '../_shared/sql-results.js';
import type { CallContext, OperationResult, Session } from '../types.js';
import { HandlePool } from './handles.js';

type Sqlite3 = typeof sqlite3Module;
type QueryInput = z.output<typeof sqlQueryInput>;
type Row = Record<string, unknown>;

// SQLITE_OPEN_NOFOLLOW (3.31+): the file itself may not be a symbolic link. The path handed here is already
// the resolved one inside PATCHBAY_SQLITE_ROOT; this refuses a link swapped in after that check.
const OPEN_NOFOLLOW = 0x01000000;
// sqlite3_interrupt() only reaches a statement that is running: repeated until the call settles, it also
// catches one that had not started stepping when timeout_ms passed.
const INTERRUPT_REPEAT_MS = 50;
// Functions the full-text extensions compiled into the library add that only read the match at hand: allowed in
// read mode, where every other function that is not built in is refused.
const EXTENSION_READERS = new Set(['match', 'snippet', 'highlight', 'bm25', 'offsets', 'matchinfo']);
// Statements that change rows; for them, without RETURNING rows, row_count is changes().
const CHANGES_ROWS = new Set(['INSERT', 'UPDATE', 'DELETE', 'REPLACE']);

export class SqliteSession implements Session {
  private readonly readOnly: HandlePool;
  private readonly readWrite: HandlePool;
  private closing?: Promise<void>;
  /**
   * Functions of the library that are not built into SQLite (`pragma_function_list.builtin = 0`): those of the
   * extensions compiled in or loaded. Read once: SQL cannot add a function (load_extension is refused, and off
   * in the driver), so the list of a handle never changes.
   */
  private extensionFunctions?: Promise<Set<string>>;

  constructor(
    private readonly sqlite3: Sqlite3,
    /** The real path, inside the root. */
    private readonly file: string,
    /** The path as configured (relative to the root): the only one that appears in messages. */
    private readonly label: string,
    /** The connector's `readonly`: every call opens the file read-only. */
    private readonly alwaysReadOnly: boolean,
    poolMax: number,
  ) {
    this.readOnly = new HandlePool(() => this.open(true), poolMax);
    this.readWrite = new HandlePool(() => this.open(false), poolMax);
  }

  /** Opens a read-only handle now, so that a file SQLite cannot open fails at connect. */
  async warm(): Promise<void> {
    this.readOnly.release(await this.readOnly.acquire());
  }

  /** The first of `calls` that an extension added (not built in, not a full-text reader), or undefined. */
  private async extensionCall(db: Database, calls: readonly FunctionCall[]): Promise<{ name: string; reason: string } | undefined> {
    if (calls.length === 0) return undefined;
    this.extensionFunctions ??= allRows(db, 'SELECT DISTINCT lower(name) AS name FROM pragma_function_list WHERE builtin = 0').then(
      (rows) => new Set(rows.map((row) => String(row.name))),
    );
    const added = await this.extensionFunctions;
    const name = calls.map((call) => call.name).find((candidate) => added.has(candidate) && !EXTENSION_READERS.has(candidate));
    return name === undefined ? undefined : { name, reason: 'is not built into SQLite: an extension added it' };
  }

  async ping(): Promise<string> {
    const db = await this.readOnly.acquire();
    try {
      // Reading the schema makes SQLite read the file: a file that is no database fails here.
      const [row] = await allRows(db, 'SELECT sqlite_version() AS version, (SELECT count(*) FROM sqlite_master) AS objects');
      return `Opened ${this.label} with SQLite ${String(row?.version ?? '')}`;
    } finally {
      this.readOnly.release(db);
    }
  }

  async execute(_operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    const { query, params = {} } = input as QueryInput;
    const shape = analyzeSql(query, 'sqlite');
    const { text, values } = bindNamedParams(query, params, call.boundParams, 'sqlite');
    // Read mode's parser allow-list, before any handle is taken: the statement as it will run, placeholders bound.
    const calls = call.mode === 'read' ? await assertReadOnlySql('sqlite', text) : [];
    refuseShape(shape);
    const pool = call.mode === 'read' || this.alwaysReadOnly ? this.readOnly : this.readWrite;
    const db = await pool.acquire();
    try {
      refuseCatalogued('sqlite', await this.extensionCall(db, calls));
    } catch (error) {
      pool.release(db);
      throw error;
    }
    // timeout_ms: sqlite3_interrupt() stops the statement where it runs, on a worker thread (the event loop
    // never waits for SQLite); at the harness's hard deadline the handle is closed as well.
    let timedOut = false;
    let repeat: NodeJS.Timeout | undefined;
    const interrupt = () => {
      timedOut = true;
      db.interrupt();
      repeat ??= setInterval(() => db.interrupt(), INTERRUPT_REPEAT_MS);
    };
    const timer = setTimeout(interrupt, call.limits.timeoutMs);
    let broken = false;
    const abandon = () => {
      broken = true;
      interrupt();
    };
    call.signal.addEventListener('abort', abandon, { once: true });
    try {
      db.configure('busyTimeout', call.limits.timeoutMs);
      const rows = await readRows(db, text, values.map(bindable), call.limits.maxRows, () => timedOut);
      const affected = rows.length === 0 && changesRows(shape) ? await changes(db) : 0;
      const columns = columnsOf(rows);
      return sqlResult(
        columns,
        rows.map((row) => columns.map((column) => row[column.name])),
        call.limits.maxRows,
        affected,
      );
    } catch (error) {
      if (timedOut) {
        throw new PatchbayError(
          'timeout',
          `sqlite: the statement ran longer than timeout_ms (${call.limits.timeoutMs} ms) and was interrupted`,
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      clearInterval(repeat);
      call.signal.removeEventListener('abort', abandon);
      pool.release(db, broken);
    }
  }

  close(): Promise<void> {
    this.closing ??= Promise.all([this.readOnly.close(), this.readWrite.close()]).then(() => undefined);
    return this.closing;
  }

  private open(readOnly: boolean): Promise<Database> {
    const { sqlite3 } = this;
    // Never OPEN_CREATE: Patchbay does not create database files (a missing one is database_not_found).
    const mode = (readOnly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE) | sqlite3.OPEN_FULLMUTEX | OPEN_NOFOLLOW;
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(this.file, mode, (error) => {
        if (error) {
          reject(error);
          return;
        }
        // No ATTACH (nor VACUUM INTO, which attaches): a call may open no file but this one.
        db.configure('limit', sqlite3.LIMIT_ATTACHED, 0);
        resolve(db);
      });
    });
  }
}

/**
 * What sqlite3 cannot refuse by itself: text after the first statement (it would run only the first, silently)
 * and statements that reach other files (ATTACH is also capped at zero databases; a temp_store_directory
 * would put files anywhere).
 */
function refuseShape(shape: SqlShape): void {
  if (shape.statementCount === 0) throw new PatchbayError('query_failed', 'sqlite: the query holds no statement');
  if (shape.statementCount > 1) {
    throw new PatchbayError('query_failed', `sqlite: one statement per call; this query holds ${shape.statementCount}`);
  }
  const [first] = shape.words;
  const reachesFiles =
    first === 'ATTACH' ||
    first === 'DETACH' ||
    (first === 'VACUUM' && shape.words.includes('INTO')) ||
    (first === 'PRAGMA' && shape.words.some((word) => word.endsWith('_DIRECTORY')));
  if (reachesFiles)
    throw new PatchbayError('scope_denied', `sqlite: ${first} would reach a file outside the connector's database`);
}

function changesRows(shape: SqlShape): boolean {
  const first = shape.firstKeyword ?? '';
  return CHANGES_ROWS.has(first) || (first === 'WITH' && shape.words.some((word) => CHANGES_ROWS.has(word)));
}

/** JSON values as sqlite3 binds them: objects and arrays as JSON text (sqlite3 would bind "[object Object]"). */
const bindable = (value: unknown): unknown => (value !== null && typeof value === 'object' ? JSON.stringify(value) : value);

/**
 * Prepares one statement and steps it one row at a time (sqlite3's `get` without parameters continues the
 * statement), stopping after maxRows+1 rows; finalizing ends the statement there.
 */
async function readRows(db: Database, text: string, values: unknown[], maxRows: number, timedOut: () => boolean): Promise<Row[]> {
  const statement = await new Promise<Statement>((resolve, reject) => {
    const prepared: Statement = db.prepare(text, (error: Error | null) => (error ? reject(error) : resolve(prepared)));
  });
  const rows: Row[] = [];
  try {
    while (rows.length <= maxRows) {
      if (timedOut()) throw new Error('interrupted');
      const row = await new Promise<Row | undefined>((resolve, reject) => {
        const done = (error: Error | null, found?: Row) => (error ? reject(error) : resolve(found));
        if (rows.length === 0) statement.get(values, done);
        else statement.get(done);
      });
      if (row === undefined) break;
      rows.push(row);
    }
  } finally {
    await new Promise<void>((resolve) => statement.finalize(() => resolve()));
  }
  return rows;
}

function allRows(db: Database, text: string): Promise<Row[]> {
  return new Promise((resolve, reject) =>
    db.all(text, (error: Error | null, rows: Row[]) => (error ? reject(error) : resolve(rows))),
  );
}

async function changes(db: Database): Promise<number> {
  const [row] = await allRows(db, 'SELECT changes() AS n');
  return Number(row?.n ?? 0);
}

/**
 * sqlite3 gives each row as an object and no column metadata: the names come from the first row, and each
 * type is the storage class of the column's first non-null value (`integer`, `real`, `text`, `blob`), as
 * SQLite's typeof() names it; `null` when every value is null. An empty result has no columns.
 */
function columnsOf(rows: Row[]): SqlColumn[] {
  const names = rows[0] === undefined ? [] : Object.keys(rows[0]);
  return names.map((name) => {
    const value = rows.map((row) => row[name]).find((item) => item !== null && item !== undefined);
    return { name, type: storageClass(value) };
  });
}

function storageClass(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'real';
  if (typeof value === 'string') return 'text';
  if (Buffer.isBuffer(value)) return 'blob';
  return 'null';
}
