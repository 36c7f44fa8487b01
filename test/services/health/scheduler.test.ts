import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { bearer } from '../../support/app.js';
import { dialects, PG_ADMIN_URL } from '../../support/db.js';
import { closedPort, silentListener } from '../../support/listeners.js';
import { targetDatabase } from '../../support/pg.js';
import { verifySignature, webhookReceiver } from '../../support/webhooks.js';
import { healthSetup, pgAt } from './support.js';

const MINUTE = 60_000;

/** Renames a database, first ending the sessions still on it (a one-shot check's backend may linger briefly). */
async function renameDatabase(from: string, to: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    for (let attempt = 0; ; attempt += 1) {
      await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [from]);
      try {
        await client.query(`ALTER DATABASE ${from} RENAME TO ${to}`);
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error; // object_in_use
        await sleep(100);
      }
    }
  } finally {
    await client.end();
  }
}

for (const dialect of dialects) {
  describe(`scheduled health checks on ${dialect}`, () => {
    it('spreads first checks over the interval and runs each due check once per interval; disabled and interval-0 connectors are not checked', async (t) => {
      const setup = await healthSetup(t, { dialect });
      if (!setup) return;
      const { services, clock, context, ctx } = setup;
      const port = await closedPort();
      const create = (name: string, extra: Record<string, unknown> = {}) =>
        services.connectors.create(context, { name, connector_type: 'database', provider: 'postgresql', config: pgAt(port), health_check_interval_s: 60, ...extra });
      const start = clock.now().getTime();
      const scheduled = await Promise.all(Array.from({ length: 12 }, (_, i) => create(`c${i}`)));
      const disabled = await create('disabled', { enabled: false });
      const off = await create('off', { health_check_interval_s: 0 });

      const due = scheduled.map((c) => c.next_check_at?.getTime() ?? Number.NaN);
      for (const at of due) assert.ok(at >= start && at < start + MINUTE, 'first due time within one interval');
      assert.ok(new Set(due).size > 1, 'spread, not all at once');
      assert.equal(disabled.next_check_at, null);
      assert.equal(off.next_check_at, null);

      const { scheduler } = services;
      clock.advance(MINUTE / 2);
      assert.equal(await scheduler.runDueChecks(), due.filter((at) => at <= start + MINUTE / 2).length);
      clock.advance(MINUTE / 2 - 1);
      assert.equal(await scheduler.runDueChecks(), due.filter((at) => at > start + MINUTE / 2).length);
      assert.equal(await scheduler.runDueChecks(), 0, 'nothing is due twice in one interval');
      clock.advance(MINUTE);
      assert.equal(await scheduler.runDueChecks(), 12);

      const rows = await ctx.models.ConnectorHealthCheck.findAll({ where: { organization_id: context.organizationId } });
      const perConnector = new Map<string, number>();
      for (const row of rows) perConnector.set(row.connector_id, (perConnector.get(row.connector_id) ?? 0) + 1);
      assert.deepEqual([...perConnector.keys()].sort(), scheduled.map((c) => c.id).sort());
      assert.ok([...perConnector.values()].every((count) => count === 2));
      assert.ok(rows.every((row) => row.source === 'scheduled' && row.error_code === 'connection_refused'));

      // Two failures in a row: failing. Only that change is audited, as the system; the checks themselves are not.
      const audited = await ctx.models.AuditEvent.findAll({ where: { organization_id: context.organizationId } });
      const changes = audited.filter((e) => e.action === 'connector.status_changed');
      assert.equal(changes.length, 12);
      assert.ok(changes.every((e) => e.actor_type === 'system' && e.detail?.from === 'untested' && e.detail?.to === 'failing'));
      assert.ok(!audited.some((e) => e.action === 'connector.test'));
    });

    it('turns a connector whose database goes away failing after N checks with one signed webhook, then recovered', async (t) => {
      const target = await targetDatabase(t);
      if (!target) return;
      const setup = await healthSetup(t, { dialect });
      if (!setup) return;
      const { services, clock, admin, ctx } = setup;
      const gone = `${target.name}_gone`;
      t.after(async () => {
        const client = new pg.Client({ connectionString: PG_ADMIN_URL });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${gone} WITH (FORCE)`).finally(() => client.end());
      });
      const receiver = await webhookReceiver(t);
      const secret = 'whsec-scheduler-test-0123456789';
      const call = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
        ctx.app.inject({ method, url: `/api/v1${url}`, headers: bearer(admin.key), ...(payload ? { payload } : {}) });

      const hook = await call('POST', '/webhooks', { url: receiver.url, events: ['connector.failing', 'connector.recovered'], secret });
      assert.equal(hook.statusCode, 201, hook.body);
      const created = await call('POST', '/connectors', {
        name: 'orders',
        connector_type: 'database',
        provider: 'postgresql',
        config: pgAt(5432, { database: target.name }),
        health_check_interval_s: 60,
      });
      assert.equal(created.statusCode, 201, created.body);
      const connectorId = (created.json() as { id: string }).id;
      const status = async () => (await ctx.models.Connector.findByPk(connectorId))?.status;
      const tick = async () => {
        clock.advance(MINUTE);
        assert.equal(await services.scheduler.runDueChecks(), 1);
        await services.webhooks.dispatchDue();
      };

      await tick();
      assert.equal(await status(), 'healthy', 'the first success of an untested connector');

      await renameDatabase(target.name, gone);
      await tick();
      assert.equal(await status(), 'healthy', 'one failure is a blip');
      assert.equal(receiver.received.length, 0);
      await tick();
      assert.equal(await status(), 'failing');
      await tick();
      assert.equal(receiver.received.length, 1, 'one webhook for entering failing, none for staying there');

      const [failing] = receiver.received;
      assert.ok(failing);
      assert.equal(verifySignature(failing.headers['patchbay-signature'], failing.body, secret), Math.floor(clock.now().getTime() / 1000) - 60);
      assert.equal(failing.event.type, 'connector.failing');
      assert.equal(failing.headers['patchbay-event'], 'connector.failing');
      const data = failing.event.data as { connector: { id: string; status: string }; previous_status: string; check: { error_code: string; source: string } };
      assert.equal(data.connector.id, connectorId);
      assert.equal(data.connector.status, 'failing');
      assert.equal(data.previous_status, 'healthy');
      assert.deepEqual([data.check.error_code, data.check.source], ['database_not_found', 'scheduled']);

      await renameDatabase(gone, target.name);
      await tick();
      assert.equal(await status(), 'failing', 'one success is not yet a recovery');
      await tick();
      assert.equal(await status(), 'healthy');
      assert.equal(receiver.received.length, 2);
      const recovered = receiver.received[1];
      assert.ok(recovered);
      verifySignature(recovered.headers['patchbay-signature'], recovered.body, secret);
      assert.equal(recovered.event.type, 'connector.recovered');
      assert.notEqual(recovered.event.id, failing.event.id);

      const history = await call('GET', `/connectors/${connectorId}/health`);
      const body = history.json() as { data: { success: boolean; source: string }[]; summary: Record<string, { checks: number; uptime_percent: number }> };
      assert.deepEqual(
        body.data.map((row) => row.success),
        [true, true, false, false, false, true],
      );
      assert.ok(body.data.every((row) => row.source === 'scheduled'));
      assert.equal(body.summary['7d']?.checks, 6);
      assert.equal(body.summary['7d']?.uptime_percent, 50);

      const metrics = await services.metrics.render();
      assert.match(metrics, /^patchbay_scheduler_lag_seconds_count 6$/m);
      assert.match(metrics, /^patchbay_webhook_deliveries_total\{event="connector.failing",outcome="delivered"\} 1$/m);

      const audited = await ctx.models.AuditEvent.findAll({ where: { target_id: connectorId, action: 'connector.status_changed' }, order: [['created_at', 'ASC']] });
      assert.deepEqual(
        audited.map((e) => `${e.detail?.from}->${e.detail?.to}`).sort(),
        ['failing->healthy', 'healthy->failing', 'untested->healthy'].sort(),
      );
    });

    it('lets a hanging target hold one slot only, up to its own timeout, while the other checks go on', async (t) => {
      const setup = await healthSetup(t, { dialect, env: { PATCHBAY_HEALTH_CONCURRENCY: '2' } });
      if (!setup) return;
      const { ctx, context } = setup;
      // The app's own services, on the real clock: the order of the history rows is the order checks finished.
      const { connectors, scheduler } = ctx.app.services;
      const hanging = await silentListener(t);
      const refused = await closedPort();
      const create = (name: string, port: number) =>
        connectors.create(context, { name, connector_type: 'database', provider: 'postgresql', config: pgAt(port, { connect_timeout_ms: 6000 }) });
      const slow = await create('hangs', hanging.port);
      const quick = await Promise.all(Array.from({ length: 6 }, (_, i) => create(`quick-${i}`, refused)));
      // All due; the hanging one first, so it takes a slot before the others are claimed.
      const now = Date.now();
      await ctx.models.Connector.update({ next_check_at: new Date(now - 60_000) }, { where: { id: slow.id } });
      await ctx.models.Connector.update({ next_check_at: new Date(now - 1000) }, { where: { id: quick.map((c) => c.id) } });

      assert.equal(await scheduler.runDueChecks(), 7);
      const rows = await ctx.models.ConnectorHealthCheck.findAll({ where: { organization_id: context.organizationId }, order: [['id', 'ASC']] });
      assert.equal(rows.length, 7);
      assert.equal(rows.at(-1)?.connector_id, slow.id, 'the hanging check finished last');
      assert.equal(rows.at(-1)?.error_code, 'timeout');
      assert.ok(rows.slice(0, 6).every((row) => row.error_code === 'connection_refused'));
    });

    it('records a scheduled result whose connector was tested by hand meanwhile, and drops one whose config changed', async (t) => {
      const setup = await healthSetup(t, { dialect });
      if (!setup) return;
      const { services, clock, context, ctx } = setup;
      const port = await closedPort();
      const connector = await services.connectors.create(context, { name: 'c', connector_type: 'database', provider: 'postgresql', config: pgAt(port), health_check_interval_s: 60 });
      const refused = { success: false, message: 'refused', latency_ms: 1, error_code: 'connection_refused' as const };

      clock.advance(MINUTE);
      const [claimed] = await services.health.claimDue(5);
      assert.equal(claimed?.id, connector.id);
      // A manual test between the claim and the record: the claimed state is stale, the row is not lost.
      await services.connectors.test(context, connector.id);
      const recorded = await services.health.record({ connectorId: connector.id, result: refused, source: 'scheduled', claimed });
      assert.deepEqual([recorded?.previous, recorded?.status], ['failing', 'failing']);
      const row = await ctx.models.Connector.findByPk(connector.id);
      assert.equal(row?.consecutive_failures, 2, 'both results counted');

      clock.advance(MINUTE);
      const [again] = await services.health.claimDue(5);
      assert.ok(again);
      await services.connectors.update(context, connector.id, { config: { port: port + 1 } });
      assert.equal(await services.health.record({ connectorId: connector.id, result: refused, source: 'scheduled', claimed: again }), undefined);
      assert.equal((await ctx.models.Connector.findByPk(connector.id))?.status, 'untested', 'a result for the old config is dropped');
      assert.equal(await ctx.models.ConnectorHealthCheck.count({ where: { connector_id: connector.id } }), 2);
    });

    it('takes a disabled connector off the schedule (executes answer connector_disabled) and puts it back when re-enabled', async (t) => {
      const setup = await healthSetup(t, { dialect });
      if (!setup) return;
      const { services, clock, admin, ctx } = setup;
      const port = await closedPort();
      const call = (method: 'POST' | 'PUT', url: string, payload: object) =>
        ctx.app.inject({ method, url: `/api/v1${url}`, headers: bearer(admin.key), payload });
      const created = await call('POST', '/connectors', { name: 'c', connector_type: 'database', provider: 'postgresql', config: pgAt(port), health_check_interval_s: 60 });
      const id = (created.json() as { id: string }).id;

      const disabled = await call('PUT', `/connectors/${id}`, { enabled: false });
      assert.equal(disabled.statusCode, 200, disabled.body);
      assert.equal((disabled.json() as { status: string }).status, 'disabled');
      assert.equal((await ctx.models.Connector.findByPk(id))?.next_check_at, null);
      const execute = await call('POST', `/connectors/${id}/execute`, { query: 'SELECT 1' });
      assert.equal(execute.statusCode, 409);
      assert.equal((execute.json() as { code: string }).code, 'connector_disabled');
      clock.advance(10 * MINUTE);
      assert.equal(await services.scheduler.runDueChecks(), 0);

      const enabled = await call('PUT', `/connectors/${id}`, { enabled: true });
      assert.equal((enabled.json() as { status: string }).status, 'untested');
      assert.ok((await ctx.models.Connector.findByPk(id))?.next_check_at, 'scheduled again');
      clock.advance(MINUTE);
      assert.equal(await services.scheduler.runDueChecks(), 1);
    });
  });
}
