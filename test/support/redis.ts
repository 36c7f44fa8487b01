import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { closedPort, type Address } from './listeners.js';

/**
 * The tests' own channel to Redis, beside Patchbay: to set data up, look at it, create ACL users, kill a
 * session, publish and subscribe; and private redis-server instances a test starts on a free port.
 */

export const REDIS: Address = { host: '127.0.0.1', port: 6379 };

type Client = ReturnType<typeof createClient>;

/** A connected client of the test's own (database `db`, default user unless given). */
export async function redisClient(options: { address?: Address; db?: number; password?: string } = {}): Promise<Client> {
  const { host, port } = options.address ?? REDIS;
  const client = createClient({
    socket: { host, port, reconnectStrategy: false },
    database: options.db ?? 0,
    password: options.password,
    disableClientInfo: true,
  });
  client.on('error', () => undefined); // a killed or stopped server is expected in these tests
  await client.connect();
  return client;
}

/** One command on a connection of its own, closed afterwards. */
export async function redisCommand(command: string[], options: Parameters<typeof redisClient>[0] = {}): Promise<unknown> {
  const client = await redisClient(options);
  try {
    return await client.sendCommand(command);
  } finally {
    client.destroy();
  }
}

/** An ACL user with a password and the given rules (`+@all -get`); `drop` deletes it, which ends its connections. */
export async function aclUser(name: string, password: string, rules: string[] = ['+@all']) {
  await redisCommand(['ACL', 'SETUSER', name, 'reset', 'on', `>${password}`, '~*', '&*', ...rules]);
  return { name, password, drop: async () => void (await redisCommand(['ACL', 'DELUSER', name])) };
}

/** How many clients Redis lists that match the CLIENT LIST filter (`ID 12`, `USER u`). */
export async function connectedClients(filter: 'ID' | 'USER', value: string): Promise<number> {
  const list = String(await redisCommand(['CLIENT', 'LIST']));
  const field = filter === 'ID' ? `id=${value} ` : ` user=${value} `;
  return list.split('\n').filter((line) => ` ${line} `.includes(field)).length;
}

/** Waits until Redis no longer lists a client matching the CLIENT LIST filter (`ID 12`, `USER u`). */
export async function waitUntilGone(filter: 'ID' | 'USER', value: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    if ((await connectedClients(filter, value)) === 0) return;
    await sleep(20);
  }
  throw new Error(`a Redis client with ${filter} ${value} is still connected`);
}

/**
 * A redis-server of the test's own on 127.0.0.1 at a free port, with extra arguments (`--databases 2`),
 * stopped after the test. Undefined (the test skipped) when redis-server is not installed.
 */
export async function privateRedis(t: TestContext, args: string[] = []): Promise<Address | undefined> {
  const port = await closedPort();
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const missing = await Promise.race([
    new Promise<boolean>((resolve) => server.once('error', () => resolve(true))),
    sleep(50).then(() => false),
  ]);
  if (missing) {
    if (process.env.CI === 'true') throw new Error('redis-server is not installed');
    t.skip('redis-server is not installed');
    return undefined;
  }
  t.after(async () => {
    server.kill('SIGTERM');
    await exited;
  });
  const address = { host: '127.0.0.1', port };
  const passwordAt = args.indexOf('--requirepass');
  const password = passwordAt >= 0 ? args[passwordAt + 1] : undefined;
  for (let attempt = 0; ; attempt += 1) {
    try {
      await redisCommand(['PING'], { address, password });
      return address;
    } catch (error) {
      if (attempt >= 100) throw error;
      await sleep(50);
    }
  }
}

/** A subscriber of the test's own: what arrived on `channel`, in order. */
export async function subscriber(channel: string) {
  const client = await redisClient();
  const received: Buffer[] = [];
  await client.subscribe(channel, (message) => void received.push(message), true);
  return { received, close: () => client.destroy() };
}

/** Publishes `tick <n>` on `channel` every `everyMs` until stopped: traffic for a consume to see. */
export async function ticker(channel: string, everyMs = 20) {
  const client = await redisClient();
  let count = 0;
  const timer = setInterval(() => void client.publish(channel, `tick ${(count += 1)}`).catch(() => undefined), everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      client.destroy();
    },
  };
}
