import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { signatureHeader } from '../../../src/services/health/webhook-service.js';
import { closedPort } from '../../support/listeners.js';
import { client, ok } from '../../support/http.js';
import { healthSetup, pgAt } from './support.js';

/** The receiver of the README's "Monitoring and alerts" section, exactly as printed there. */
function readmeReceiver(): string {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Monitoring and alerts'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'the README has a receiver example');
  return code;
}

async function listening(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(() => resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await sleep(100);
  }
  throw new Error('the receiver did not start');
}

describe('the README webhook receiver', () => {
  it('accepts a real delivery and refuses a forged or replayed one', async (t) => {
    const setup = await healthSetup(t, { follow: true });
    if (!setup) return;
    const { ctx, admin, services } = setup;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-receiver-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(path.join(dir, 'receiver.mjs'), readmeReceiver());
    const secret = 'readme-receiver-secret-0123';
    const port = await closedPort();
    const child = spawn(process.execPath, ['receiver.mjs'], { cwd: dir, env: { PATCHBAY_WEBHOOK_SECRET: secret, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    t.after(() => void child.kill());
    await listening(port);

    const asAdmin = client(ctx.app, admin.key);
    const hook = ok<{ id: string }>(await asAdmin('POST', '/webhooks', { url: `http://127.0.0.1:${port}/`, events: ['connector.deleted'], secret }), 201);
    const connector = ok<{ id: string }>(await asAdmin('POST', '/connectors', { name: 'to-delete', connector_type: 'database', provider: 'postgresql', config: pgAt(5432) }), 201);
    await asAdmin('DELETE', `/connectors/${connector.id}`);
    assert.equal(await services.webhooks.dispatchDue(), 1);
    const [delivery] = ok<{ data: { status: string; last_status_code: number }[] }>(await asAdmin('GET', `/webhooks/${hook.id}/deliveries`)).data;
    assert.deepEqual([delivery?.status, delivery?.last_status_code], ['delivered', 204]);
    for (let i = 0; i < 50 && !stdout.includes('connector.deleted'); i += 1) await sleep(50);
    assert.match(stdout, /^connector\.deleted to-delete /m);

    const body = JSON.stringify({ id: 'x', type: 'connector.failing', data: { connector: { name: 'forged', status: 'failing' } } });
    const post = (signature: string) =>
      fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'patchbay-signature': signature }, body });
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await post(signatureHeader('not-the-secret-at-all', body, now))).status, 401, 'forged');
    assert.equal((await post(signatureHeader(secret, body, now - 3600))).status, 401, 'replayed an hour later');
    assert.equal((await post(signatureHeader(secret, body, now))).status, 204);
  });
});
