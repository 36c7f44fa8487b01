import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from 'pino';
import { ReencryptService } from '../../src/services/connectors/reencrypt-service.js';
import { WebhookService } from '../../src/services/health/webhook-service.js';
import { healthSetup, pgAt } from '../services/health/support.js';
import { dialects } from '../support/db.js';
import { client, errorPaths, ok, problem } from '../support/http.js';
import { closedPort } from '../support/listeners.js';
import { verifySignature, webhookReceiver } from '../support/webhooks.js';

const SECRET = 'whsec-route-test-canary-42';

interface WebhookBody {
  id: string;
  url: string;
  events: string[];
  secret: string;
  enabled: boolean;
  disabled_reason: string | null;
}

interface DeliveryBody {
  id: string;
  event: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
}

for (const dialect of dialects) {
  describe(`webhooks on ${dialect}`, () => {
    it('are managed by admins only, keep their secret encrypted and never return it', async (t) => {
      const setup = await healthSetup(t, { dialect, follow: true });
      if (!setup) return;
      const { ctx, admin } = setup;
      const developer = await ctx.user('developer', { org: admin.orgSlug });
      const stranger = await ctx.user('admin');
      const asAdmin = client(ctx.app, admin.key);

      const created = ok<WebhookBody>(await asAdmin('POST', '/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['connector.failing', 'connector.failing'], secret: SECRET }), 201);
      assert.equal(created.secret, '********');
      assert.deepEqual(created.events, ['connector.failing']);
      assert.equal(created.enabled, true);
      const stored = await ctx.models.Webhook.findByPk(created.id);
      assert.ok(stored && !stored.secret_encrypted.includes(SECRET));
      assert.equal(ctx.keyRing.open({ organization_id: admin.orgId, webhook_id: created.id }, stored.secret_encrypted, stored.key_id), SECRET);
      assert.equal((await new ReencryptService(ctx.app.db.sequelize, ctx.keyRing).status()).find((k) => k.primary)?.count, 1, 'key status counts webhook secrets');

      problem(await client(ctx.app, developer.key)('GET', '/webhooks'), 403, 'forbidden');
      problem(await client(ctx.app, developer.key)('POST', '/webhooks', { url: 'http://127.0.0.1:9/', events: ['connector.failing'], secret: SECRET }), 403, 'forbidden');
      problem(await client(ctx.app, stranger.key)('GET', `/webhooks/${created.id}`), 404, 'not_found');
      problem(await asAdmin('PATCH', '/webhooks/no-such-hook', { events: [] }), 404, 'not_found');

      const invalid = problem(await asAdmin('POST', '/webhooks', { url: 'ftp://example.test/', events: [], secret: 'short' }), 422, 'validation_failed');
      assert.deepEqual(errorPaths(invalid), ['events', 'secret', 'url']);
      problem(await asAdmin('POST', '/webhooks', { url: 'http://169.254.169.254/latest', events: ['connector.failing'], secret: SECRET }), 422, 'egress_denied');
      // The webhook sender refuses through the connectors' egress guard: every metadata address, in any spelling.
      for (const url of ['http://100.100.100.200/', 'http://168.63.129.16/', 'http://0xa9fea9fe/', 'http://[::ffff:6464:64c8]/', 'http://metadata.goog/']) {
        problem(await asAdmin('POST', '/webhooks', { url, events: ['connector.failing'], secret: SECRET }), 422, 'egress_denied');
      }
      problem(await asAdmin('POST', '/webhooks', { url: 'http://user:pw@127.0.0.1:9/', events: ['connector.failing'], secret: SECRET }), 422, 'validation_failed');

      const kept = ok<WebhookBody>(await asAdmin('PATCH', `/webhooks/${created.id}`, { secret: '********', events: ['connector.deleted'] }));
      assert.deepEqual(kept.events, ['connector.deleted']);
      await stored.reload();
      assert.equal(ctx.keyRing.open({ organization_id: admin.orgId, webhook_id: created.id }, stored.secret_encrypted), SECRET, '"********" keeps the secret');
      ok(await asAdmin('PATCH', `/webhooks/${created.id}`, { secret: 'a-brand-new-secret-value' }));
      await stored.reload();
      assert.equal(ctx.keyRing.open({ organization_id: admin.orgId, webhook_id: created.id }, stored.secret_encrypted), 'a-brand-new-secret-value');

      const listed = ok<{ data: WebhookBody[] }>(await asAdmin('GET', '/webhooks'));
      assert.deepEqual(listed.data.map((w) => w.id), [created.id]);
      for (const body of [JSON.stringify(listed), (await asAdmin('GET', `/webhooks/${created.id}`)).body]) {
        assert.ok(!body.includes(SECRET) && !body.includes('a-brand-new-secret-value'));
      }
      assert.equal((await asAdmin('DELETE', `/webhooks/${created.id}`)).statusCode, 204);
      problem(await asAdmin('GET', `/webhooks/${created.id}`), 404, 'not_found');
      const actions = (await ctx.models.AuditEvent.findAll({ where: { target_id: created.id } })).map((e) => e.action).sort();
      assert.deepEqual(actions, ['webhook.create', 'webhook.delete', 'webhook.update', 'webhook.update']);
      assert.ok(!ctx.logs.text.includes(SECRET));
    });

    it('deliver signed events for deleted and rotated connectors and for a manual test that enters failing, each recorded', async (t) => {
      const setup = await healthSetup(t, { dialect, follow: true });
      if (!setup) return;
      const { ctx, admin, services } = setup;
      const receiver = await webhookReceiver(t);
      const asAdmin = client(ctx.app, admin.key);
      const hook = ok<WebhookBody>(
        await asAdmin('POST', '/webhooks', { url: receiver.url, events: ['connector.failing', 'connector.deleted', 'connector.credentials_rotated'], secret: SECRET }),
        201,
      );
      const connector = ok<{ id: string }>(
        await asAdmin('POST', '/connectors', { name: 'c', connector_type: 'database', provider: 'postgresql', config: pgAt(await closedPort(), { password: 'old-password' }) }),
        201,
      );
      ok(await asAdmin('PUT', `/connectors/${connector.id}`, { description: 'no secret changed' }));
      ok(await asAdmin('PUT', `/connectors/${connector.id}`, { config: { password: 'new-password' } }));
      ok(await asAdmin('POST', `/connectors/${connector.id}/test`)); // untested -> failing, at once
      ok(await asAdmin('POST', `/connectors/${connector.id}/test`)); // stays failing: no event
      assert.equal((await asAdmin('DELETE', `/connectors/${connector.id}`)).statusCode, 204);

      assert.equal(await services.webhooks.dispatchDue(), 3);
      assert.deepEqual(
        receiver.received.map((r) => r.event.type).sort(),
        ['connector.credentials_rotated', 'connector.deleted', 'connector.failing'],
      );
      for (const delivery of receiver.received) {
        verifySignature(delivery.headers['patchbay-signature'], delivery.body, SECRET);
        assert.equal(delivery.headers['content-type'], 'application/json');
        assert.equal((delivery.event.data as { connector: { id: string } }).connector.id, connector.id);
        assert.ok(!delivery.body.includes('new-password') && !delivery.body.includes('old-password'));
      }
      assert.throws(() => verifySignature(receiver.received[0]?.headers['patchbay-signature'], `${receiver.received[0]?.body} `, SECRET), /bad signature/);

      const deliveries = ok<{ data: DeliveryBody[] }>(await asAdmin('GET', `/webhooks/${hook.id}/deliveries`));
      assert.equal(deliveries.data.length, 3);
      assert.ok(deliveries.data.every((d) => d.status === 'delivered' && d.attempts === 1 && d.last_status_code === 200));
      problem(await asAdmin('GET', `/webhooks/${hook.id}/deliveries?limit=0`), 422, 'validation_failed');
    });

    it('retry with exponential back-off, and disable a webhook whose deliveries keep failing, with an audit event', async (t) => {
      const setup = await healthSetup(t, { dialect, follow: true });
      if (!setup) return;
      const { ctx, admin, clock, services } = setup;
      const receiver = await webhookReceiver(t, [500, 503]);
      const asAdmin = client(ctx.app, admin.key);
      const hook = ok<WebhookBody>(await asAdmin('POST', '/webhooks', { url: receiver.url, events: ['connector.deleted'], secret: SECRET }), 201);
      const deleteOne = async (name: string) => {
        const c = ok<{ id: string }>(await asAdmin('POST', '/connectors', { name, connector_type: 'database', provider: 'postgresql', config: pgAt(5432) }), 201);
        assert.equal((await asAdmin('DELETE', `/connectors/${c.id}`)).statusCode, 204);
      };

      await deleteOne('a');
      assert.equal(await services.webhooks.dispatchDue(), 1);
      const first = await ctx.models.WebhookDelivery.findOne({ where: { webhook_id: hook.id } });
      assert.ok(first);
      assert.deepEqual([first.status, first.attempts, first.last_status_code], ['pending', 1, 500]);
      const firstDelay = (first.next_attempt_at?.getTime() ?? 0) - clock.now().getTime();
      assert.ok(firstDelay >= 9_000 && firstDelay <= 11_000, `first retry about 10 s later, got ${firstDelay}`);
      assert.equal(await services.webhooks.dispatchDue(), 0, 'not before its time');
      clock.advance(11_000);
      assert.equal(await services.webhooks.dispatchDue(), 1);
      await first.reload();
      const secondDelay = (first.next_attempt_at?.getTime() ?? 0) - clock.now().getTime();
      assert.ok(secondDelay >= 18_000 && secondDelay <= 22_000, `then about 20 s, got ${secondDelay}`);
      clock.advance(22_000);
      assert.equal(await services.webhooks.dispatchDue(), 1);
      await first.reload();
      assert.deepEqual([first.status, first.attempts, first.last_status_code, first.last_error], ['delivered', 3, 200, null]);
      assert.equal(receiver.received.length, 3);
      assert.equal(new Set(receiver.received.map((r) => r.event.id)).size, 1, 'the same event each time');

      // A webhook to a port where nothing listens, with one attempt per delivery: two failed deliveries disable it.
      const dead = ok<WebhookBody>(await asAdmin('POST', '/webhooks', { url: `http://127.0.0.1:${await closedPort()}/`, events: ['connector.deleted'], secret: SECRET }), 201);
      const strict = new WebhookService({
        models: ctx.models,
        sequelize: ctx.app.db.sequelize,
        keyRing: ctx.keyRing,
        audit: ctx.app.services.audit,
        config: ctx.config,
        log: ctx.app.log as Logger,
        clock: clock.now,
        options: { maxAttempts: 1, disableAfter: 2 },
      });
      await deleteOne('b');
      await strict.dispatchDue();
      await deleteOne('c');
      await strict.dispatchDue();
      const disabled = ok<WebhookBody>(await asAdmin('GET', `/webhooks/${dead.id}`));
      assert.deepEqual([disabled.enabled, disabled.disabled_reason], [false, 'failing']);
      const failures = ok<{ data: DeliveryBody[] }>(await asAdmin('GET', `/webhooks/${dead.id}/deliveries`));
      assert.ok(failures.data.every((d) => d.status === 'failed' && d.last_error === 'connection refused'));
      const audit = await ctx.models.AuditEvent.findAll({ where: { target_id: dead.id, action: 'webhook.disabled' } });
      assert.equal(audit.length, 1);
      assert.equal(audit[0]?.actor_type, 'system');
      await deleteOne('d');
      assert.equal(await ctx.models.WebhookDelivery.count({ where: { webhook_id: dead.id } }), 2, 'a disabled webhook gets no new deliveries');

      const enabled = ok<WebhookBody & { consecutive_failures: number }>(await asAdmin('PATCH', `/webhooks/${dead.id}`, { enabled: true }));
      assert.deepEqual([enabled.enabled, enabled.disabled_reason, enabled.consecutive_failures], [true, null, 0]);
    });

    it('deliver only where the egress policy allows, checked on the address dialled', async (t) => {
      const setup = await healthSetup(t, { dialect, env: { PATCHBAY_EGRESS: 'public' }, follow: true });
      if (!setup) return;
      const { ctx, admin, services } = setup;
      const receiver = await webhookReceiver(t);
      const asAdmin = client(ctx.app, admin.key);
      problem(await asAdmin('POST', '/webhooks', { url: receiver.url, events: ['connector.deleted'], secret: SECRET }), 422, 'egress_denied');
      // A name is only resolved when dialled: accepted here, refused at delivery (localhost is loopback).
      const hook = ok<WebhookBody>(await asAdmin('POST', '/webhooks', { url: `http://localhost:${receiver.port}/`, events: ['connector.deleted'], secret: SECRET }), 201);
      const c = ok<{ id: string }>(await asAdmin('POST', '/connectors', { name: 'c', connector_type: 'database', provider: 'postgresql', config: pgAt(5432) }), 201);
      await asAdmin('DELETE', `/connectors/${c.id}`);
      assert.equal(await services.webhooks.dispatchDue(), 1);
      assert.equal(receiver.received.length, 0);
      const [delivery] = ok<{ data: DeliveryBody[] }>(await asAdmin('GET', `/webhooks/${hook.id}/deliveries`)).data;
      assert.equal(delivery?.status, 'pending');
      assert.match(delivery?.last_error ?? '', /^egress denied/);
    });
  });
}
