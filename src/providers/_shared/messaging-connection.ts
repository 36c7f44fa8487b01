import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { FieldError } from '../../errors.js';

/**
 * Where a broker is and as whom to log in, for the messaging providers that take a `url` or the separate
 * fields (rabbitmq, mqtt), and the TLS options of the common `tls_*` fields.
 */

/** A broker URL's parts, percent-decoded; `path` without its leading slash. */
interface BrokerUrl {
  scheme: string;
  host: string;
  port?: number;
  username?: string;
  password?: string;
  path: string;
}

class BrokerUrlError extends Error {}

/**
 * scheme://[user[:password]@]host[:port][/path], without a query string or fragment: they would carry client
 * options this parser does not read, and a silently ignored option is worse than a refusal. Messages never
 * quote the URL: it holds the password.
 */
export function parseBrokerUrl(text: string, schemes: readonly string[]): BrokerUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BrokerUrlError('is not a valid URL');
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!schemes.includes(scheme)) throw new BrokerUrlError(`must start with ${schemes.map((s) => `${s}://`).join(' or ')}`);
  if (url.hostname === '') throw new BrokerUrlError('must name a host');
  if (url.search !== '' || url.hash !== '') throw new BrokerUrlError('must not have a query string or fragment');
  try {
    return {
      scheme,
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port === '' ? undefined : Number(url.port),
      username: url.username === '' ? undefined : decodeURIComponent(url.username),
      password: url.password === '' ? undefined : decodeURIComponent(url.password),
      path: decodeURIComponent(url.pathname.replace(/^\//, '')),
    };
  } catch {
    throw new BrokerUrlError('has a malformed percent-encoding');
  }
}

/** A `url` problem for a config's refine, at `url`. */
export function brokerUrlIssues(url: string | undefined, schemes: readonly string[]): FieldError[] {
  if (url === undefined) return [];
  try {
    parseBrokerUrl(url, schemes);
    return [];
  } catch (error) {
    if (!(error instanceof BrokerUrlError)) throw error;
    return [{ path: 'url', message: error.message }];
  }
}

/** The `tls_*` fields every network provider takes. */
interface TlsFields {
  tls_ca?: string;
  tls_cert?: string;
  tls_key?: string;
  tls_reject_unauthorized: boolean;
}

/** node:tls options from the `tls_*` fields; `servername` for SNI and certificate checks when dialling a name. */
export function tlsOptions(settings: TlsFields, host: string): ConnectionOptions {
  return {
    ca: settings.tls_ca,
    cert: settings.tls_cert,
    key: settings.tls_key,
    rejectUnauthorized: settings.tls_reject_unauthorized,
    servername: isIP(host) === 0 ? host : undefined,
  };
}
