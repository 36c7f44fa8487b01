import net from 'node:net';
import type { TestContext } from 'node:test';
import { TcpStub } from './tcp-stub.js';

/** Where a test peer listens. */
export interface Address {
  host: string;
  port: number;
}

/** A test peer and what reached it. */
export interface Listener extends Address {
  /** Connections on which the client has sent something (a request, a handshake). */
  requested(): number;
  /** Connections open now. */
  open(): number;
  /** Destroys every open connection (the peer gives up on them). */
  drop(): void;
}

/** A TCP server on 127.0.0.1 at a free port, handling each connection with `onConnection`; stopped after the test. */
async function listen(t: TestContext, onConnection: (socket: net.Socket) => void): Promise<Listener> {
  let requested = 0;
  const listener = new TcpStub(
    net.createServer((socket) => {
      socket.once('data', () => (requested += 1));
      onConnection(socket);
    }),
  );
  await listener.start();
  t.after(() => listener.stop());
  return {
    host: listener.host,
    port: listener.port,
    requested: () => requested,
    open: () => listener.openConnections,
    drop: () => void listener.dropConnections(),
  };
}

/** A listener that accepts connections and never sends a byte: a peer that hangs, for `timeout`. */
export function silentListener(t: TestContext): Promise<Listener> {
  return listen(t, () => undefined);
}

/** A listener that resets each connection (TCP RST) once the client has sent its first bytes. */
export function resettingListener(t: TestContext): Promise<Listener> {
  return listen(t, (socket) => socket.once('data', () => socket.resetAndDestroy()));
}

/**
 * A listener that speaks plain text: it greets each connection with an HTTP 400 line and hangs up after the
 * client's first bytes. A TLS handshake against it fails (the greeting is no TLS record), for `tls_error`.
 */
export function plaintextListener(t: TestContext): Promise<Listener> {
  return listen(t, (socket) => {
    socket.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    socket.once('data', () => socket.end());
  });
}

/**
 * A port on 127.0.0.1 where nothing listens, for `connection_refused`: bound to find a free one, then
 * released. Another process could take it in between; on a test machine that does not happen in practice.
 */
export async function closedPort(): Promise<number> {
  const listener = new TcpStub();
  await listener.start();
  await listener.stop();
  return listener.port;
}
