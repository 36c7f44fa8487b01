import type { FieldError } from '../../errors.js';

/**
 * Where and as whom the SQL providers log in: `scheme://user:password@host:port/database?…` connection strings
 * parsed here rather than by the client library, so that a `database` field wins over the string's and no gap
 * is filled from the environment of the machine Patchbay runs on. Messages never quote the string: it holds
 * the password.
 */

class ConnectionStringError extends Error {}

/** What a provider's connection strings may say besides the login: the query parameters that switch TLS. */
export interface ConnectionStringDialect {
  /**
   * Each parameter with its values and what they mean, e.g. `{ ssl: { true: true, false: false } }`, values in
   * lower case unless `exactCase`. Any other parameter is refused rather than ignored.
   */
  tlsParameters: Readonly<Record<string, Readonly<Record<string, boolean>>>>;
  /**
   * Match a value as written: libpq refuses `sslmode=REQUIRE`, where MySQL reads `ssl-mode=REQUIRED` and
   * `required` alike. @default false
   */
  exactCase?: boolean;
}

/** The login fields of a SQL provider's parsed config (hostField, portField, usernameField, …). */
export interface LoginFields {
  host?: string;
  port: number;
  username?: string;
  password?: string;
  database?: string;
  ssl: boolean;
  connection_string?: string;
}

export interface LoginTarget {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  /** The `database` field, else the connection string's; undefined when neither names one. */
  database: string | undefined;
  ssl: boolean;
}

/** Where and as whom to log in: connection_string or the separate fields; `database` always wins. */
export function loginTarget(settings: LoginFields, dialect: ConnectionStringDialect): LoginTarget {
  const url = settings.connection_string === undefined ? undefined : parseDatabaseUrl(settings.connection_string, dialect);
  return {
    host: url?.host ?? settings.host ?? '',
    port: url?.port ?? settings.port,
    user: url?.user ?? settings.username ?? '',
    password: url === undefined ? settings.password : url.password,
    database: settings.database ?? url?.database,
    ssl: url?.ssl ?? settings.ssl,
  };
}

/**
 * A config's login problems, for its refine. A user to log in as is required: given none, pg would log in as
 * the operating-system user running Patchbay, and MySQL as an anonymous account where one exists.
 */
export function loginIssues(settings: LoginFields, dialect: ConnectionStringDialect): FieldError[] {
  if (settings.connection_string === undefined) {
    return settings.username === undefined ? [{ path: 'username', message: 'required unless connection_string is given' }] : [];
  }
  try {
    parseDatabaseUrl(settings.connection_string, dialect);
    return [];
  } catch (error) {
    if (!(error instanceof ConnectionStringError)) throw error;
    return [{ path: 'connection_string', message: error.message }];
  }
}

function parseDatabaseUrl(text: string, { tlsParameters, exactCase = false }: ConnectionStringDialect) {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConnectionStringError('is not a valid URL');
  }
  let ssl: boolean | undefined;
  for (const [name, value] of url.searchParams) {
    const values = Object.hasOwn(tlsParameters, name) ? tlsParameters[name] : undefined;
    const key = exactCase ? value : value.toLowerCase();
    const meaning = values && Object.hasOwn(values, key) ? values[key] : undefined;
    if (meaning === undefined) {
      throw new ConnectionStringError(`has an unsupported parameter ${name}; use the config fields instead`);
    }
    ssl = meaning;
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
