import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { generateKey } from '../../src/crypto/fernet.js';
import { startServer } from '../../src/server.js';
import { freePort, patchbay, spawnPatchbay } from '../support/cli.js';


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

  it('never writes the initial admin key through a planted link or over a file already there', async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-serve-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(path.join(dir, 'data'));
    const keyFile = path.join(dir, 'data', 'initial-admin-key');
    const target = path.join(dir, 'elsewhere');
    writeFileSync(target, 'precious\n');
    symlinkSync(target, keyFile);
    const dangling = path.join(dir, 'other', 'initial-admin-key');
    mkdirSync(path.dirname(dangling));
    symlinkSync(path.join(dir, 'not-yet'), dangling);

    for (const [folder, planted] of [['data', target], ['other', path.join(dir, 'not-yet')]] as const) {
      const lines: string[] = [];
      const config = loadConfig({
        DATABASE_URL: `sqlite:${path.join(dir, folder, 'patchbay.sqlite')}`,
        PATCHBAY_ENCRYPTION_KEYS: generateKey(),
        PATCHBAY_SQLITE_ROOT: path.join(dir, 'sqlite'),
        PORT: '0',
        LOG_LEVEL: 'silent',
      });
      const app = await startServer({ config, scheduler: false, print: (line) => lines.push(line) });
      t.after(() => app.close());
      const output = lines.join('\n');
      const key = /Initial admin API key, shown once: (pbk_\S+)/.exec(output)?.[1];
      assert.ok(key, output);
      // The first key is on the operators' record of the installation.
      const events = await app.inject({ method: 'GET', url: '/api/v1/installation/audit-events', headers: { authorization: `Bearer ${key}` } });
      assert.equal(events.statusCode, 200, events.body);
      const [created] = (events.json() as { data: { action: string; detail: { via: string } }[] }).data;
      assert.deepEqual([created?.action, created?.detail.via], ['api_key.create', 'bootstrap']);
      assert.ok(!events.body.includes(key));
      await app.close();
      assert.match(output, /WARNING: did not write .*initial-admin-key/);
      assert.ok(lstatSync(path.join(dir, folder, 'initial-admin-key')).isSymbolicLink(), 'the link is left as it was');
      if (planted === target) assert.equal(readFileSync(target, 'utf8'), 'precious\n');
      else assert.ok(!existsSync(planted), 'nothing was created at the link target');
      assert.ok(!existsSync(planted) || !readFileSync(planted, 'utf8').includes(key));
    }
  });

  it('refuses a PATCHBAY_SQLITE_ROOT that contains its own database folder, even through a link, in one line', (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-serve-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(path.join(dir, 'data'));
    symlinkSync(dir, path.join(dir, 'link'));
    const env = { DATABASE_URL: `sqlite:${path.join(dir, 'data', 'patchbay.sqlite')}`, PATCHBAY_ENCRYPTION_KEYS: generateKey() };
    for (const root of [path.join(dir, 'data'), dir, path.join(dir, 'link')]) {
      const result = patchbay(['serve', '--port', '0'], { ...env, PATCHBAY_SQLITE_ROOT: root });
      assert.equal(result.code, 1, result.stdout);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /^error: PATCHBAY_SQLITE_ROOT: .* contains Patchbay's own database folder/);
    }
    assert.ok(!existsSync(path.join(dir, 'data', 'patchbay.sqlite')), 'refused before the database was opened');
  });
});
