import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { serve } from './serve-process.js';
import { provisioningSetup } from './support.js';

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
