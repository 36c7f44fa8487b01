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
    const calls = call.mode === 'read' ? await assertReadOnlySql('postgresql', text) : undefined;
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
      // One statement, in a transaction that read mode makes READ ONLY and always rolls back.
      await client.query(call.mode === 'read' ? 'BEGIN READ ONLY' : 'BEGIN');
      refuseCatalogued('postgresql', await this.applySettings(client, call.limits.timeoutMs, calls));
      const result = await queryLimited(this.pg, client, text, values, call.limits.maxRows);
      const columns = await this.describeColumns(client, result.fields);
      await client.query(call.mode === 'read' ? 'ROLLBACK' : 'COMMIT');
      return sqlResult(columns, result.rows, call.limits.maxRows, result.rowCount ?? 0, asParsed);
    } catch (error) {
      // The transaction must not outlive the call; a connection that cannot even roll back is dropped.
      if (!released) await client.query('ROLLBACK').catch(() => release(true));
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

  /**
   * Transaction-local settings (gone at COMMIT or ROLLBACK, so a pooled connection keeps none): the server
   * cancels the statement at timeoutMs, dates and times come out in one ISO form and in UTC, and
   * unqualified names resolve in `schema`. Being a SELECT, it also takes the transaction's snapshot, after
   * which a statement can no longer switch a READ ONLY transaction to read-write.
   *
   * In read mode the same round trip asks pg_proc about the functions the statement calls (catalogue.ts) and
   * returns the first one read mode refuses. Asked on every call, on the connection that runs the statement, so
   * a function or extension created a moment ago is covered, at no extra round trip and with no cache to go stale.
   */
  private async applySettings(
    client: PoolClient,
    timeoutMs: number,
    calls: readonly FunctionCall[] | undefined,
  ): Promise<{ name: string; reason: string } | undefined> {
    const values: unknown[] = [String(timeoutMs)];
    const param = (value: unknown) => `$${values.push(value)}`;
    const searchPath = this.schema === undefined ? '' : `, set_config('search_path', quote_ident(${param(this.schema)}), true)`;
    const denied =
      calls === undefined || calls.length === 0
        ? ''
        : `, ${postgresDeniedCall(
            param(calls.map((call) => call.name)),
            param(calls.map((call) => call.args ?? null)),
          )} AS denied`;
    const { rows } = await client.query<{ denied?: { name: string; reason: string } | null }>(
      `SELECT set_config('statement_timeout', $1, true), set_config('TimeZone', 'UTC', true),
              set_config('DateStyle', 'ISO, YMD', true), set_config('IntervalStyle', 'iso_8601', true)
              ${searchPath}${denied}`,
      values,
    );
    return rows[0]?.denied ?? undefined;
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

interface LimitedResult {
  fields: FieldDef[];
  rows: unknown[][];
  rowCount: number | null;
}

/**
 * Runs one statement over the extended protocol (which refuses several statements in one text) and reads
 * at most maxRows+1 rows: pg's `rows` option executes the portal with that row limit. pg would then fetch
 * the next batch on PortalSuspended and would leave the protocol unsynchronised after an error; this
 * query stops at the first batch and sends the Sync itself instead (what pg-cursor does).
 */
function queryLimited(pg: Pg, client: PoolClient, text: string, values: unknown[], maxRows: number) {
  interface Connection {
    sync(): void;
  }
  class LimitedQuery extends pg.Query {
    private synced = false;

    handlePortalSuspended(connection: Connection): void {
      this.synced = true;
      connection.sync();
    }

    handleError(error: Error & { severity?: string }, connection: Connection): void {
      // A server error before CommandComplete leaves the server waiting for a Sync; a FATAL one closes the socket.
      if (!this.synced && error instanceof pg.DatabaseError && error.severity !== 'FATAL' && error.severity !== 'PANIC') {
        this.synced = true;
        connection.sync();
      }
      (pg.Query.prototype as unknown as { handleError: (e: Error, c: Connection) => void }).handleError.call(
        this,
        error,
        connection,
      );
    }
  }
  return new Promise<LimitedResult>((resolve, reject) => {
    const config = { text, values, rowMode: 'array', rows: maxRows + 1 };
    const query = new LimitedQuery(config, (error: Error | undefined, result: unknown) => {
      if (error) reject(error);
      else resolve(result as LimitedResult);
    });
    client.query(query);
  });
}
