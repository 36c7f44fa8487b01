import type { ConnectionOptions } from 'node:tls';
import { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import {
  alternativeIssues,
  connectionUrlField,
  hostField,
  networkFields,
  networkIssues,
  passwordField,
  portField,
  usernameField,
} from '../_shared/common-fields.js';
import { loginIssues, loginTarget, type ConnectionStringDialect } from '../_shared/sql-connection.js';
import { sqlOperations, withDescribe } from '../_shared/sql-operations.js';
import { readSql } from '../_shared/sql-params.js';
import { PostgresSession } from './session.js';
import { typeParsers } from './type-parsers.js';
import { overridable, type Provider } from '../types.js';

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

// Statements that only read; anything else counts as a write in read mode. This is the cheap first test:
// execute() then checks the statement with PostgreSQL's own parser (sql-guard), and the READ ONLY transaction
// each call runs in is the database's wall behind both.
const READ_KEYWORDS = new Set(['SELECT', 'WITH', 'SHOW', 'EXPLAIN', 'VALUES', 'TABLE']);

// describe: the schema that unqualified names resolve in (`schema`, else the first on the search path).
// information_schema lists only the columns the connector's user may use: the "allowed" schema.
const CATALOGUE_QUERY = `SELECT table_name, column_name,
       CASE WHEN data_type IN ('USER-DEFINED', 'ARRAY') THEN udt_name ELSE data_type END AS data_type,
       is_nullable = 'YES' AS nullable
  FROM information_schema.columns
 WHERE table_schema = current_schema()
 ORDER BY table_name, ordinal_position`;

const postgresql: Provider<typeof config> = {
  id: 'postgresql',
  type: 'database',
  description: 'PostgreSQL databases, queried one parameterised statement at a time.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'connection_string', ['host', 'port', 'username', 'password'], 'host'),
    ...loginIssues(value, CONNECTION_STRING),
  ],
  operations: sqlOperations('postgresql', (query) => {
    const shape = readSql(query, 'postgresql');
    return shape.statementCount > 1 || !READ_KEYWORDS.has(shape.firstKeyword ?? '');
  }),
  defaultOperation: 'query',

  async connect(settings, ctx) {
    const { default: pg } = await import('pg');
    const target = loginTarget(settings, CONNECTION_STRING);
    const pool = new pg.Pool({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database ?? target.user, // PostgreSQL's own default
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
    return withDescribe(new PostgresSession(pool, settings.schema, pg), CATALOGUE_QUERY);
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

// libpq's sslmode values, matched exactly as libpq matches them (REQUIRE is refused); `ssl=true|false` as pg reads it.
const CONNECTION_STRING: ConnectionStringDialect = {
  tlsParameters: {
    sslmode: { disable: false, allow: false, prefer: false, require: true, 'verify-ca': true, 'verify-full': true },
    ssl: { true: true, false: false },
  },
  exactCase: true,
};

function tlsOptions(settings: PostgresConfig): ConnectionOptions {
  return {
    ca: settings.tls_ca,
    cert: settings.tls_cert,
    key: settings.tls_key,
    rejectUnauthorized: settings.tls_reject_unauthorized,
  };
}
