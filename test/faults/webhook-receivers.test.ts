import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Logger } from 'pino';
import { HealthScheduler } from '../../src/services/health/scheduler.js';
import { WebhookService, type WebhookOptions } from '../../src/services/health/webhook-service.js';
import { healthSetup, pgAt } from '../services/health/support.js';
import { until } from '../services/runtime/support.js';
import { client, ok } from '../support/http.js';
import { closedPort, resettingListener, silentListener, type Listener } from '../support/listeners.js';

// Webhook receivers that misbehave on real sockets: one accepts the POST and never answers, one resets the
// connection. A delivery to either is bounded by its deadline and retried with growing back-off, and never holds
// up the scheduled health checks that run beside it.

const SECRET = 'whsec-fault-test-secret-17';

interface DeliveryBody {
  status: string;
  attempts: number;
  last_error: string | null;
  last_status_code: number | null;
  last_attempt_at: string | null;
  next_attempt_at: string | null;
}

describe('a webhook receiver that hangs or resets the connection', () => {
  it('holds up no health check, ends each attempt at its deadline, and is retried with growing back-off', async (t) => {
    const setup = await healthSetup(t, { follow: true, env: { PATCHBAY_HEALTH_MIN_INTERVAL_S: '1' } });
    assert.ok(setup, 'sqlite needs no server');
    const { ctx, admin, clock } = setup;
    const asAdmin = client(ctx.app, admin.key);
    const hanging = await silentListener(t);
    const resetting = await resettingListener(t);
    const hook = async (receiver: Listener) =>
      ok<{ id: string }>(
        await asAdmin('POST', '/webhooks', { url: `http://127.0.0.1:${receiver.port}/hook`, events: ['connector.failing'], secret: SECRET }),
        201,
      ).id;
    const hooks = { hanging: await hook(hanging), resetting: await hook(resetting) };
    // Checked every second and always refused: it enters failing after two checks, which sends the event to both.
    const connector = ok<{ id: string }>(
      await asAdmin('POST', '/connectors', {
        name: 'down',
        connector_type: 'database',
        provider: 'postgresql',
        config: pgAt(await closedPort()),
        health_check_interval_s: 1,
      }),
      201,
    );
    const checks = () => ctx.models.ConnectorHealthCheck.count({ where: { connector_id: connector.id } });
    const latest = async (webhookId: string) => ok<{ data: DeliveryBody[] }>(await asAdmin('GET', `/webhooks/${webhookId}/deliveries`)).data;
    const webhooks = (options: WebhookOptions, clockNow?: () => Date) =>
      new WebhookService({
        models: ctx.models,
        sequelize: ctx.app.db.sequelize,
        keyRing: ctx.keyRing,
        audit: ctx.app.services.audit,
        config: ctx.config,
        log: ctx.app.log as Logger,
        clock: clockNow,
        options,
      });

    // The background loop as `patchbay serve` runs it, with a delivery deadline far beyond what this part needs,
    // so the POST to the hanging receiver is certainly still waiting while the checks are counted.
    const { health, connectors, retention } = ctx.app.services;
    const scheduler = new HealthScheduler({
      health,
      connectors,
      webhooks: webhooks({ timeoutMs: 600_000 }),
      retention,
      log: ctx.app.log as Logger,
      options: { concurrency: 2, pollMs: 100 },
    });
    scheduler.start();
    t.after(async () => {
      hanging.drop();
      await scheduler.stop();
    });
    assert.equal(await until(async () => hanging.requested() === 1 && hanging.open() === 1, true, 60_000), true, 'the event reached the hanging receiver');
    const before = await checks();
    assert.equal(await until(async () => (await checks()) >= before + 3, true, 60_000), true, 'checks are recorded while the delivery hangs');
    assert.equal(hanging.open(), 1, 'the POST was still waiting for an answer');
    const [waiting] = await latest(hooks.hanging);
    assert.deepEqual([waiting?.status, waiting?.attempts, waiting?.last_error], ['pending', 1, null], 'its first attempt had not ended');
    // The receiver gives up on it; the attempt ends and the loop can stop.
    hanging.drop();
    await scheduler.stop();

    // Now deliveries with a short deadline, driven by hand on a clock moved an hour per round (past any back-off).
    const quick = webhooks({ timeoutMs: 300, backoffBaseMs: 1_000, maxAttempts: 10 }, clock.now);
    const gaps: Record<keyof typeof hooks, number[]> = { hanging: [], resetting: [] };
    for (let round = 0; round < 3; round += 1) {
      clock.advance(3_600_000);
      const requested = { hanging: hanging.requested(), resetting: resetting.requested() };
      assert.equal(await quick.dispatchDue(), 2, 'both deliveries attempted; the hanging one ended by its deadline');
      assert.deepEqual({ hanging: hanging.requested(), resetting: resetting.requested() }, { hanging: requested.hanging + 1, resetting: requested.resetting + 1 });
      for (const [name, webhookId] of Object.entries(hooks) as [keyof typeof hooks, string][]) {
        const [delivery] = await latest(webhookId);
        assert.ok(delivery?.next_attempt_at && delivery.last_attempt_at, `${name}: retrying`);
        assert.equal(delivery.status, 'pending', `${name}: retrying`);
        assert.equal(delivery.last_status_code, null, `${name}: no answer`);
        assert.equal(delivery.last_error, name === 'hanging' ? 'no answer within 300 ms' : 'connection reset');
        const gap = Date.parse(delivery.next_attempt_at) - Date.parse(delivery.last_attempt_at);
        // base·2^(attempt−1), ±10 % jitter, after the attempt itself.
        assert.ok(gap >= 0.9 * 1_000 * 2 ** (delivery.attempts - 1), `${name}: attempt ${delivery.attempts} waits ${gap} ms`);
        gaps[name].push(gap);
      }
    }
    for (const [name, waits] of Object.entries(gaps)) {
      assert.ok(waits.every((gap, index) => index === 0 || gap > (waits[index - 1] as number)), `${name}: the waits grow: ${waits.join(', ')}`);
    }
  });
});
