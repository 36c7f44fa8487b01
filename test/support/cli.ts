import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '../..');
const entry = path.join(root, 'src/cli/index.ts');
// Resolved here, not by the child: it may run in another working directory.
const tsx = import.meta.resolve('tsx');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `patchbay <args>` as a child process, the way a person would, with only the given environment. */
export function patchbay(args: string[], env: Record<string, string>): CliResult {
  const result = spawnSync(process.execPath, ['--import', tsx, entry, ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts a long-running `patchbay <args>` (serve); the caller stops it. */
export function spawnPatchbay(args: string[], env: Record<string, string>, cwd = root) {
  return spawn(process.execPath, ['--import', tsx, entry, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export const lastLine = (text: string) => text.trimEnd().split('\n').at(-1) ?? '';

/** A running `patchbay serve` started by servePatchbay. */
export interface ServedPatchbay {
  port: number;
  child: ReturnType<typeof spawnPatchbay>;
  output(): { stdout: string; stderr: string };
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
}

/** A loopback port free at the time of asking, for a server a test starts. */
export async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Starts `patchbay serve` on a free port and resolves once it answers /healthz (within 60 s). */
export async function servePatchbay(env: Record<string, string>, cwd: string): Promise<ServedPatchbay> {
  const port = await freePort();
  const child = spawnPatchbay(['serve', '--port', String(port)], { LOG_LEVEL: 'warn', ...env }, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited early: ${stderr}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`serve did not come up: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { port, child, exited, output: () => ({ stdout, stderr }) };
}
