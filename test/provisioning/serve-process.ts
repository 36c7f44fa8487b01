import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, spawnPatchbay } from '../support/cli.js';


/** `patchbay serve` as a child: resolves when it answers /healthz, or with its exit code and stderr if it stops. */
export async function serve(t: TestContext, env: Record<string, string>) {
  const port = await freePort();
  const child = spawnPatchbay(['serve', '--port', String(port), '--no-scheduler'], env);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  t.after(() => void (child.exitCode === null && child.kill('SIGKILL')));
  for (let attempt = 0; attempt < 600; attempt += 1) {
    if (child.exitCode !== null) return { up: false, code: child.exitCode, stderr, port };
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) {
      return {
        up: true,
        code: null,
        stderr,
        port,
        async stop() {
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    await sleep(100);
  }
  assert.fail(`serve did not come up: ${stderr}`);
}
