import net from 'node:net';

/**
 * The listening side of every server a test runs in its own process: the wire-protocol stubs (Kafka, MongoDB),
 * the HTTP peers and stubs, the plain listeners and the TCP proxy. It listens on 127.0.0.1, at a free port the
 * first time and on the same port after `stop()` (so a connector config stays valid across a restart), and
 * keeps every accepted connection, so that a test can count them and `stop()` can destroy them:
 * `server.close()` alone waits for open connections to end.
 */
export class TcpStub {
  readonly host = '127.0.0.1';
  port = 0;
  private readonly sockets = new Set<net.Socket>();

  /**
   * @param server what answers the connections (`net.createServer(handler)`, `http.createServer(handler)`),
   * listened on again by each `start()`, so listeners attached to it survive a restart.
   */
  constructor(readonly server: net.Server = net.createServer()) {
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined); // a client resetting its connection is expected here
    });
  }

  /** Listens: at a free port the first time, on the same port after `stop()`. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** False from the moment `stop()` is called until the next `start()` listens. */
  get listening(): boolean {
    return this.server.listening;
  }

  /** Client connections open now, as the server sees them. */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Destroys every open connection, as a crashed server would, and goes on listening. Returns how many. */
  dropConnections(): number {
    const dropped = this.sockets.size;
    for (const socket of this.sockets) socket.destroy();
    return dropped;
  }

  /**
   * Stops listening and destroys every open connection; safe to call twice. Resolves to how many connections it
   * destroyed. Everything up to the close happens at once, so a subclass sees `listening` false right after.
   */
  async stop(): Promise<number> {
    if (!this.server.listening) return 0;
    const closed = new Promise((resolve) => this.server.close(resolve));
    const dropped = this.dropConnections();
    await closed;
    return dropped;
  }

  /** `stop()` then `start()` on the same port: every open connection breaks. Resolves to how many did. */
  async restart(): Promise<number> {
    const dropped = await this.stop();
    await this.start();
    return dropped;
  }
}

/** How many bytes the frame at the head of `buffer` (at least 4 bytes) takes, its length prefix included. */
export type FrameSize = (buffer: Buffer) => number;

/** Kafka's framing: a big-endian int32 giving the size of what follows it. */
export const int32BESizePrefix: FrameSize = (buffer) => 4 + buffer.readInt32BE(0);

/** MongoDB's framing: a little-endian int32 giving the size of the whole message, itself included. */
export const int32LEMessageLength: FrameSize = (buffer) => buffer.readInt32LE(0);

/**
 * Cuts what a connection sends into length-prefixed frames and hands each, prefix included, to `handle`: one at
 * a time in arrival order, so answers go out in request order even when a handler waits (a Fetch waiting for
 * records, a slow command). A frame shorter than its own prefix cannot be parsed: the connection is closed, as a
 * server closes one it cannot read.
 */
export function readFrames(socket: net.Socket, frameSize: FrameSize, handle: (frame: Buffer) => Promise<void> | void): void {
  let buffer = Buffer.alloc(0);
  let queue = Promise.resolve();
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 4) {
      const size = frameSize(buffer);
      if (size < 4) {
        socket.destroy();
        return;
      }
      if (buffer.length < size) break;
      const frame = buffer.subarray(0, size);
      buffer = buffer.subarray(size);
      queue = queue.then(() => handle(frame));
    }
  });
}
