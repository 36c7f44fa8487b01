import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, build } from '../support/app.js';
import { dialects } from '../support/db.js';
import { provisioningSetup, storedConfig } from './support.js';
import { serve } from './serve-process.js';

const file = (org: string) => `organization: ${org}
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
    mode: read_write
`;

describe('plan and apply with --api-key through the HTTP API', () => {
  it('plans, applies, compares secrets on the server, and exports, as an admin of the organization', async (t) => {
    const setup = await provisioningSetup(t, dialects.includes('sqlite') ? 'sqlite' : 'postgres');
    if (!setup) return;
    const admin = await setup.services.accounts.addMember({ organization: setup.organization.slug, email: 'prov-admin@example.test', role: 'admin' });
    const developer = await setup.services.accounts.addMember({ organization: setup.organization.slug, email: 'prov-dev@example.test', role: 'developer' });
    const server = await serve(t, setup.baseEnv);
    assert.ok(server.up, server.stderr);
    const url = `http://127.0.0.1:${server.port}`;
    const path = setup.write('patchbay.yaml', file(setup.organization.slug));
    const remote = (args: string[], key: string, env: Record<string, string>) => setup.cli([...args, '--api-key', key, '--url', url], env);

    const plan = remote(['plan', '-f', path], admin.apiKey.key, { ORDERS_PASSWORD: 'http-canary-1' });
    assert.equal(plan.code, 2, plan.stderr);
    assert.match(plan.stdout, /\+ create connector orders/);
    const apply = remote(['apply', '-f', path, '--yes'], admin.apiKey.key, { ORDERS_PASSWORD: 'http-canary-1' });
    assert.equal(apply.code, 0, apply.stderr);
    const stored = await storedConfig(setup, 'orders');
    assert.equal(stored?.config.password, 'http-canary-1');
    assert.equal(stored?.row.managed_by, 'file');
    const audit = await setup.models.AuditEvent.findOne({ where: { organization_id: setup.organization.id, action: 'connector.create' } });
    assert.equal(audit?.actor_id, admin.user.id, 'audited as the admin whose key applied it');

    const same = remote(['plan', '-f', path], admin.apiKey.key, { ORDERS_PASSWORD: 'http-canary-1' });
    assert.equal(same.code, 0, same.stdout + same.stderr);
    const rotated = remote(['plan', '-f', path], admin.apiKey.key, { ORDERS_PASSWORD: 'http-canary-2' });
    assert.equal(rotated.code, 2);
    assert.match(rotated.stdout, /config\.password \(changed\)/, 'the server compares the secret it holds');
    assert.ok(!`${rotated.stdout}${rotated.stderr}`.includes('canary'));

    const exported = remote(['export', '--org', setup.organization.slug], admin.apiKey.key, {});
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /password: \$\{env:PATCHBAY_ORDERS_PASSWORD\}/);

    // Role rules are the API's: a developer may not provision.
    const denied = remote(['apply', '-f', path, '--yes'], developer.apiKey.key, { ORDERS_PASSWORD: 'http-canary-2' });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /admin/);
    await server.stop?.();
  });

  it('the endpoints refuse a file for another organization and list changes without values', async (t) => {
    const test = await build(t);
    if (!test) return;
    const admin = await test.user('admin');
    const headers = { ...bearer(admin.key), 'x-organization-id': admin.orgSlug };
    const other = await test.app.inject({ method: 'POST', url: '/api/v1/provisioning/plan', headers, payload: { file: { organization: 'someone-else' } } });
    assert.equal(other.statusCode, 422);
    assert.equal(other.json().errors[0].path, 'organization');
    const body = { file: { organization: admin.orgSlug, webhooks: [{ url: 'http://127.0.0.1:9/h', events: ['connector.failing'], secret: 'endpoint-canary-secret' }] } };
    const planned = await test.app.inject({ method: 'POST', url: '/api/v1/provisioning/apply', headers, payload: body });
    assert.equal(planned.statusCode, 200, planned.body);
    assert.deepEqual(planned.json().changes, [{ action: 'create', type: 'webhook', key: 'http://127.0.0.1:9/h' }]);
    assert.ok(!planned.body.includes('canary'));
  });
});
