/**
 * `scheme://user:password@host:port/database?…` connection strings of the SQL providers, parsed here rather
 * than by the client library, so that a `database` field wins over the string's and no gap is filled from the
 * environment of the machine Patchbay runs on. Messages never quote the string: it holds the password.
 */

export class ConnectionStringError extends Error {}

export interface DatabaseUrl {
  host: string;
  port: number | undefined;
  user: string;
  password: string | undefined;
  database: string | undefined;
  /** Set when a TLS parameter says so. */
  ssl: boolean | undefined;
}

/**
 * `tlsParameters` names the query parameters that switch TLS, each with its values (lower-case) and what they
 * mean, e.g. `{ ssl: { true: true, false: false } }`. Any other parameter is refused rather than ignored.
 */
export function parseDatabaseUrl(
  text: string,
  tlsParameters: Readonly<Record<string, Readonly<Record<string, boolean>>>>,
): DatabaseUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConnectionStringError('is not a valid URL');
  }
  let ssl: boolean | undefined;
  for (const [name, value] of url.searchParams) {
    const values = Object.hasOwn(tlsParameters, name) ? tlsParameters[name] : undefined;
    const meaning = values && Object.hasOwn(values, value.toLowerCase()) ? values[value.toLowerCase()] : undefined;
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
