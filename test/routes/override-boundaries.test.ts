import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { wideningIssues } from '../../src/providers/boundaries.js';
import { bearer, build } from '../support/app.js';

describe('an override may only narrow a boundary', () => {
  it('checks prefixes, exact names and MQTT/NATS filters', () => {
    assert.deepEqual(wideningIssues('s3', { prefix: 'team/' }, { prefix: 'team/reports/' }), []);
    assert.equal(wideningIssues('s3', { prefix: 'team/' }, { prefix: 'other/' })[0]?.path, 'config_override.prefix');
    assert.deepEqual(wideningIssues('s3', {}, { prefix: 'anything/' }), [], 'an unset boundary may be set');
    assert.equal(wideningIssues('rabbitmq', { queue: 'jobs' }, { queue: 'other' }).length, 1);
    assert.deepEqual(wideningIssues('rabbitmq', { queue: 'jobs' }, { queue: 'jobs' }), []);
    assert.deepEqual(wideningIssues('mqtt', { topic: 'plant/#' }, { topic: 'plant/line1/+' }), []);
    assert.equal(wideningIssues('mqtt', { topic: 'plant/+' }, { topic: 'plant/#' }).length, 1);
    assert.deepEqual(wideningIssues('nats', { subject: 'orders.>' }, { subject: 'orders.eu.*' }), []);
    assert.equal(wideningIssues('nats', { subject: 'orders.*' }, { subject: 'orders.>' }).length, 1);
  });

  it('refuses a widening override at attach with 422 naming config_override.prefix', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const headers = bearer(admin.key);
    const connector = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/connectors',
      headers,
      payload: { name: 'reports', connector_type: 'storage', provider: 's3', config: { bucket: 'b', prefix: 'team/' } },
    });
    assert.equal(connector.statusCode, 201, connector.body);
    const { id } = connector.json() as { id: string };
    assert.equal((await ctx.app.inject({ method: 'POST', url: '/api/v1/agents', headers, payload: { id: 'reader' } })).statusCode, 201);
    const widened = await ctx.app.inject({
      method: 'POST',
      url: `/api/v1/connectors/${id}/attach`,
      headers,
      payload: { agent_id: 'reader', alias: 'files', config_override: { prefix: 'other/' } },
    });
    assert.equal(widened.statusCode, 422);
    assert.deepEqual((widened.json() as { errors: { path: string }[] }).errors.map((e) => e.path), ['config_override.prefix']);
    const narrowed = await ctx.app.inject({
      method: 'POST',
      url: `/api/v1/connectors/${id}/attach`,
      headers,
      payload: { agent_id: 'reader', alias: 'files', config_override: { prefix: 'team/reports/' } },
    });
    assert.equal(narrowed.statusCode, 201, narrowed.body);
  });
});
