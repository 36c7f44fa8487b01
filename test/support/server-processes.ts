import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { accepts } from './servers.js';

/**
 * Servers a test starts as child processes of its own (private brokers, TLS servers), on ports it chose: started,
 * waited for until they accept connections, stopped (and started again) by the test.
 */

/** How long a starting server may take to accept connections on every port. */
const START_TIMEOUT_MS = 15_000;
/** How long a stopping server may take before it is killed. */
const STOP_TIMEOUT_MS = 5_000;

/** A server that could not start here, and why: `requireReady` skips (or fails under CI) with the reason. */
export interface Missing {
  missing: string;
}

/** Whether `value` is ready; skips `t` otherwise, or fails it under CI=true (as requireServer does). */
export function requireReady<T extends object>(t: TestContext, value: T | Missing): value is T {
  if (!('missing' in value)) return true;
  if (process.env.CI === 'true') throw new Error(value.missing);
  t.skip(value.missing);
  return false;
}

/** The commands not installed here, as the reason `what` (`a private broker`) cannot start; undefined if none. */
export function missingCommands(what: string, ...commands: string[]): Missing | undefined {
  const absent = commands.filter((command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
  return absent.length === 0 ? undefined : { missing: `${absent.join(' and ')} not installed; ${what} cannot start` };
}

export interface ServerProcess {
  /** Stops the process and starts it again with the same arguments, waiting for its ports again. */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s; safe to call twice. */
  stop(): Promise<void>;
}

// Children still running when the test process exits (a crash, an interrupted run) are killed with it.
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Starts `command` and resolves once every one of `ports` on 127.0.0.1 accepts connections. */
export async function startServerProcess(command: string, args: string[], ports: number[]): Promise<ServerProcess> {
  let child: ChildProcess | undefined;
  const start = async () => {
    const started = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    started.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2_000)));
    running.add(started);
    started.once('exit', () => running.delete(started));
    child = started;
    await waitForPorts(started, ports, () => stderr);
  };
  const stop = async () => {
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
    restart: async () => {
      await stop();
      await start();
    },
    stop,
  };
}

async function waitForPorts(child: ChildProcess, ports: number[], stderr: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (const port of ports) {
    while (!(await accepts(port))) {
      if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode}: ${stderr()}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`${child.spawnfile} did not listen on port ${port} within ${START_TIMEOUT_MS} ms: ${stderr()}`);
      }
      await sleep(50);
    }
  }
}
