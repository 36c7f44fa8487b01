import net from 'node:net';
import type { TestContext } from 'node:test';

/** The servers the machine runs for the tests, at their standard ports, and how to start each one. */
export const servers = {
  postgresql: { port: 5432, start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' },
  mariadb: { port: 3306, start: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd' },
  redis: { port: 6379, start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no' },
  rabbitmq: { port: 5672, start: 'rabbitmq-server -detached' },
  mosquitto: { port: 1883, start: 'mosquitto -d -c /etc/mosquitto/mosquitto.conf' },
  nats: { port: 4222, start: 'nats-server -a 127.0.0.1 -p 4222 -js' },
} as const;

export type ServerId = keyof typeof servers;

const reachable = new Map<ServerId, Promise<boolean>>();

/** Whether something on 127.0.0.1 accepts a connection on `port` now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    // Generous: on a loaded machine a slow accept must not pass for a missing server (a skip, or a CI failure).
    socket.setTimeout(5000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Resolves when the server answers on its port. Outside CI a missing server skips the calling test with a
 * message naming the server and how to start it; with CI=true it fails the test instead.
 */
export async function requireServer(t: TestContext, id: ServerId): Promise<boolean> {
  const server = servers[id];
  let check = reachable.get(id);
  if (!check) {
    check = accepts(server.port);
    reachable.set(id, check);
  }
  if (await check) return true;
  const message = `${id} is not running on 127.0.0.1:${server.port}; start it with: ${server.start}`;
  if (process.env.CI === 'true') throw new Error(message);
  t.skip(message);
  return false;
}
