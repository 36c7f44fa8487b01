import type pgModule from 'pg';
import type { FieldDef, Pool, PoolClient } from 'pg';
import type { z } from 'zod';
import type { sqlQueryInput } from '../_shared/common-fields.js';
import { postgresDeniedCall, refuseCatalogued, type FunctionCall } from '../_shared/sql-guard/catalogue.js';
import { assertReadOnlySql } from '../_shared/sql-guard/index.js';
import { bindNamedParams } from '../_shared/sql-params.js';
import { sqlResult, type SqlColumn } from '../_shared/sql-results.js';
import type { CallContext, OperationResult, Session } from '../types.js';

type Pg = typeof pgModule;
type QueryInput = z.output<typeof sqlQueryInput>;

// The pool's type parsers (typeParsers) already give every value as JSON carries it: sqlResult keeps them as
// they are, so that a float8 stays a number however large.
const asParsed = (value: unknown): unknown => value;

export class PostgresSession implements Session {
  private readonly typeNames = new Map<number, string>();
  // Each call's "destroy my connection", so that close() can end calls that never return.
  private readonly inFlight = new Set<() => void>();
  private closing?: Promise<void>;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string | undefined,
    private readonly pg: Pg,
  ) {}

  async ping(): Promise<string> {
    const { rows } = await this.pool.query<{ version: string }>(
      "SELECT 1 AS ok, current_setting('server_version') AS version",
    );
    // "15.19 (Debian 15.19-0+deb12u1)" → "15.19"
    return `Connected to PostgreSQL ${rows[0]?.version.split(' ')[0] ?? ''}`.trim();
  }

  async execute(_operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    const { query, params = {} } = input as QueryInput;
    const { text, values } = bindNamedParams(query, params, call.boundParams);
    // Read mode's parser allow-list, before anything is sent: the statement as it will run, values bound.
    const calls = call.mode === 'read' ? await assertReadOnlySql('postgresql', text) : [];
    const client = await this.pool.connect();
    let released = false;
    const release = (destroy: boolean) => {
      if (released) return;
      released = true;
      this.inFlight.delete(destroyConnection);
      client.release(destroy);
    };
    // At the harness's hard deadline nobody waits any more: destroying the connection stops the work.
    const destroyConnection = () => release(true);
    this.inFlight.add(destroyConnection);
    call.signal.addEventListener('abort', destroyConnection, { once: true });
    try {
      const result = await runPipeline(this.pg, client, callSettings(this.schema, call, calls), { text, values }, call.limits.maxRows);
      const columns = await this.describeColumns(client, result.fields);
      return sqlResult(columns, result.rows, call.limits.maxRows, result.rowCount ?? 0, asParsed);
    } catch (error) {
      if (error instanceof RefusedCall) refuseCatalogued('postgresql', error.denied);
      // The Sync already ended the call's transaction; a connection the server gave up on is not reused.
      if (!(error instanceof this.pg.DatabaseError) || error.severity === 'FATAL' || error.severity === 'PANIC') release(true);
      throw error;
    } finally {
      call.signal.removeEventListener('abort', destroyConnection);
      // Nothing a read_write call set on its session reaches the next call: settings, role, search_path, temp
      // tables, prepared statements, advisory locks, LISTEN (DISCARD ALL, outside a transaction). A read call
      // needs none: read mode refuses every statement and function that could leave such state, and read calls
      // never share a pool with read_write ones (the harness keys pools by mode).
      if (call.mode === 'read_write' && !released) await client.query('DISCARD ALL').catch(() => release(true));
      release(false);
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const destroyConnection of [...this.inFlight]) destroyConnection();
      await this.pool.end();
    })();
    return this.closing;
  }

  /** Each column's type as the database names it, looked up once per session. */
  private async describeColumns(client: PoolClient, fields: FieldDef[]): Promise<SqlColumn[]> {
    const unknown = [...new Set(fields.map((field) => field.dataTypeID))].filter((oid) => !this.typeNames.has(oid));
    if (unknown.length > 0) {
      const { rows } = await client.query<{ oid: number; name: string }>(
        'SELECT oid::int4 AS oid, format_type(oid, NULL) AS name FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])',
        [unknown],
      );
      for (const { oid, name } of rows) this.typeNames.set(oid, name);
    }
    return fields.map((field) => ({ name: field.name, type: this.typeNames.get(field.dataTypeID) ?? 'unknown' }));
  }
}

/**
 * The statement that goes ahead of the call's statement in its pipeline (runPipeline), in the same transaction.
 * Transaction-local settings (gone when the transaction ends, so a pooled connection keeps none): the server
 * cancels the statement at timeoutMs, dates and times come out in one ISO form and in UTC, and unqualified names
 * resolve in `schema`. In read mode it also makes the transaction READ ONLY, which the statement can no longer
 * undo (it comes after a query, and read mode refuses SET and set_config), and asks pg_proc about the functions
 * the statement calls (catalogue.ts): a refused one raises an error, so the server skips the statement. Asked on
 * every call, on the connection that runs the statement, so a function or extension created a moment ago is
 * covered, at no extra round trip and with no cache to go stale.
 */
export function callSettings(
  schema: string | undefined,
  call: Pick<CallContext, 'mode' | 'limits'>,
  calls: readonly FunctionCall[],
): PipelineStatement {
  const values: string[] = [String(call.limits.timeoutMs)];
  const param = (value: string) => `$${values.push(value)}`;
  const items = [
    "set_config('statement_timeout', $1, true)",
    "set_config('TimeZone', 'UTC', true)",
    "set_config('DateStyle', 'ISO, YMD', true)",
    "set_config('IntervalStyle', 'iso_8601', true)",
  ];
  if (schema !== undefined) items.push(`set_config('search_path', quote_ident(${param(schema)}), true)`);
  if (call.mode === 'read') {
    items.push("set_config('transaction_read_only', 'on', true)");
    if (calls.length > 0) {
      const denied = postgresDeniedCall(param(JSON.stringify(calls.map(({ name, args }) => ({ name, args: args ?? null })))));
      // No RAISE outside PL/pgSQL: a failing cast carries the refusal, found again by RefusedCall.from.
      items.push(`(SELECT ('${REFUSED_MARKER}' || d::text)::int FROM (SELECT ${denied} AS d) AS refused WHERE d IS NOT NULL)`);
    }
  }
  return { text: `SELECT ${items.join(', ')}`, values };
}


interface PipelineStatement {
  text: string;
  values: unknown[];
}

interface PipelineResult {
  fields: FieldDef[];
  rows: unknown[][];
  rowCount: number | null;
}

/** Prefix of the error the settings statement raises for a function read mode refuses; JSON of name and reason follows. */
const REFUSED_MARKER = 'patchbay-read-mode-refused:';

/** A function call the server's catalogue refuses in read mode, raised by the settings statement. */
class RefusedCall extends Error {
  constructor(readonly denied: { name: string; reason: string }) {
    super('refused in read mode');
  }

  /** The refusal an error of the settings statement carries (SQLSTATE 22P02, the failed cast), if it is one. */
  static from(error: unknown): RefusedCall | undefined {
    const message = (error as { code?: unknown; message?: unknown }).message;
    if ((error as { code?: unknown }).code !== '22P02' || typeof message !== 'string') return undefined;
    const at = message.indexOf(REFUSED_MARKER);
    if (at < 0) return undefined;
    // The server quotes the failed value: `…: "patchbay-read-mode-refused:{…}"`, in any message language.
    const json = message.slice(at + REFUSED_MARKER.length, message.lastIndexOf('}') + 1);
    try {
      const denied = JSON.parse(json) as { name?: unknown; reason?: unknown };
      return new RefusedCall({ name: String(denied.name), reason: String(denied.reason) });
    } catch {
      return new RefusedCall({ name: 'a function', reason: 'is refused by the server catalogue' });
    }
  }
}

const pipelineClasses = new WeakMap<Pg, ReturnType<typeof definePipeline>>();

/**
 * Runs `settings` and then `statement` in one round trip: both go out as one pipeline of the extended protocol,
 * closed by a single Sync. All that comes before a Sync is one implicit transaction, so the transaction-local
 * settings hold for the statement and end with it, and an error in `settings` makes the server skip `statement`.
 * The extended protocol refuses several statements in one text, and Execute's row limit reads at most
 * maxRows+1 rows; the Sync then closes the portal without fetching the rest (what pg-cursor does).
 */
export function runPipeline(
  pg: Pg,
  client: PoolClient,
  settings: PipelineStatement,
  statement: PipelineStatement,
  maxRows: number,
): Promise<PipelineResult> {
  let Pipeline = pipelineClasses.get(pg);
  if (!Pipeline) {
    Pipeline = definePipeline(pg);
    pipelineClasses.set(pg, Pipeline);
  }
  const Query = Pipeline;
  return new Promise<PipelineResult>((resolve, reject) => {
    const config = { text: statement.text, values: statement.values, rowMode: 'array', rows: maxRows + 1 };
    client.query(
      new Query(settings, config, (error, results) => {
        if (error) return reject(error);
        // [settings, statement]; a statement that sent nothing back (an empty one) leaves the settings' alone.
        const result = Array.isArray(results) ? (results[1] as PipelineResult) : { fields: [], rows: [], rowCount: null };
        resolve(result);
      }),
    );
  });
}

interface Connection {
  parse(message: { text: string; types: unknown[] }): void;
  bind(message: { values: unknown[] }): void;
  describe(message: { type: 'P'; name: string }): void;
  execute(message: { portal: string; rows: number }): void;
  sync(): void;
}

function definePipeline(pg: Pg) {
  const base = pg.Query.prototype as unknown as {
    prepare(connection: Connection): void;
    handleError(error: Error, connection: Connection): void;
  };
  return class Pipeline extends pg.Query {
    /** CommandCompletes seen: an error before the first belongs to the settings statement. */
    private completed = 0;

    constructor(
      private readonly settings: PipelineStatement,
      config: object,
      callback: (error: Error | undefined, results: unknown) => void,
    ) {
      super({ ...config, callback } as unknown as ConstructorParameters<Pg['Query']>[0]);
    }

    prepare(connection: Connection): void {
      connection.parse({ text: this.settings.text, types: [] });
      connection.bind({ values: this.settings.values });
      connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: 0 });
      base.prepare.call(this, connection);
    }

    /** The statement's Execute, with its row limit, and the pipeline's one Sync. */
    _getRows(connection: Connection, rows: number): void {
      connection.execute({ portal: '', rows });
      connection.sync();
    }

    // pg's Query would fetch more rows, or Sync again: the pipeline's Sync is already sent.
    handlePortalSuspended(): void {}

    handleEmptyQuery(): void {}

    handleCommandComplete(message: unknown): void {
      this.completed += 1;
      const self = this as unknown as { _checkForMultirow(): void; _result: { addCommandComplete(message: unknown): void } };
      self._checkForMultirow();
      self._result.addCommandComplete(message);
    }

    handleError(error: Error, connection: Connection): void {
      base.handleError.call(this, (this.completed === 0 && RefusedCall.from(error)) || error, connection);
    }
  };
}
