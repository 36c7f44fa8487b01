import { spawn, spawnSync } from 'node:child_process';
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
