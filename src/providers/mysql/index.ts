import type { ConnectionOptions } from 'mysql2/promise';
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
import { isReadStatement } from '../_shared/sql-guard/portable.js';
import { sqlOperations, withDescribe } from '../_shared/sql-operations.js';
import { MysqlSession } from './session.js';
import { overridable, type Provider } from '../types.js';

const config = z.strictObject({
  host: hostField('MySQL or MariaDB server'),
  port: portField('MySQL or MariaDB server', 3306),
  database: overridable(
    z.string().min(1).optional().describe('Default database; an attachment may switch it, and it wins over connection_string.'),
  ),
  username: usernameField('to log in as'),
  password: passwordField('of username'),
  ssl: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields).'),
  connection_string: connectionUrlField(
    ['mysql', 'mariadb'],
    'mysql://user:password@host:port/database, optionally with ?ssl=true or ?ssl-mode=REQUIRED; an alternative to host, port, username and password.',
  ),
  ...networkFields,
});

// describe: the tables and columns of the connection's database (the connector's or the override's).
const CATALOGUE_QUERY = `SELECT table_name AS table_name, column_name AS column_name, column_type AS data_type,
       is_nullable = 'YES' AS nullable
  FROM information_schema.columns
 WHERE table_schema = DATABASE()
 ORDER BY table_name, ordinal_position`;

const mysql: Provider<typeof config> = {
  id: 'mysql',
  type: 'database',
  description: 'MySQL and MariaDB databases, queried one parameterised statement at a time.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'connection_string', ['host', 'port', 'username', 'password'], 'host'),
    ...loginIssues(value, CONNECTION_STRING),
  ],
  operations: sqlOperations('mysql', (query) => !isReadStatement(query, 'mysql')),
  defaultOperation: 'query',

  async connect(settings, ctx) {
    const { default: mysql2 } = await import('mysql2/promise');
    const target = loginTarget(settings, CONNECTION_STRING);
    const options: ConnectionOptions = {
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password ?? '',
      database: target.database,
      ssl: target.ssl
        ? {
            ca: settings.tls_ca,
            cert: settings.tls_cert,
            key: settings.tls_key,
            rejectUnauthorized: settings.tls_reject_unauthorized,
            verifyIdentity: settings.tls_reject_unauthorized,
          }
        : undefined,
      // mysql2 dials through this socket (and layers TLS on it), so the egress policy sees the address dialled.
      stream: () => ctx.egress.connect({ host: target.host, port: target.port }).setNoDelay(true).setKeepAlive(true),
      connectTimeout: settings.connect_timeout_ms,
      // One statement per call, and the server may never read a file of the machine Patchbay runs on.
      multipleStatements: false,
      flags: ['-LOCAL_FILES', '-MULTI_STATEMENTS'],
      // Prepared statements are kept per connection; the server's max_prepared_stmt_count is shared by all.
      maxPreparedStatements: 8,
      // Values as JSON can carry them (DESIGN.md section 6): BIGINT and DECIMAL as strings, dates as text.
      supportBigNumbers: true,
      bigNumberStrings: true,
      decimalNumbers: false,
      dateStrings: true,
    };
    const pool = mysql2.createPool({ ...options, connectionLimit: ctx.poolMax, maxIdle: ctx.poolMax });
    // A connection that fails while idle must not end the process (an unhandled 'error' event would).
    pool.pool.on('connection', (connection) => {
      connection.on('error', (error: Error) => ctx.log.debug({ err: error }, 'a MySQL connection failed'));
    });
    // KILL QUERY needs a connection of its own: the one running the statement is busy.
    const killQuery = async (threadId: number) => {
      const connection = await mysql2.createConnection({ ...options, database: undefined });
      try {
        await connection.query(`KILL QUERY ${Math.trunc(threadId)}`);
      } finally {
        await connection.end().catch(() => connection.destroy());
      }
    };
    const session = new MysqlSession(pool, killQuery);
    try {
      (await session.acquire('read')).release();
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return withDescribe(session, CATALOGUE_QUERY);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    const { errno, sqlState, code, fatal } = error as { errno?: unknown; sqlState?: unknown; code?: unknown; fatal?: unknown };
    if (code === 'HANDSHAKE_NO_SSL_SUPPORT') return 'tls_error';
    if (typeof errno !== 'number' || typeof sqlState !== 'string') return undefined;
    if (Object.hasOwn(ERRNO_CODES, errno)) return ERRNO_CODES[errno];
    // Any other error the server sent about the statement: the connection is fine. Fatal ones, connection-class
    // errors (SQLSTATE 08) and the server's limits on connections are upstream failures that discard the session.
    return fatal === true || sqlState.startsWith('08') || CONNECTION_ERRNOS.has(errno) ? undefined : 'query_failed';
  },
};

export default mysql;

// https://mariadb.com/kb/en/mariadb-error-code-reference/
const ERRNO_CODES: Readonly<Record<number, ErrorCode>> = {
  1045: 'auth_failed', // ER_ACCESS_DENIED_ERROR: wrong password, or no such user
  1130: 'auth_failed', // ER_HOST_NOT_PRIVILEGED: the user may not log in from here
  1698: 'auth_failed', // ER_ACCESS_DENIED_NO_PASSWORD_ERROR
  1251: 'auth_failed', // ER_NOT_SUPPORTED_AUTH_MODE
  1862: 'auth_failed', // ER_MUST_CHANGE_PASSWORD_LOGIN
  1049: 'database_not_found', // ER_BAD_DB_ERROR
  1044: 'permission_denied', // ER_DBACCESS_DENIED_ERROR
  1142: 'permission_denied', // ER_TABLEACCESS_DENIED_ERROR
  1143: 'permission_denied', // ER_COLUMNACCESS_DENIED_ERROR
  1227: 'permission_denied', // ER_SPECIFIC_ACCESS_DENIED_ERROR
  1370: 'permission_denied', // ER_PROCACCESS_DENIED_ERROR
  1290: 'permission_denied', // ER_OPTION_PREVENTS_STATEMENT: a server running --read-only
  1792: 'read_only', // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: the read-only session refused a write
  1317: 'timeout', // ER_QUERY_INTERRUPTED: KILL QUERY at timeout_ms
  1969: 'timeout', // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  3024: 'timeout', // ER_QUERY_TIMEOUT (MySQL max_execution_time)
};

const CONNECTION_ERRNOS: ReadonlySet<number> = new Set([
  1040, // ER_CON_COUNT_ERROR: too many connections
  1053, // ER_SERVER_SHUTDOWN
  1129, // ER_HOST_IS_BLOCKED
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1226, // ER_USER_LIMIT_REACHED
  1927, // ER_CONNECTION_KILLED
]);

const CONNECTION_STRING: ConnectionStringDialect = {
  tlsParameters: {
    ssl: { true: true, false: false },
    'ssl-mode': { disabled: false, preferred: false, required: true, verify_ca: true, verify_identity: true },
  },
};
