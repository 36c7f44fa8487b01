import { AsyncLocalStorage } from 'node:async_hooks';
import { isIP, type Socket } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { NatsConnectionImpl, setTransportFactory, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { NodeTransport } from '@nats-io/transport-node/lib/node_transport.js';
import { EgressDeniedError, type EgressGuard } from '../../net/egress.js';

/**
 * NATS connections that dial through the egress guard. The node client takes no socket factory: it opens
 * sockets with net.createConnection inside its transport, made by a factory that is global to the process.
 * This module installs a transport whose dial() goes through `ctx.egress.connect()`, and finds the guard of
 * the connect in progress through an AsyncLocalStorage (every dial of a connect runs in its async context),
 * so concurrent connects with different guards never mix. Every address the client dials, a name, an IP
 * literal or a cluster peer the server gossiped, is checked there.
 */

const dialling = new AsyncLocalStorage<EgressGuard>();

class GuardedTransport extends NodeTransport {
  constructor(private readonly guard: EgressGuard | undefined) {
    super();
  }

  // The client names the TLS peer only for a host name (tlsName); for an IP literal node:tls would check the
  // certificate against "localhost". Checked against the address dialled instead, as for every other provider.
  override connect(hp: { hostname: string; port: number; tlsName: string }, options: ConnectionOptions): Promise<void> {
    if (hp.tlsName || isIP(hp.hostname) === 0 || typeof options.tls !== 'object' || options.tls === null) {
      return super.connect(hp, options);
    }
    const tls = { ...options.tls, checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(hp.hostname, cert) };
    return super.connect(hp, { ...options, tls });
  }

  // NodeTransport.dial without net.createConnection: the same events, on a guarded socket.
  override dial(hp: { hostname: string; port: number }): Promise<Socket> {
    return new Promise((resolve, reject) => {
      if (!this.guard) {
        reject(new EgressDeniedError('a NATS connection was dialled outside a Patchbay connect'));
        return;
      }
      let dialError: Error | undefined;
      const socket = this.guard.connect({ host: hp.hostname, port: hp.port });
      socket.once('connect', () => {
        socket.removeAllListeners();
        resolve(socket);
      });
      socket.on('error', (error) => (dialError = error));
      socket.on('close', () => {
        socket.removeAllListeners();
        reject(dialError ?? new Error(`the connection to ${hp.hostname}:${hp.port} closed`));
      });
      socket.setNoDelay(true);
    });
  }
}

/**
 * Connects with `options`, every socket dialled through `guard`. Reconnecting is off (the harness replaces a
 * broken session), so no dial happens after this returns.
 */
export async function connectThroughGuard(options: ConnectionOptions, guard: EgressGuard): Promise<NatsConnection> {
  // Set on every connect: anything else in the process that calls the client's own connect() installs its
  // unguarded transport globally; the check below refuses a connection that was made with it.
  setTransportFactory({ factory: () => new GuardedTransport(dialling.getStore()), defaultPort: 4222 });
  const connection = await dialling.run(guard, () => NatsConnectionImpl.connect({ ...options, reconnect: false }));
  if (!((connection as NatsConnectionImpl).protocol.transport instanceof GuardedTransport)) {
    await connection.close();
    throw new EgressDeniedError('the NATS client dialled without the egress guard');
  }
  return connection;
}
