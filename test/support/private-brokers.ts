import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { closedPort, type Address } from './listeners.js';
import { missingCommands, startServerProcess, type Missing } from './server-processes.js';
import { TcpStub } from './tcp-stub.js';

/**
 * Brokers a test starts for itself on 127.0.0.1 at a free port, where the machine's shared ones cannot show
 * something: Mosquitto and NATS with credentials and permissions (the shared ones accept anyone), a broker a
 * test may stop and start, and a TCP proxy whose connections a test may cut (a "restarted" RabbitMQ without
 * touching the shared server). Start them with top-level await, stop them in a top-level `after`.
 */

export interface PrivateBroker extends Address {
  /** Stops the broker and starts it again on the same port with the same files (JetStream data kept). */
  restart(): Promise<void>;
  /** Stops the broker and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

/** What `missingCommands` says cannot start. */
const BROKER = 'a private broker';

export interface MosquittoOptions {
  /** User name → password, written with `mosquitto_passwd -b`. */
  users: Record<string, string>;
  /** The acl_file's text (`user u` / `topic readwrite pb/#` lines). */
  acl: string;
}

/** A private Mosquitto that allows only the given users, each limited by the ACL. */
export async function startMosquitto(options: MosquittoOptions): Promise<PrivateBroker | Missing> {
  const missing = missingCommands(BROKER, 'mosquitto', 'mosquitto_passwd');
  if (missing) return missing;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-mosquitto-'));
  const passwords = path.join(dir, 'passwords');
  writeFileSync(passwords, '');
  for (const [user, password] of Object.entries(options.users)) {
    const made = spawnSync('mosquitto_passwd', ['-b', passwords, user, password], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`mosquitto_passwd failed: ${made.stderr}`);
  }
  writeFileSync(path.join(dir, 'acl'), options.acl);
  const port = await closedPort();
  const conf = path.join(dir, 'mosquitto.conf');
  // Run as the current user: started as root, Mosquitto would switch to a `mosquitto` user that cannot read these files.
  writeFileSync(
    conf,
    [
      `user ${os.userInfo().username}`,
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `password_file ${passwords}`,
      `acl_file ${path.join(dir, 'acl')}`,
      'persistence false',
      'log_dest none',
      '',
    ].join('\n'),
  );
  return startBroker('mosquitto', ['-c', conf], port, dir);
}

export interface NatsOptions {
  /** nats-server configuration text beside `listen` and `jetstream` (an `authorization { … }` block). */
  config: string;
  jetstream?: boolean;
}

/** A private nats-server with the given configuration, and JetStream storing under its own folder when asked. */
export async function startNats(options: NatsOptions): Promise<PrivateBroker | Missing> {
  const missing = missingCommands(BROKER, 'nats-server');
  if (missing) return missing;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-nats-'));
  const port = await closedPort();
  const conf = path.join(dir, 'nats.conf');
  const jetstream = options.jetstream ? `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'js'))} }` : '';
  writeFileSync(conf, [`listen: 127.0.0.1:${port}`, jetstream, options.config, ''].join('\n'));
  return startBroker('nats-server', ['-c', conf], port, dir);
}

/**
 * A TCP proxy on 127.0.0.1 at a free port, forwarding each connection to `target`. Its `openConnections` are the
 * client connections it carries; `dropConnections()` cuts them all, as a broker restart would, and goes on
 * accepting new ones.
 */
export async function startTcpProxy(target: Address): Promise<TcpStub> {
  const proxy = new TcpStub(
    net.createServer((client) => {
      const upstream = net.connect(target);
      upstream.on('error', () => undefined); // a dropped connection is what this proxy is for
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    }),
  );
  await proxy.start();
  return proxy;
}

/** A broker process on `port`, its files in `dir`, removed when it stops. */
async function startBroker(command: string, args: string[], port: number, dir: string): Promise<PrivateBroker> {
  const server = await startServerProcess(command, args, [port]);
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    restart: server.restart,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
