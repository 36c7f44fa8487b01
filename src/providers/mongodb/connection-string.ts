/**
 * mongodb:// and mongodb+srv:// connection strings, read only as far as Patchbay needs: the seed hosts (checked
 * against the egress policy before the driver dials), the database in the path, and the options, of which only
 * those on ALLOWED_OPTIONS pass. Messages never quote the string: it may hold the password.
 */

export class ConnectionStringError extends Error {}

export interface MongoConnectionString {
  srv: boolean;
  /** Host names or IP addresses (IPv6 without brackets), one per seed. */
  hosts: string[];
  database?: string;
  /** Option names in lower case (the driver reads them case-insensitively). */
  options: Map<string, string>;
}

/**
 * Options that only choose among behaviours of the server the string names. Everything else is refused rather
 * than ignored: some would reach past the config (`proxyHost` dials a SOCKS proxy outside the egress check,
 * `tlsCAFile` and `tlsCertificateKeyFile` read files of the machine Patchbay runs on), others duplicate a field
 * (`tlsInsecure`: `tls_reject_unauthorized`; pool sizes and timeouts: Patchbay's own).
 */
const ALLOWED_OPTIONS = new Set([
  'appname',
  'authsource',
  'authmechanism',
  'replicaset',
  'tls',
  'ssl',
  'directconnection',
  'loadbalanced',
  'readpreference',
  'retryreads',
  'retrywrites',
  'w',
  'journal',
]);

/**
 * Mechanisms that authenticate with what the config holds. MONGODB-AWS, MONGODB-OIDC and GSSAPI are refused:
 * they would pick up the ambient identity of the machine Patchbay runs on (AWS credentials from its environment,
 * a cloud metadata token, a Kerberos ticket).
 */
const ALLOWED_MECHANISMS = new Set(['DEFAULT', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'PLAIN', 'MONGODB-X509']);

/** A database name MongoDB accepts: no `/\. "$` and no NUL, at most 63 bytes. */
export const DATABASE_NAME = /^[^/\\. "$\0]{1,63}$/;

export function parseConnectionString(text: string): MongoConnectionString {
  const scheme = /^(mongodb(?:\+srv)?):\/\//i.exec(text);
  if (!scheme) throw new ConnectionStringError('must start with mongodb:// or mongodb+srv://');
  const srv = (scheme[1] as string).toLowerCase() === 'mongodb+srv';
  const rest = text.slice(scheme[0].length);
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd < 0 ? '' : rest.slice(authorityEnd);
  const hostList = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostList === '') throw new ConnectionStringError('must name a host');
  const hosts = hostList.split(',').map(parseHost);
  if (srv && (hosts.length !== 1 || /:\d+$/.test(hostList))) {
    throw new ConnectionStringError('mongodb+srv:// takes one host name without a port');
  }

  const queryAt = tail.indexOf('?');
  const path = (queryAt < 0 ? tail : tail.slice(0, queryAt)).replace(/^\//, '');
  const database = path === '' ? undefined : decode(path);
  if (database !== undefined && !DATABASE_NAME.test(database)) throw new ConnectionStringError('names an invalid database');

  const options = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(queryAt < 0 ? '' : tail.slice(queryAt + 1))) {
    const key = name.toLowerCase();
    if (!ALLOWED_OPTIONS.has(key)) {
      throw new ConnectionStringError(`has an unsupported option ${name}; use the config fields instead`);
    }
    if (key === 'authmechanism' && !ALLOWED_MECHANISMS.has(value.toUpperCase())) {
      throw new ConnectionStringError(`authMechanism ${value} is not supported`);
    }
    options.set(key, value);
  }
  return { srv, hosts, database, options };
}

/** `host`, `host:port`, `[v6]` or `[v6]:port`, to the bare host. */
function parseHost(entry: string): string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/@[\]]+))(?::(\d{1,5}))?$/.exec(entry);
  const port = match?.[3] === undefined ? 1 : Number(match[3]);
  if (!match || port < 1 || port > 65_535) throw new ConnectionStringError('has an invalid host or port');
  const host = match[1] ?? decode(match[2] as string);
  // A percent-encoded path is a Unix socket, which the driver would open without asking the egress guard.
  if (/[/\s@]/.test(host)) throw new ConnectionStringError('has an invalid host (Unix sockets are not supported)');
  return host;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConnectionStringError('has invalid percent-encoding');
  }
}
