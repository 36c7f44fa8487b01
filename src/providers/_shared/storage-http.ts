import http from 'node:http';
import https from 'node:https';
import type { EgressGuard } from '../egress.js';

/** The TLS fields of networkFields, as a parsed config carries them. */
export interface TlsFields {
  tls_ca?: string;
  tls_cert?: string;
  tls_key?: string;
  tls_reject_unauthorized: boolean;
}

/**
 * Keep-alive http and https agents whose every socket is dialled through the egress guard (its `connect`
 * and `tlsConnect`), so PATCHBAY_EGRESS is checked on the address actually dialled, IP literals included.
 * For the HTTP client libraries of the storage providers: the AWS SDK's request handler, the Azure
 * pipeline's `agent`, and Node's own http.request.
 */
export interface EgressAgents {
  http: http.Agent;
  https: https.Agent;
  /** The agent for a URL's protocol (Node refuses an http agent for an https URL and the reverse). */
  forUrl(url: string | URL): http.Agent;
  /** Destroys every socket, idle or in use: ends the calls still in flight. */
  destroy(): void;
}

export function egressAgents(egress: EgressGuard, options: { maxSockets: number; tls: TlsFields }): EgressAgents {
  const { maxSockets, tls } = options;
  const pool = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };

  class GuardedHttpAgent extends http.Agent {
    override createConnection(request: http.ClientRequestArgs) {
      return egress.connect({ host: hostOf(request), port: Number(request.port ?? 80) });
    }
  }
  class GuardedHttpsAgent extends https.Agent {
    override createConnection(request: https.RequestOptions) {
      return egress.tlsConnect({
        host: hostOf(request),
        port: Number(request.port ?? 443),
        ca: tls.tls_ca,
        cert: tls.tls_cert,
        key: tls.tls_key,
        rejectUnauthorized: tls.tls_reject_unauthorized,
        ALPNProtocols: ['http/1.1'],
      });
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

// Node hands the agent the URL's hostname, an IPv6 literal without its brackets.
const hostOf = (request: http.ClientRequestArgs): string => request.hostname ?? request.host ?? 'localhost';
