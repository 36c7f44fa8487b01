import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { connect } from '@nats-io/transport-node';
import mqttClient from 'mqtt';
import { boundaryViolation, effectiveConfig, wideningIssues } from '../../src/providers/boundaries.js';
import { bearer, build, type TestApp } from '../support/app.js';
import { client, ok, problem, type Call } from '../support/http.js';
import { requireServer } from '../support/servers.js';

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

interface InstanceBody {
  id: string;
  alias: string;
  valid: boolean;
  reason: string | null;
}

/** An admin, a connector, an agent attached under `alias` with `override`, and that agent's token. */
async function attached(ctx: TestApp, connector: Record<string, unknown>, override: Record<string, unknown>) {
  const admin = await ctx.user('admin');
  const asAdmin = client(ctx.app, admin.key);
  const { id } = ok<{ id: string }>(await asAdmin('POST', '/connectors', { name: 'narrowed', ...connector }), 201);
  ok(await asAdmin('POST', '/agents', { id: 'bot' }), 201);
  const instance = ok<InstanceBody>(
    await asAdmin('POST', `/connectors/${id}/attach`, { agent_id: 'bot', alias: 'bus', config_override: override, mode: 'read_write' }),
    201,
  );
  assert.equal(instance.valid, true);
  assert.equal(instance.reason, null);
  const { token } = ok<{ token: string }>(await asAdmin('POST', '/agents/bot/tokens', {}), 201);
  return { asAdmin, connectorId: id, instance, asAgent: client(ctx.app, token) };
}

/** The attachment as the agent's list shows it. */
async function viewed(asAgent: Call): Promise<InstanceBody> {
  const list = ok<{ data: InstanceBody[] }>(await asAgent('GET', '/agents/bot/connectors'));
  const [instance] = list.data;
  assert.ok(instance);
  return instance;
}

const unique = () => `pb${randomBytes(4).toString('hex')}`;

describe('a connector narrowed after attach binds its old attachments', () => {
  it('evaluates the boundary at call time: the current connector narrowed by the override', () => {
    assert.equal(boundaryViolation('mqtt', { topic: 'a/#' }, { topic: 'a/x/#' }), null);
    assert.match(boundaryViolation('mqtt', { topic: 'b/#' }, { topic: 'a/x/#' }) ?? '', /topic/);
    assert.match(boundaryViolation('nats', { subject: 'b.>' }, { subject: 'a.x.>' }) ?? '', /subject/);
    assert.match(boundaryViolation('s3', { prefix: 'b/' }, { prefix: 'a/x/' }) ?? '', /prefix/);
    assert.match(boundaryViolation('rabbitmq', { queue: 'q2' }, { queue: 'q1' }) ?? '', /queue/);
    assert.match(boundaryViolation('kafka', { topic: 't2' }, { topic: 't1' }) ?? '', /topic/);
    assert.match(boundaryViolation('redis_pubsub', { channel: 'c2' }, { channel: 'c1' }) ?? '', /channel/);
    assert.equal(boundaryViolation('mqtt', {}, { topic: 'a/x/#' }), null, 'a connector with no boundary left binds nothing');
    assert.deepEqual(effectiveConfig('mqtt', { host: 'h', topic: 'a/#' }, { topic: 'a/x/#' }), { host: 'h', topic: 'a/x/#' });
    assert.throws(
      () => effectiveConfig('mqtt', { host: 'h', topic: 'b/#' }, { topic: 'a/x/#' }),
      (error: { code?: string }) => error.code === 'scope_denied',
    );
  });

  it('MQTT: a publish through the old attachment answers scope_denied and reaches no subscriber', async (t: TestContext) => {
    if (!(await requireServer(t, 'mosquitto'))) return;
    const ctx = await build(t);
    if (!ctx) return;
    const root = unique();
    const { asAdmin, connectorId, instance, asAgent } = await attached(
      ctx,
      { connector_type: 'messaging', provider: 'mqtt', config: { host: '127.0.0.1', port: 1883, topic: `${root}/a/#` } },
      { topic: `${root}/a/x/#` },
    );
    const subscriber = await mqttClient.connectAsync({ host: '127.0.0.1', port: 1883, reconnectPeriod: 0 });
    t.after(() => subscriber.endAsync(true));
    const seen: string[] = [];
    let sentinel: () => void = () => undefined;
    const sentinelSeen = new Promise<void>((resolve) => (sentinel = resolve));
    subscriber.on('message', (topic, payload) => {
      seen.push(`${topic}=${payload.toString()}`);
      if (topic === `${root}/sentinel`) sentinel();
    });
    await subscriber.subscribeAsync(`${root}/#`, { qos: 1 });

    const publish = (topic: string, message: string) =>
      asAgent('POST', `/agents/bot/connectors/bus/execute`, { operation: 'publish', topic, message, qos: 1 });
    ok(await publish(`${root}/a/x/1`, 'before'));

    ok(await asAdmin('PUT', `/connectors/${connectorId}`, { config: { topic: `${root}/b/#` } }));
    problem(await publish(`${root}/a/x/2`, 'after'), 403, 'scope_denied');
    // The refused publish would have been confirmed (qos 1) before the answer: a later sentinel arrives after it.
    await subscriber.publishAsync(`${root}/sentinel`, 'end', { qos: 1 });
    await sentinelSeen;
    assert.ok(seen.includes(`${root}/a/x/1=before`), JSON.stringify(seen));
    assert.ok(!seen.some((entry) => entry.startsWith(`${root}/a/x/2`)), JSON.stringify(seen));

    const view = await viewed(asAgent);
    assert.equal(view.id, instance.id);
    assert.equal(view.valid, false);
    assert.match(view.reason ?? '', /topic/);
  });

  it('NATS: a publish through the old attachment answers scope_denied and reaches no subscriber', async (t: TestContext) => {
    if (!(await requireServer(t, 'nats'))) return;
    const ctx = await build(t);
    if (!ctx) return;
    const root = unique();
    const { asAdmin, connectorId, asAgent } = await attached(
      ctx,
      { connector_type: 'messaging', provider: 'nats', config: { servers: ['127.0.0.1:4222'], subject: `${root}.a.>` } },
      { subject: `${root}.a.x.>` },
    );
    const nc = await connect({ servers: '127.0.0.1:4222' });
    t.after(() => nc.close());
    const seen: string[] = [];
    let sentinel: () => void = () => undefined;
    const sentinelSeen = new Promise<void>((resolve) => (sentinel = resolve));
    nc.subscribe(`${root}.>`, {
      callback: (_error, message) => {
        seen.push(`${message.subject}=${message.string()}`);
        if (message.subject === `${root}.sentinel`) sentinel();
      },
    });
    await nc.flush();

    const publish = (subject: string, message: string) => asAgent('POST', `/agents/bot/connectors/bus/execute`, { operation: 'publish', subject, message });
    ok(await publish(`${root}.a.x.1`, 'before'));
    ok(await asAdmin('PUT', `/connectors/${connectorId}`, { config: { subject: `${root}.b.>` } }));
    problem(await publish(`${root}.a.x.2`, 'after'), 403, 'scope_denied');
    nc.publish(`${root}.sentinel`, 'end');
    await sentinelSeen;
    assert.ok(seen.includes(`${root}.a.x.1=before`), JSON.stringify(seen));
    assert.ok(!seen.some((entry) => entry.startsWith(`${root}.a.x.2`)), JSON.stringify(seen));
    const view = await viewed(asAgent);
    assert.equal(view.valid, false);
    assert.match(view.reason ?? '', /subject/);
  });

  it('storage: a prefix moved after attach makes the old attachment invalid and its calls scope_denied', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    // Nothing listens on port 9: the refusal must come before any connection.
    const { asAdmin, connectorId, asAgent } = await attached(
      ctx,
      { connector_type: 'storage', provider: 's3', config: { bucket: 'b', endpoint: 'http://127.0.0.1:9', prefix: 'a/' } },
      { prefix: 'a/x/' },
    );
    ok(await asAdmin('PUT', `/connectors/${connectorId}`, { config: { prefix: 'b/' } }));
    problem(await asAgent('POST', '/agents/bot/connectors/bus/execute', { operation: 'get', key: 'a/x/secret.txt' }), 403, 'scope_denied');
    const view = await viewed(asAgent);
    assert.equal(view.valid, false);
    assert.match(view.reason ?? '', /prefix/);
    // Moving the connector back makes the attachment valid again.
    ok(await asAdmin('PUT', `/connectors/${connectorId}`, { config: { prefix: 'a/' } }));
    assert.equal((await viewed(asAgent)).valid, true);
  });
});
