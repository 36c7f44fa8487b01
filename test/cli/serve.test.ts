import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { patchbay, spawnPatchbay } from '../support/cli.js';

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  return port;
}

/** Starts `patchbay serve`, waits until it answers /healthz, and returns what it printed so far. */
async function serve(env: Record<string, string>, cwd: string) {
  const port = await freePort();
  const child = spawnPatchbay(['serve', '--port', String(port)], { LOG_LEVEL: 'warn', ...env }, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited early: ${stderr}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`serve did not come up: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    port,
    output: () => ({ stdout, stderr }),
    async stop() {
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

describe('patchbay serve', () => {
  it('starts on the embedded default with a dev key warning and a first admin key, and stops cleanly on SIGTERM', async (t) => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'patchbay-serve-'));
    t.after(() => rmSync(cwd, { recursive: true, force: true }));
    const server = await serve({}, cwd);
    const { stdout } = server.output();
    assert.match(stdout, /WARNING: no PATCHBAY_ENCRYPTION_KEYS set/);
    const key = /Initial admin API key, shown once: (pbk_\S+)/.exec(stdout)?.[1];
    assert.ok(key, stdout);

    const keyFile = path.join(cwd, 'data', 'initial-admin-key');
    assert.equal(readFileSync(keyFile, 'utf8').trim(), key);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(cwd, 'data', 'dev-encryption.key')).mode & 0o777, 0o600);
    assert.ok(statSync(path.join(cwd, 'data', 'patchbay.sqlite')).isFile());

    const me = await fetch(`http://127.0.0.1:${server.port}/api/v1/api-keys`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200);
    const registry = await fetch(`http://127.0.0.1:${server.port}/api/v1/openapi.json`);
    assert.equal(registry.status, 200);
    assert.equal(await server.stop(), 0);

    // The second start finds the organisation: no new key is printed.
    const again = await serve({}, cwd);
    assert.doesNotMatch(again.output().stdout, /Initial admin API key/);
    assert.equal(await again.stop(), 0);
  });

  it('refuses PostgreSQL without PATCHBAY_ENCRYPTION_KEYS in one line', () => {
    const result = patchbay(['serve'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test' });
    assert.equal(result.code, 1);
    assert.match(result.stderr.trim(), /^error: PATCHBAY_ENCRYPTION_KEYS: is required with PostgreSQL/);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });
});
