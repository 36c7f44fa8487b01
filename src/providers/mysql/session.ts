import type { EventEmitter } from 'node:events';
import type { FieldPacket, Pool, PoolConnection } from 'mysql2/promise';
import type { z } from 'zod';
import { PatchbayError } from '../../errors.js';
import type { sqlQueryInput } from '../_shared/common-fields.js';
import { refuseCatalogued, type FunctionCall } from '../_shared/sql-guard/catalogue.js';
import { assertReadOnlySql } from '../_shared/sql-guard/index.js';
import { analyzeSql, bindNamedParams } from '../_shared/sql-params.js';
import { sqlResult } from '../_shared/sql-results.js';
import type { CallContext, OperationResult, Session } from '../types.js';
import { columnType, columnValue } from './columns.js';

type QueryInput = z.output<typeof sqlQueryInput>;

/** The callback-style connection under mysql2's promise wrapper: its commands stream rows as events. */
interface CoreConnection {
  threadId: number | null;
  execute(options: object): EventEmitter;
  query(options: object): EventEmitter;
  pause(): void;
  /** The socket (or the TLS socket over it); ending the connection only half-closes it. */
  stream: { destroy(): void };
}

/**
 * How a call leaves its connection: back to the pool, or closed, because its session state must not reach the
 * next call or because the rest of a result is still on its way (the socket is destroyed, not half-closed, so
 * that the server stops writing).
 */
type Disposal = 'release' | 'destroy';

// Set on every new connection: dates and times in UTC, and backslash escapes in strings as the placeholder
// lexer reads them (DESIGN.md section 7: what Patchbay checks is what the server runs).
const SESSION_SETUP = "SET time_zone = '+00:00', sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')";
const SESSION_MODE = {
  read: 'SET SESSION TRANSACTION READ ONLY',
  read_write: 'SET SESSION TRANSACTION READ WRITE',
} as const;

// Statements after which a read_write connection goes back to the pool. Anything else may leave session state
// behind (SET, USE, START TRANSACTION, LOCK TABLES, a temporary table, a prepared statement), so its connection
// is closed after the call instead: one call never sees what another left.
const STATELESS = new Set([
  ...['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'REPLACE', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'VALUES', 'TABLE'],
  ...['CREATE', 'ALTER', 'DROP', 'TRUNCATE', 'RENAME', 'ANALYZE', 'OPTIMIZE', 'CHECK', 'CHECKSUM', 'GRANT', 'REVOKE'],
]);

/** ER_UNSUPPORTED_PS: a statement the server cannot prepare (it is then sent as text, having no parameters). */
const ER_UNSUPPORTED_PS = 1295;
// ER_TABLEACCESS_DENIED_ERROR, ER_NO_SUCH_TABLE: mysql.func is not there for this login.
const NO_ACCESS = new Set([1142, 1146]);

// The stored functions (information_schema.ROUTINES: those the user may see, in any database) and loadable
// ones (mysql.func, where the user may read it) among the names a statement calls.
const STORED_FUNCTIONS =
  "SELECT LOWER(ROUTINE_NAME) AS name FROM information_schema.ROUTINES WHERE ROUTINE_TYPE = 'FUNCTION' AND LOWER(ROUTINE_NAME) IN (?)";
const STORED_AND_LOADABLE_FUNCTIONS = `${STORED_FUNCTIONS} UNION ALL SELECT LOWER(name) FROM mysql.func WHERE LOWER(name) IN (?)`;

export class MysqlSession implements Session {
  // Each connection's session mode as last set, so that a switch costs one statement and only when it happens.
  private readonly modes = new WeakMap<object, CallContext['mode']>();
  // Whether this login may read mysql.func (the loadable functions); unknown until first asked.
  private loadableVisible = true;
  // Each call's "destroy my connection", so that close() can end calls that never return.
  private readonly inFlight = new Set<() => void>();
  private closing?: Promise<void>;

  constructor(
    private readonly pool: Pool,
    /** Runs `KILL QUERY <thread id>` over a connection of its own. */
    private readonly killQuery: (threadId: number) => Promise<void>,
  ) {}

  /** A pooled connection in `mode`: the read-only session is the database's own wall in read mode. */
  async acquire(mode: CallContext['mode']): Promise<PoolConnection> {
    const connection = await this.pool.getConnection();
    const core = connection.connection as object;
    try {
      if (!this.modes.has(core)) await connection.query(SESSION_SETUP);
      if (this.modes.get(core) !== mode) {
        this.modes.delete(core); // unknown until the switch succeeds
        await connection.query(SESSION_MODE[mode]);
        this.modes.set(core, mode);
      }
    } catch (error) {
      connection.destroy();
      throw error;
    }
    return connection;
  }

  async ping(): Promise<string> {
    const connection = await this.acquire('read');
    try {
      const [rows] = await connection.query({ sql: 'SELECT 1 AS ok, VERSION() AS version', rowsAsArray: true });
      return `Connected to ${serverName(String((rows as unknown[][])[0]?.[1] ?? ''))}`;
    } finally {
      connection.release();
    }
  }

  async execute(_operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    const { query, params = {} } = input as QueryInput;
    const { text, values } = bindNamedParams(query, params, call.boundParams, 'mysql');
    // Read mode's parser allow-list, before anything is sent: the statement as it will run, placeholders bound.
    const calls = call.mode === 'read' ? await assertReadOnlySql('mysql', text) : [];
    const shape = analyzeSql(query, 'mysql');
    const connection = await this.acquire(call.mode);
    try {
      refuseCatalogued('mysql', await this.userDefined(connection, calls));
    } catch (error) {
      connection.release();
      throw error;
    }
    const core = connection.connection as unknown as CoreConnection;
    let disposal: Disposal =
      call.mode === 'read' || (STATELESS.has(shape.firstKeyword ?? '') && !shape.words.includes('TEMPORARY'))
        ? 'release'
        : 'destroy';
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      this.inFlight.delete(destroyConnection);
      if (disposal === 'release') {
        connection.release();
      } else {
        connection.destroy();
        core.stream.destroy();
      }
    };
    const destroyConnection = () => {
      disposal = 'destroy';
      end();
    };
    this.inFlight.add(destroyConnection);
    // At the harness's hard deadline nobody waits any more: closing the connection stops the call.
    call.signal.addEventListener('abort', destroyConnection, { once: true });
    // timeout_ms: the server cancels the statement (KILL QUERY), so the work stops there, not only our wait.
    let cancelled = false;
    const timer = setTimeout(() => {
      cancelled = true;
      disposal = 'destroy'; // a late KILL QUERY must never reach the next statement on this connection
      if (core.threadId !== null) void this.killQuery(core.threadId).catch(() => undefined);
    }, call.limits.timeoutMs);
    try {
      const result = await runStatement(core, text, values, call.limits.maxRows, call.signal);
      if (cancelled) throw timedOut(call.limits.timeoutMs);
      // Stopped at maxRows+1: the rest of the result is never read, and the connection cannot be reused.
      if (result.cut) disposal = 'destroy';
      const columns = (result.fields ?? []).map((field) => ({ name: field.name, type: columnType(field) }));
      const rows = result.rows.map((row) => row.map((value, index) => columnValue(value, columns[index]?.type ?? '')));
      return sqlResult(columns, rows, call.limits.maxRows, result.affectedRows);
    } catch (error) {
      if (cancelled) throw timedOut(call.limits.timeoutMs);
      throw error;
    } finally {
      clearTimeout(timer);
      call.signal.removeEventListener('abort', destroyConnection);
      // Nothing a read_write call set on its session reaches the next call: COM_RESET_CONNECTION drops user
      // variables, temporary tables, prepared statements, named locks (GET_LOCK), table locks and the open
      // transaction, and resets every session variable (the next acquire() sets the session up again). A read
      // call needs none: read mode refuses every statement and function that could leave such state, and read
      // calls never share a pool with read_write ones (the harness keys pools by mode).
      if (call.mode === 'read_write' && disposal === 'release' && !done) {
        try {
          await connection.reset();
          this.modes.delete(core);
        } catch {
          disposal = 'destroy';
        }
      }
      end();
    }
  }

  /**
   * The first of `calls` that is a stored or loadable function (read mode cannot see what its body does), or
   * undefined. Asked on the call's own connection, on every call that calls a function, so that one created a
   * moment ago is covered: MySQL lists no built-ins to check against, and a name remembered as harmless (a CTE's
   * `name(…)` looks like a call) could later be created as a function.
   */
  private async userDefined(connection: PoolConnection, calls: readonly FunctionCall[]): Promise<{ name: string; reason: string } | undefined> {
    const names = calls.map((call) => call.name);
    if (names.length === 0) return undefined;
    let rows: unknown;
    try {
      [rows] = await connection.query(this.loadableVisible ? STORED_AND_LOADABLE_FUNCTIONS : STORED_FUNCTIONS, [names, names]);
    } catch (error) {
      // mysql.func is readable only with a grant on the mysql schema; without one, its functions stay unknown.
      if (!this.loadableVisible || !NO_ACCESS.has(Number((error as { errno?: unknown }).errno))) throw error;
      this.loadableVisible = false;
      [rows] = await connection.query(STORED_FUNCTIONS, [names]);
    }
    const found = new Set((rows as { name: string }[]).map((row) => row.name));
    const name = names.find((candidate) => found.has(candidate));
    return name === undefined ? undefined : { name, reason: 'is a stored function (or a loadable one), whose body read mode cannot check' };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const destroyConnection of [...this.inFlight]) destroyConnection();
      await this.pool.end();
    })();
    return this.closing;
  }
}

interface StatementResult {
  fields: FieldPacket[] | undefined;
  /** At most maxRows+1 rows, each in column order. */
  rows: unknown[][];
  affectedRows: number;
  /** Stopped reading at maxRows+1 rows. */
  cut: boolean;
}

/**
 * Runs one statement as a prepared statement (values bound, never spliced; one statement only) and streams its
 * rows, stopping at maxRows+1: the connection is paused there and the caller closes it. A statement the server
 * cannot prepare is sent as text when it has no parameters (still one statement: multipleStatements is off).
 */
function runStatement(
  core: CoreConnection,
  text: string,
  values: unknown[],
  maxRows: number,
  signal: AbortSignal,
): Promise<StatementResult> {
  const run = (prepared: boolean) =>
    new Promise<StatementResult>((resolve, reject) => {
      const result: StatementResult = { fields: undefined, rows: [], affectedRows: 0, cut: false };
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal.removeEventListener('abort', onAbort);
      const command = prepared
        ? core.execute({ sql: text, values, rowsAsArray: true })
        : core.query({ sql: text, rowsAsArray: true });
      // A CALL may answer several result sets (and a closing OK packet): the first one is the result.
      let sets = 0;
      command.on('fields', (fields: FieldPacket[] | undefined) => {
        sets += 1;
        if (sets === 1) result.fields = fields;
      });
      command.on('result', (row: unknown) => {
        if (sets !== 1) return;
        if (result.fields === undefined) {
          // A statement without columns reports an OK packet (a ResultSetHeader) instead of rows.
          result.affectedRows = Number((row as { affectedRows?: number }).affectedRows ?? 0);
          return;
        }
        if (result.cut) return;
        result.rows.push(row as unknown[]);
        if (result.rows.length > maxRows) {
          result.cut = true;
          core.pause();
          settle();
          resolve(result);
        }
      });
      command.on('error', (error: Error) => {
        settle();
        reject(error);
      });
      command.on('end', () => {
        settle();
        resolve(result);
      });
    });
  return run(true).catch((error: unknown) => {
    if ((error as { errno?: unknown }).errno === ER_UNSUPPORTED_PS && values.length === 0) return run(false);
    throw error;
  });
}

const timedOut = (timeoutMs: number) =>
  new PatchbayError('timeout', `mysql: the statement ran longer than timeout_ms (${timeoutMs} ms) and was cancelled`);

/** "10.11.19-MariaDB-0+deb12u1" → "MariaDB 10.11.19"; "8.0.36" → "MySQL 8.0.36". */
function serverName(version: string): string {
  const number = /^\d+(\.\d+)*/.exec(version)?.[0] ?? version;
  return `${/mariadb/i.test(version) ? 'MariaDB' : 'MySQL'} ${number}`.trim();
}
