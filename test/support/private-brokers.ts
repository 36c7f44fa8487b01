import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { closedPort, type Address } from './listeners.js';
import { TcpStub } from './tcp-stub.js';

/**
 * Brokers a test starts for itself on 127.0.0.1 at a free port, where the machine's shared ones cannot show
 * something: Mosquitto and NATS with credentials and permissions (the shared ones accept anyone), a broker a
 * test may stop and start, and a TCP proxy whose connections a test may cut (a "restarted" RabbitMQ without
 * touching the shared server). Start them with top-level await, stop them in a top-level `after`.
 */

/** How long a starting broker may take to accept connections. */
const START_TIMEOUT_MS = 15_000;
/** How long a stopping broker may take before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

export interface PrivateBroker extends Address {
  /** Stops the broker and starts it again on the same port with the same files (JetStream data kept). */
  restart(): Promise<void>;
  /** Stops the broker and removes its files; safe to call twice. */
  stop(): Promise<void>;
}

/** A broker that could not start here, and why: `requireBroker` skips (or fails under CI) with the reason. */
export interface MissingBroker {
  missing: string;
}

export interface MosquittoOptions {
  /** User name → password, written with `mosquitto_passwd -b`. */
  users: Record<string, string>;
  /** The acl_file's text (`user u` / `topic readwrite pb/#` lines). */
  acl: string;
}

/** A private Mosquitto that allows only the given users, each limited by the ACL. */
export async function startMosquitto(options: MosquittoOptions): Promise<PrivateBroker | MissingBroker> {
  const missing = missingCommand('mosquitto', 'mosquitto_passwd');
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
  return startProcess('mosquitto', ['-c', conf], port, dir);
}

export interface NatsOptions {
  /** nats-server configuration text beside `listen` and `jetstream` (an `authorization { … }` block). */
  config: string;
  jetstream?: boolean;
}

/** A private nats-server with the given configuration, and JetStream storing under its own folder when asked. */
export async function startNats(options: NatsOptions): Promise<PrivateBroker | MissingBroker> {
  const missing = missingCommand('nats-server');
  if (missing) return missing;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-nats-'));
  const port = await closedPort();
  const conf = path.join(dir, 'nats.conf');
  const jetstream = options.jetstream ? `jetstream { store_dir: ${JSON.stringify(path.join(dir, 'js'))} }` : '';
  writeFileSync(conf, [`listen: 127.0.0.1:${port}`, jetstream, options.config, ''].join('\n'));
  return startProcess('nats-server', ['-c', conf], port, dir);
}

/** Whether the broker started; skips `t` otherwise (or fails it under CI=true, as requireServer does). */
export function requireBroker(t: TestContext, broker: PrivateBroker | MissingBroker): broker is PrivateBroker {
  if (!('missing' in broker)) return true;
  if (process.env.CI === 'true') throw new Error(broker.missing);
  t.skip(broker.missing);
  return false;
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

function missingCommand(...commands: string[]): MissingBroker | undefined {
  const absent = commands.filter((command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  return absent.length === 0 ? undefined : { missing: `${absent.join(' and ')} not installed; a private broker cannot start` };
}

// Children still running when the test process exits (a crash, an interrupted run) are killed with it.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function startProcess(command: string, args: string[], port: number, dir: string): Promise<PrivateBroker> {
  let child: ChildProcess | undefined;
  let stopped = false;
  const start = async () => {
    const started = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
    running.add(started);
    started.once('exit', () => running.delete(started));
    child = started;
    await waitForPort(port, started, () => stderr);
  };
  const halt = async () => {
    const current = child;
    child = undefined;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill('SIGTERM');
    const killer = setTimeout(() => current.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(killer);
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    restart: async () => {
      await halt();
      await start();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode}: ${stderr()}`);
    if (await accepts(port)) return;
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`${child.spawnfile} did not listen on port ${port} within ${START_TIMEOUT_MS} ms: ${stderr()}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
