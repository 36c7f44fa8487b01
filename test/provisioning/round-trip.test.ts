import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dialects } from '../support/db.js';
import { applyHere, planHere, provisioningSetup, storedConfig } from './support.js';
import { inOrganization } from '../support/contexts.js';

const file = (org: string, options: { withCache?: boolean } = {}) => `# patchbay.yaml
organization: ${org}
connectors:
  - name: orders
    provider: postgresql
    description: Orders database
    config:
      host: 127.0.0.1
      port: \${env:ORDERS_PORT}
      database: orders
      username: reader
      password: \${env:ORDERS_PASSWORD}
${
  options.withCache === false
    ? ''
    : `  - name: cache
    provider: redis
    health_check_interval_s: 0
    config:
      host: 127.0.0.1
      password: \${file:redis-password.txt}
`
}agents:
  - id: support-bot
    name: Support bot
attachments:
  - agent: support-bot
    alias: orders
    connector: orders
    limits: { max_rows: 100 }
    bound_params: { tenant_id: 42 }
webhooks:
  - url: http://127.0.0.1:9/hooks/patchbay
    events: [connector.failing, connector.recovered]
    secret: \${env:HOOK_SECRET}
`;

const secrets = { ORDERS_PORT: '5432', ORDERS_PASSWORD: 'orders-canary-password', HOOK_SECRET: 'hook-canary-secret-0123456789' };

for (const dialect of dialects) {
  describe(`plan, apply, prune and export (${dialect})`, () => {
    it('creates what the file declares, marked managed; a second apply changes nothing and audits nothing', async (t) => {
      const setup = await provisioningSetup(t, dialect);
      if (!setup) return;
      setup.write('redis-password.txt', 'redis-canary-password\n');
      const path = setup.write('patchbay.yaml', file(setup.organization.slug));

      const plan = setup.cli(['plan', '-f', path], secrets);
      assert.equal(plan.code, 2, plan.stderr);
      assert.match(plan.stdout, /\+ create connector orders/);
      assert.match(plan.stdout, /\+ create attachment support-bot\/orders/);
      assert.match(plan.stdout, /5 to create, 0 to update, 0 to delete/);
      assert.equal(await setup.auditCount(), 0, 'plan writes nothing');

      const apply = setup.cli(['apply', '-f', path, '--yes'], secrets);
      assert.equal(apply.code, 0, apply.stderr);
      assert.match(apply.stdout, /5 created, 0 updated, 0 deleted/);
      const orders = await storedConfig(setup, 'orders');
      assert.equal(orders?.config.password, 'orders-canary-password');
      assert.equal(orders?.config.port, 5432, 'a reference in a number field is read as a number');
      assert.equal(orders?.row.managed_by, 'file');
      assert.equal((await storedConfig(setup, 'cache'))?.config.password, 'redis-canary-password', '${file:…} without its trailing newline');
      const agent = await setup.models.Agent.findOne({ where: { organization_id: setup.organization.id, agent_id: 'support-bot' } });
      assert.equal(agent?.managed_by, 'file');
      const instance = await setup.models.ConnectorInstance.findOne({ where: { agent_id: agent?.id } });
      assert.deepEqual(instance?.bound_params, { tenant_id: 42 });
      assert.equal(instance?.managed_by, 'file');
      const webhook = await setup.models.Webhook.findOne({ where: { organization_id: setup.organization.id } });
      assert.equal(webhook?.managed_by, 'file');
      const audited = await setup.auditCount();
      assert.ok(audited >= 5, `every create is audited as through the API (${audited})`);
      for (const output of [plan.stdout, plan.stderr, apply.stdout, apply.stderr]) {
        assert.ok(!output.includes('canary'), 'no secret value is printed');
      }

      const again = setup.cli(['apply', '-f', path, '--yes'], secrets);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /no changes/);
      assert.equal(await setup.auditCount(), audited, 'a second apply writes no audit event');
      assert.equal(setup.cli(['plan', '-f', path], secrets).code, 0);

      // A rotated secret: named, never shown.
      const rotatedSecrets = { ...secrets, ORDERS_PASSWORD: 'rotated-canary-password' };
      const rotated = setup.cli(['plan', '-f', path], rotatedSecrets);
      assert.equal(rotated.code, 2, rotated.stderr);
      assert.match(rotated.stdout, /~ update connector orders: config\.password \(changed\)$/m);
      assert.ok(!rotated.stdout.includes('canary'));
      await applyHere(setup, path, rotatedSecrets);
      assert.equal((await storedConfig(setup, 'orders'))?.config.password, 'rotated-canary-password');

      // Without --prune nothing is deleted; with it, what the file no longer names goes.
      const smaller = setup.write('smaller.yaml', file(setup.organization.slug, { withCache: false }));
      assert.deepEqual((await planHere(setup, smaller, rotatedSecrets)).changes, []);
      const prune = setup.cli(['apply', '-f', smaller, '--prune', '--yes'], rotatedSecrets);
      assert.equal(prune.code, 0, prune.stderr);
      assert.match(prune.stdout, /- delete connector cache/);
      assert.equal(await storedConfig(setup, 'cache'), undefined);
      assert.ok(await storedConfig(setup, 'orders'));
    });

    it('exports a file that plan reports as unchanged once its variables hold the secrets', async (t) => {
      const setup = await provisioningSetup(t, dialect);
      if (!setup) return;
      setup.write('redis-password.txt', 'redis-canary-password');
      const path = setup.write('patchbay.yaml', file(setup.organization.slug));
      await applyHere(setup, path, secrets);
      // A resource made through the API (unmanaged) is exported too.
      await setup.services.agents.create(inOrganization(setup.organization.id), { id: 'hand-made', name: 'By hand' });

      const exported = setup.cli(['export', '--org', setup.organization.slug]);
      assert.equal(exported.code, 0, exported.stderr);
      assert.ok(!exported.stdout.includes('canary'), 'no secret in the export');
      assert.match(exported.stdout, /password: \$\{env:PATCHBAY_ORDERS_PASSWORD\}/);
      assert.match(exported.stderr, /PATCHBAY_CACHE_PASSWORD/);
      assert.match(exported.stdout, /^# .*PATCHBAY_WEBHOOK_1_SECRET/m, 'the header lists the variables');
      const copy = setup.write('exported.yaml', exported.stdout);
      const env = { PATCHBAY_ORDERS_PASSWORD: 'orders-canary-password', PATCHBAY_CACHE_PASSWORD: 'redis-canary-password', PATCHBAY_WEBHOOK_1_SECRET: secrets.HOOK_SECRET };
      assert.deepEqual((await planHere(setup, copy, env, true)).changes, [], 'unchanged, even with --prune');
    });
  });
}
