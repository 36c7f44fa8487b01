import type { ConnectionOptions } from 'node:tls';
import type pgModule from 'pg';
import type { CustomTypesConfig, FieldDef, Pool, PoolClient } from 'pg';
import { z } from 'zod';
import type { ErrorCode, FieldError } from '../errors.js';
import {
  alternativeIssues,
  connectionUrlField,
  hostField,
  networkFields,
  networkIssues,
  operation,
  passwordField,
  portField,
  sqlQueryInput,
  usernameField,
} from './_shared/common-fields.js';
import { assertReadOnlySql } from './_shared/sql-guard/index.js';
import { analyzeSql, bindNamedParams } from './_shared/sql-params.js';
import { overridable, type CallContext, type OperationResult, type Provider, type Session } from './types.js';

const config = z.strictObject({
  host: hostField('PostgreSQL server'),
  port: portField('PostgreSQL server', 5432),
  database: overridable(
    z
      .string()
      .min(1)
      .optional()
      .describe('Database to connect to (default: the user name); an attachment may switch it, and it wins over connection_string.'),
  ),
  username: usernameField('to log in as'),
  password: passwordField('of username'),
  ssl: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields).'),
  connection_string: connectionUrlField(
    ['postgres', 'postgresql'],
    'postgres://user:password@host:port/database, optionally with ?sslmode=require; an alternative to host, port, username and password.',
  ),
  schema: overridable(
    z
      .string()
      .min(1)
      .max(63)
      .optional()
      .describe('Schema that unqualified names resolve in (the search_path of each call); an attachment may switch it.'),
  ),
  ...networkFields,
});

type PostgresConfig = z.output<typeof config>;
type QueryInput = z.output<typeof sqlQueryInput>;
type Pg = typeof pgModule;

// Statements that only read; anything else counts as a write in read mode. This is the cheap first test:
// execute() then checks the statement with PostgreSQL's own parser (sql-guard), and the READ ONLY transaction
// each call runs in is the database's wall behind both.
const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'SHOW', 'EXPLAIN', 'VALUES', 'TABLE']);

const postgresql: Provider<typeof config> = {
  id: 'postgresql',
  type: 'database',
  description: 'PostgreSQL databases, queried one parameterised statement at a time.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'connection_string', ['host', 'port', 'username', 'password'], 'host'),
    ...loginIssues(value),
  ],
  operations: {
    query: operation(
      'Run one SQL statement with `:name` parameters; rows come back keyed by column name.',
      sqlQueryInput,
      (input) => {
        const shape = analyzeSql(input.query);
        return shape.statementCount > 1 || !READ_KEYWORDS.has(shape.firstKeyword ?? '');
      },
    ),
  },
  defaultOperation: 'query',

  async connect(settings, ctx) {
    const { default: pg } = await import('pg');
    const target = loginTarget(settings);
    const pool = new pg.Pool({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      // Always a function: given nothing, pg would read PGPASSWORD and ~/.pgpass of the machine Patchbay runs on.
      password: () => target.password ?? '',
      ssl: target.ssl ? tlsOptions(settings) : false,
      // pg dials through this socket, so the egress policy sees the address actually dialled.
      stream: () => ctx.egress.socket(),
      types: typeParsers(pg),
      max: ctx.poolMax,
      connectionTimeoutMillis: settings.connect_timeout_ms,
      keepAlive: true,
      application_name: 'patchbay',
    });
    pool.on('error', (error) => ctx.log.warn({ err: error }, 'an idle PostgreSQL connection failed'));
    // pg-pool listens for errors only on idle clients; an unhandled 'error' on a busy one would end the process.
    pool.on('connect', (client) => client.on('error', (error) => ctx.log.debug({ err: error }, 'PostgreSQL connection failed')));
    try {
      (await pool.connect()).release();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return new PostgresSession(pool, settings.schema, pg);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    const sqlState = sqlStateOf(error);
    if (sqlState) return SQLSTATE_CODES[sqlState] ?? SQLSTATE_CLASS_CODES[sqlState.slice(0, 2)];
    // pg's own connect timeouts (connectionTimeoutMillis, or a pool with every connection busy).
    if (/connection timeout|timeout exceeded when trying to connect/i.test(error.message)) return 'timeout';
    return undefined;
  },
};

export default postgresql;

const SQLSTATE_CODES: Record<string, ErrorCode> = {
  '28P01': 'auth_failed', // invalid_password
  '28000': 'auth_failed', // invalid_authorization_specification (also: no such role)
  '3D000': 'database_not_found',
  '42501': 'permission_denied', // insufficient_privilege
  '57014': 'timeout', // query_canceled: statement_timeout
  '25006': 'read_only', // read_only_sql_transaction
};

// The statement itself was rejected; the connection is fine. Other classes (connection exceptions,
// operator intervention, resources) are upstream failures that discard the session.
const SQLSTATE_CLASS_CODES: Record<string, ErrorCode> = {
  '0A': 'query_failed', // feature not supported
  '21': 'query_failed', // cardinality violation
  '22': 'query_failed', // data exception
  '23': 'query_failed', // integrity constraint violation
  '25': 'query_failed', // invalid transaction state (VACUUM inside the call's transaction)
  '2B': 'query_failed', // dependent objects still exist
  '40': 'query_failed', // serialization failure, deadlock
  '42': 'query_failed', // syntax error or access rule violation
  '44': 'query_failed', // WITH CHECK OPTION violation
  '55': 'query_failed', // object not in prerequisite state (lock not available)
  P0: 'query_failed', // RAISE in PL/pgSQL
};

/** The SQLSTATE of an error the server sent (pg's DatabaseError carries a severity; Node's errors do not). */
function sqlStateOf(error: Error): string | undefined {
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof severity === 'string' && typeof code === 'string' ? code : undefined;
}

class PostgresSession implements Session {
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
    if (call.mode === 'read') await assertReadOnlySql('postgresql', text);
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
      await this.applySettings(client, call.limits.timeoutMs);
      const result = await queryLimited(this.pg, client, text, values, call.limits.maxRows);
      const columns = await this.describeColumns(client, result.fields);
      await client.query(call.mode === 'read' ? 'ROLLBACK' : 'COMMIT');
      return { data: shapeResult(columns, result, call.limits.maxRows), truncated: result.rows.length > call.limits.maxRows };
    } catch (error) {
      // The transaction must not outlive the call; a connection that cannot even roll back is dropped.
      if (!released) await client.query('ROLLBACK').catch(() => release(true));
      throw error;
    } finally {
      call.signal.removeEventListener('abort', destroyConnection);
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
   */
  private async applySettings(client: PoolClient, timeoutMs: number): Promise<void> {
    await client.query(
      `SELECT set_config('statement_timeout', $1, true), set_config('TimeZone', 'UTC', true),
              set_config('DateStyle', 'ISO, YMD', true), set_config('IntervalStyle', 'iso_8601', true)
              ${this.schema === undefined ? '' : ", set_config('search_path', quote_ident($2), true)"}`,
      this.schema === undefined ? [String(timeoutMs)] : [String(timeoutMs), this.schema],
    );
  }

  /** Column names made unique and each column's type as the database names it, looked up once per session. */
  private async describeColumns(client: PoolClient, fields: FieldDef[]): Promise<{ name: string; type: string }[]> {
    const unknown = [...new Set(fields.map((field) => field.dataTypeID))].filter((oid) => !this.typeNames.has(oid));
    if (unknown.length > 0) {
      const { rows } = await client.query<{ oid: number; name: string }>(
        'SELECT oid::int4 AS oid, format_type(oid, NULL) AS name FROM pg_catalog.pg_type WHERE oid = ANY($1::oid[])',
        [unknown],
      );
      for (const { oid, name } of rows) this.typeNames.set(oid, name);
    }
    const names = uniqueNames(fields.map((field) => field.name));
    return fields.map((field, index) => ({
      name: names[index] as string,
      type: this.typeNames.get(field.dataTypeID) ?? 'unknown',
    }));
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

function shapeResult(columns: { name: string; type: string }[], result: LimitedResult, maxRows: number) {
  const rows = result.rows.slice(0, maxRows); // the extra row only told us there were more
  return {
    columns,
    rows: rows.map((row) => Object.fromEntries(columns.map((column, index) => [column.name, row[index]]))),
    // Rows returned for a statement that returns rows, rows affected for one that does not (UPDATE).
    row_count: columns.length > 0 ? rows.length : (result.rowCount ?? 0),
  };
}

/** `id, id` → `id, id_2`: a row object cannot hold two keys of one name. */
function uniqueNames(names: string[]): string[] {
  const taken = new Set(names);
  const seen = new Set<string>();
  return names.map((name) => {
    if (!seen.has(name)) {
      seen.add(name);
      return name;
    }
    let suffix = 2;
    while (taken.has(`${name}_${suffix}`) || seen.has(`${name}_${suffix}`)) suffix += 1;
    const unique = `${name}_${suffix}`;
    seen.add(unique);
    return unique;
  });
}

/**
 * Result values as JSON can carry them (DESIGN.md section 6): int8 and numeric stay strings (pg's default),
 * bytea becomes base64, dates and times ISO 8601 text. Per pool, so pg's global parsers stay untouched.
 */
function typeParsers(pg: Pg): CustomTypesConfig {
  const types = new pg.TypeOverrides();
  const builtin = pg.types.getTypeParser as (oid: number, format: 'text') => (value: string) => unknown;
  const parseBytea = builtin(17, 'text') as (value: string) => Buffer;
  const parseTextArray = builtin(1009, 'text'); // text[]: elements as strings, NULL as null
  const asText = (value: string) => value;
  // Output follows DateStyle ISO and TimeZone UTC, which every call sets (applySettings).
  const scalars: Record<number, (value: string) => unknown> = {
    17: (value) => parseBytea(value).toString('base64'),
    1082: asText, // date: 2024-05-01
    1083: asText, // time
    1266: asText, // timetz
    1186: asText, // interval, IntervalStyle iso_8601: P1DT2H
    1114: (value) => value.replace(' ', 'T'), // timestamp: 2024-05-01T10:00:00.123456
    1184: (value) => value.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00').replace(/\+00:00$/, 'Z'), // timestamptz
  };
  const arrays: Record<number, number> = { 1001: 17, 1182: 1082, 1183: 1083, 1270: 1266, 1187: 1186, 1115: 1114, 1185: 1184 };
  for (const [oid, parse] of Object.entries(scalars)) types.setTypeParser(Number(oid), 'text', parse);
  for (const [oid, element] of Object.entries(arrays)) {
    const parse = scalars[element] as (value: string) => unknown;
    types.setTypeParser(Number(oid), 'text', (value: string) => mapArray(parseTextArray(value), parse));
  }
  return types;
}

function mapArray(value: unknown, parse: (value: string) => unknown): unknown {
  if (Array.isArray(value)) return value.map((item) => mapArray(item, parse));
  return typeof value === 'string' ? parse(value) : value;
}

interface LoginTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  ssl: boolean;
}

/** Where and as whom to log in: connection_string or the separate fields; `database` always wins. */
function loginTarget(settings: PostgresConfig): LoginTarget {
  const url = settings.connection_string === undefined ? undefined : parseConnectionString(settings.connection_string);
  const user = url?.user ?? settings.username ?? '';
  return {
    host: url?.host ?? settings.host ?? '',
    port: url?.port ?? settings.port,
    user,
    password: url === undefined ? settings.password : url.password,
    database: settings.database ?? url?.database ?? user,
    ssl: url?.ssl ?? settings.ssl,
  };
}

const SSL_MODES: Record<string, boolean> = {
  disable: false,
  allow: false,
  prefer: false,
  require: true,
  'verify-ca': true,
  'verify-full': true,
};

class ConnectionStringError extends Error {}

/**
 * postgres://user:password@host:port/database?sslmode=… parsed here rather than by pg, so that a
 * `database` field wins over the URL's and pg never fills gaps from PG* environment variables. Messages
 * never quote the string: it holds the password.
 */
function parseConnectionString(text: string) {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConnectionStringError('is not a valid URL');
  }
  let ssl: boolean | undefined;
  for (const [name, value] of url.searchParams) {
    if (name === 'sslmode' && Object.hasOwn(SSL_MODES, value)) ssl = SSL_MODES[value];
    else if (name === 'ssl' && (value === 'true' || value === 'false')) ssl = value === 'true';
    else throw new ConnectionStringError(`has an unsupported parameter ${name}; use the config fields instead`);
  }
  const host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new ConnectionStringError('must name a host');
  const user = decodeURIComponent(url.username);
  if (!user) throw new ConnectionStringError('must name a user');
  return {
    host,
    port: url.port ? Number(url.port) : undefined,
    user,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    database: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : undefined,
    ssl,
  };
}

/** A user to log in as is required: pg would otherwise log in as the operating-system user running Patchbay. */
function loginIssues(settings: PostgresConfig): FieldError[] {
  if (settings.connection_string === undefined) {
    return settings.username === undefined ? [{ path: 'username', message: 'required unless connection_string is given' }] : [];
  }
  try {
    parseConnectionString(settings.connection_string);
    return [];
  } catch (error) {
    if (!(error instanceof ConnectionStringError)) throw error;
    return [{ path: 'connection_string', message: error.message }];
  }
}

function tlsOptions(settings: PostgresConfig): ConnectionOptions {
  return {
    ca: settings.tls_ca,
    cert: settings.tls_cert,
    key: settings.tls_key,
    rejectUnauthorized: settings.tls_reject_unauthorized,
  };
}
