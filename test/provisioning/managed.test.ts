import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { desiredState } from '../../src/provisioning/desired.js';
import { bearer, build } from '../support/app.js';

describe('managed resources', () => {
  it('show managed_by "file" in every view, answer 409 to hand edits, and accept them with the opt-in header', async (t) => {
    const test = await build(t);
    if (!test) return;
    const { app } = test;
    const admin = await test.user('admin');
    const headers = { ...bearer(admin.key), 'x-organization-id': admin.orgSlug };
    const override = { ...headers, 'x-patchbay-override-managed': 'true' };
    await app.services.provisioning.apply(
      { actor: { type: 'system', id: null }, role: 'admin' },
      desiredState({
        organization: admin.orgSlug,
        connectors: [{ name: 'files', provider: 'sqlite', config: { path: 'managed.db' } }],
        agents: [{ id: 'bot', name: 'Bot' }],
        attachments: [{ agent: 'bot', alias: 'files', connector: 'files' }],
        webhooks: [{ url: 'http://127.0.0.1:9/hook', events: ['connector.failing'], secret: 'managed-webhook-secret' }],
      }),
      { prune: false },
    );
    // And one made by hand, for contrast.
    const handMade = await app.inject({ method: 'POST', url: '/api/v1/agents', headers, payload: { id: 'by-hand' } });
    assert.equal(handMade.statusCode, 201);
    assert.equal(handMade.json().managed_by, null);

    const connector = (await app.inject({ method: 'GET', url: '/api/v1/connectors', headers })).json().data[0];
    assert.equal(connector.managed_by, 'file');
    const agent = (await app.inject({ method: 'GET', url: '/api/v1/agents/bot', headers })).json();
    assert.equal(agent.managed_by, 'file');
    const instance = (await app.inject({ method: 'GET', url: '/api/v1/agents/bot/connectors', headers })).json().data[0];
    assert.equal(instance.managed_by, 'file');
    const webhook = (await app.inject({ method: 'GET', url: '/api/v1/webhooks', headers })).json().data[0];
    assert.equal(webhook.managed_by, 'file');

    const refused = [
      { method: 'PUT', url: `/api/v1/connectors/${connector.id}`, payload: { description: 'by hand' } },
      { method: 'DELETE', url: `/api/v1/connectors/${connector.id}?force=true` },
      { method: 'PATCH', url: `/api/v1/connectors/instances/${instance.id}`, payload: { mode: 'read' } },
      { method: 'DELETE', url: `/api/v1/connectors/instances/${instance.id}` },
      { method: 'DELETE', url: '/api/v1/agents/bot' },
      { method: 'PATCH', url: `/api/v1/webhooks/${webhook.id}`, payload: { enabled: false } },
      { method: 'DELETE', url: `/api/v1/webhooks/${webhook.id}` },
    ] as const;
    for (const request of refused) {
      const response = await app.inject({ ...request, headers });
      assert.equal(response.statusCode, 409, `${request.method} ${request.url}: ${response.body}`);
      assert.equal(response.json().code, 'conflict');
      assert.match(response.json().detail, /managed by a provisioning file/);
    }
    assert.equal((await app.inject({ method: 'PUT', url: `/api/v1/connectors/${connector.id}`, headers: { ...headers, 'x-patchbay-override-managed': 'yes' }, payload: {} })).statusCode, 400);

    const changed = await app.inject({ method: 'PUT', url: `/api/v1/connectors/${connector.id}`, headers: override, payload: { description: 'by hand' } });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal(changed.json().description, 'by hand');
    assert.equal(changed.json().managed_by, 'file', 'an override does not take the resource out of the file');
    assert.equal((await app.inject({ method: 'PATCH', url: `/api/v1/webhooks/${webhook.id}`, headers: override, payload: { enabled: false } })).statusCode, 200);
    assert.equal((await app.inject({ method: 'DELETE', url: `/api/v1/connectors/instances/${instance.id}`, headers: override })).statusCode, 204);
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/v1/agents/bot', headers: override })).statusCode, 204);
    // Unmanaged resources need no opt-in.
    assert.equal((await app.inject({ method: 'DELETE', url: '/api/v1/agents/by-hand', headers })).statusCode, 204);
  });
});
