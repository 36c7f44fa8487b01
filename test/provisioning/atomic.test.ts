import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatchbayError } from '../../src/errors.js';
import { dialects } from '../support/db.js';
import { applyHere, provisioningSetup } from './support.js';

for (const dialect of dialects) {
  describe(`apply is all or nothing (${dialect})`, () => {
    it('a resource failing in the middle leaves nothing applied, and names its line', async (t) => {
      const setup = await provisioningSetup(t, dialect);
      if (!setup) return;
      // Connectors, an agent and an attachment apply first; the webhook's address is refused by the egress policy.
      const path = setup.write(
        'patchbay.yaml',
        `organization: ${setup.organization.slug}
connectors:
  - name: orders
    provider: postgresql
    config: { host: 127.0.0.1, username: app, password: '\${env:PW}' }
  - name: cache
    provider: redis
    config: { host: 127.0.0.1 }
agents:
  - id: support-bot
attachments:
  - agent: support-bot
    alias: orders
    connector: orders
webhooks:
  - url: http://169.254.169.254/hook
    events: [connector.failing]
    secret: \${env:HOOK}
`,
      );
      const env = { PW: 'atomic-canary-pw', HOOK: 'atomic-canary-hook-secret' };
      await assert.rejects(applyHere(setup, path, env), (error: unknown) => error instanceof PatchbayError && error.code === 'egress_denied');
      const where = { where: { organization_id: setup.organization.id } };
      assert.equal(await setup.models.Connector.count(where), 0);
      assert.equal(await setup.models.Agent.count(where), 0);
      assert.equal(await setup.models.ConnectorInstance.count(), 0);
      assert.equal(await setup.models.Webhook.count(where), 0);
      assert.equal(await setup.auditCount(), 0, 'the audit events of the rolled-back creates went with them');

      const cli = setup.cli(['apply', '-f', path, '--yes'], env);
      assert.equal(cli.code, 1);
      assert.match(cli.stderr, /patchbay\.yaml:16: webhooks\[0\]: egress_denied: /);
      assert.equal(cli.stderr.trim().split('\n').length, 1, 'one line');
      assert.ok(!cli.stderr.includes('canary'));
      assert.equal(await setup.models.Connector.count(where), 0);
    });
  });
}
