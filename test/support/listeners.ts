import net from 'node:net';
import type { TestContext } from 'node:test';

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

/**
 * A TCP server on 127.0.0.1 at a free port, handling each connection with `onConnection`. Closed after the
 * test, its open connections destroyed first (server.close() alone waits for them).
 */
async function listen(t: TestContext, onConnection: (socket: net.Socket) => void): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  let requested = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // a client resetting the connection is expected here
    socket.once('data', () => (requested += 1));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const drop = () => {
    for (const socket of sockets) socket.destroy();
  };
  t.after(async () => {
    drop();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    host: '127.0.0.1',
    port: (server.address() as net.AddressInfo).port,
    requested: () => requested,
    open: () => sockets.size,
    drop,
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
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
