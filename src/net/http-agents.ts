import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { EgressGuard } from './egress.js';

/** TLS settings, named as a connector config's network fields name them (networkFields of providers/_shared). */
export interface TlsFields {
  tls_ca?: string;
  tls_cert?: string;
  tls_key?: string;
  tls_reject_unauthorized: boolean;
}

/**
 * Http and https agents whose every socket is dialled through the egress guard (its `connect` and
 * `tlsConnect`), so PATCHBAY_EGRESS is checked on the address actually dialled, IP literals included.
 * The one way Patchbay speaks HTTP: HttpClient (the api providers, webhook deliveries), the AWS SDK's request
 * handler, the Azure pipeline's `agent`, and Node's own http.request (gcs).
 */
export interface EgressAgents {
  http: http.Agent;
  https: https.Agent;
  /** The agent for a URL's protocol (Node refuses an http agent for an https URL and the reverse). */
  forUrl(url: string | URL): http.Agent;
  /** Destroys every socket, idle or in use: ends the calls still in flight. */
  destroy(): void;
}

export interface EgressAgentOptions {
  /** Sockets per origin, reused last in, first out. @default no limit */
  maxSockets?: number;
  /**
   * Sockets stay open for the next request; false gives every request a connection of its own, closed after
   * its answer. @default true
   */
  keepAlive?: boolean;
  /** @default the system roots (and NODE_EXTRA_CA_CERTS), the server's certificate verified */
  tls?: TlsFields;
  /**
   * Time a new socket has to connect and finish its TLS handshake; an `ETIMEDOUT` error past it.
   * @default none: the client library's own connection timeout (the AWS SDK's `connectionTimeout`) applies
   */
  connectTimeoutMs?: number;
}

export function egressAgents(egress: EgressGuard, options: EgressAgentOptions): EgressAgents {
  const { maxSockets = Infinity, keepAlive = true, tls = VERIFIED, connectTimeoutMs } = options;
  const pool = { keepAlive, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
  const ready = <S extends Duplex>(socket: S, event: 'connect' | 'secureConnect', target: string): S =>
    connectTimeoutMs === undefined ? socket : connectWithin(socket, event, connectTimeoutMs, target);

  class GuardedHttpAgent extends http.Agent {
    override createConnection(request: http.ClientRequestArgs): Duplex {
      const host = hostOf(request);
      const port = Number(request.port ?? 80);
      return ready(egress.connect({ host, port }), 'connect', `${host}:${port}`);
    }
  }
  class GuardedHttpsAgent extends https.Agent {
    // Node hands over the server name it derived from the Host header ('' for an IP address: no SNI).
    override createConnection(request: https.RequestOptions & { servername?: string }): Duplex {
      const host = hostOf(request);
      const port = Number(request.port ?? 443);
      const socket = egress.tlsConnect({
        host,
        port,
        servername: request.servername || undefined,
        ca: tls.tls_ca,
        cert: tls.tls_cert,
        key: tls.tls_key,
        rejectUnauthorized: tls.tls_reject_unauthorized,
        // Every client here speaks HTTP/1.1 only; saying so keeps a server that also offers h2 from choosing it.
        ALPNProtocols: ['http/1.1'],
      });
      return ready(socket, 'secureConnect', `${host}:${port}`);
    }
  }

  const agents = { http: new GuardedHttpAgent(pool), https: new GuardedHttpsAgent(pool) };
  return {
    ...agents,
    forUrl: (url) => (new URL(url).protocol === 'https:' ? agents.https : agents.http),
    destroy() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

const VERIFIED: TlsFields = { tls_reject_unauthorized: true };

// Node hands the agent the URL's hostname, an IPv6 literal without its brackets.
const hostOf = (request: http.ClientRequestArgs): string => request.hostname ?? request.host ?? 'localhost';

/** Arms `ms` on a new socket until it has connected (and finished its TLS handshake). */
function connectWithin<S extends Duplex>(socket: S, ready: 'connect' | 'secureConnect', ms: number, target: string): S {
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error(`connecting to ${target} timed out after ${ms} ms`), { code: 'ETIMEDOUT' }));
  }, ms);
  socket.once(ready, () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  return socket;
}
