import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnPatchbay } from '../support/cli.js';
import { provisioningSetup } from './support.js';

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  return port;
}

/** `patchbay serve` as a child: resolves when it answers /healthz, or with its exit code and stderr if it stops. */
async function serve(t: TestContext, env: Record<string, string>) {
  const port = await freePort();
  const child = spawnPatchbay(['serve', '--port', String(port), '--no-scheduler'], env);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  t.after(() => void (child.exitCode === null && child.kill('SIGKILL')));
  for (let attempt = 0; attempt < 600; attempt += 1) {
    if (child.exitCode !== null) return { up: false, code: child.exitCode, stderr };
    if (await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)) {
      return {
        up: true,
        code: null,
        stderr,
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

describe('PATCHBAY_PROVISIONING_DIR', () => {
  it('two serve processes starting together on one PostgreSQL database apply the folder once', async (t) => {
    const setup = await provisioningSetup(t, 'postgres');
    if (!setup) return;
    const dir = path.join(setup.dir, 'provisioning');
    mkdirSync(dir);
    setup.write(
      'provisioning/10-connectors.yaml',
      `organization: ${setup.organization.slug}
connectors:
  - name: orders
    provider: postgresql
    config:
      host: 127.0.0.1
      username: app
      password: \${env:ORDERS_PASSWORD}
agents:
  - id: support-bot
attachments:
  - agent: support-bot
    alias: orders
    connector: orders
`,
    );
    setup.write('provisioning/README.txt', 'not a provisioning file: ignored');
    const env = { ...setup.baseEnv, PATCHBAY_PROVISIONING_DIR: dir, ORDERS_PASSWORD: 'serve-canary-password' };
    const [first, second] = await Promise.all([serve(t, env), serve(t, env)]);
    assert.ok(first?.up, first?.stderr);
    assert.ok(second?.up, second?.stderr);
    const where = { where: { organization_id: setup.organization.id } };
    assert.equal(await setup.models.Connector.count(where), 1);
    assert.equal(await setup.models.AuditEvent.count({ where: { organization_id: setup.organization.id, action: 'connector.create' } }), 1, 'applied once');
    assert.equal(await setup.models.AuditEvent.count({ where: { organization_id: setup.organization.id, action: 'connector.attach' } }), 1);
    const row = await setup.models.Connector.findOne(where);
    assert.equal(setup.services.connectors.decrypt(row!).password, 'serve-canary-password');
    await Promise.all([first.stop?.(), second.stop?.()]);
  });

  it('a bad file stops start-up with one line naming file, line and field', async (t) => {
    const setup = await provisioningSetup(t, 'sqlite');
    if (!setup) return;
    const dir = path.join(setup.dir, 'provisioning');
    mkdirSync(dir);
    const file = setup.write(
      'provisioning/patchbay.yaml',
      `organization: ${setup.organization.slug}
connectors:
  - name: orders
    provider: postgresql
    config:
      host: 127.0.0.1
      username: app
      password: literal-canary-password
`,
    );
    const result = await serve(t, { ...setup.baseEnv, PATCHBAY_PROVISIONING_DIR: dir });
    assert.equal(result.up, false);
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.equal(lines[0], `error: ${file}:8: connectors[0].config.password: a secret must be a reference, \${env:NAME} or \${file:path}, never a literal value`);
  });
});
