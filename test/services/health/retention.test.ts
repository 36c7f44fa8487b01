import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config.js';
import { generateKey } from '../../../src/crypto/fernet.js';
import { KeyRing } from '../../../src/crypto/key-ring.js';
import { initModels } from '../../../src/db/models/index.js';
import { RetentionService } from '../../../src/services/health/retention-service.js';
import { dialects, migratedDatabase } from '../../support/db.js';
import { connectorRow } from '../../support/rows.js';

const DAY = 86_400_000;

for (const dialect of dialects) {
  describe(`retention on ${dialect}`, () => {
    it('prunes health checks, finished deliveries and audit events past their retention, in batches, and keeps the rest', async (t) => {
      const db = await migratedDatabase(t, dialect);
      if (!db) return;
      const models = initModels(db.sequelize);
      const ring = KeyRing.fromKeys([generateKey()]);
      const now = Date.now();
      const ago = (days: number) => new Date(now - days * DAY);
      const org = await models.Organization.create({ slug: 'r', name: 'r' });
      const connector = await connectorRow(models, org.id);
      const check = (at: Date) => ({ connector_id: connector.id, organization_id: org.id, checked_at: at, success: true, latency_ms: 3, error_code: null, message: 'ok', source: 'scheduled' as const });
      await models.ConnectorHealthCheck.bulkCreate([...Array.from({ length: 25 }, () => check(ago(8))), ...Array.from({ length: 5 }, () => check(ago(6)))]);

      const audit = (at: Date) => ({ organization_id: org.id, actor_type: 'system' as const, actor_id: null, action: 'x', target_type: null, target_id: null, outcome: 'success' as const, detail: null, request_id: null, created_at: at });
      await models.AuditEvent.bulkCreate([...Array.from({ length: 12 }, () => audit(ago(91))), ...Array.from({ length: 3 }, () => audit(ago(89)))]);

      const sealed = ring.seal({ organization_id: org.id, webhook_id: 'w' }, 'a-secret-of-sixteen');
      const hook = await models.Webhook.create({ organization_id: org.id, url: 'http://127.0.0.1:9/', events: ['connector.failing'], description: null, secret_encrypted: sealed.token, key_id: sealed.key_id, disabled_reason: null, created_by: null });
      const delivery = (status: 'pending' | 'delivered' | 'failed', at: Date) => ({
        webhook_id: hook.id, organization_id: org.id, event_id: 'e', event: 'connector.failing' as const, payload: '{}', status, attempts: 1,
        next_attempt_at: null, last_attempt_at: null, last_status_code: null, last_error: null, created_at: at, updated_at: at,
      });
      await models.WebhookDelivery.bulkCreate([delivery('delivered', ago(8)), delivery('failed', ago(8)), delivery('pending', ago(8)), delivery('delivered', ago(1))]);

      const config = loadConfig({ DATABASE_URL: db.db.url });
      const pruned = await new RetentionService({ sequelize: db.sequelize, config, batchSize: 10 }).prune();
      assert.deepEqual(pruned, { health_checks: 25, webhook_deliveries: 2, audit_events: 12 });
      assert.equal(await models.ConnectorHealthCheck.count(), 5);
      assert.equal(await models.AuditEvent.count(), 3);
      assert.deepEqual((await models.WebhookDelivery.findAll()).map((d) => d.status).sort(), ['delivered', 'pending'], 'a pending delivery is never pruned');

      // Shorter retentions from the environment apply.
      const shorter = loadConfig({ DATABASE_URL: db.db.url, PATCHBAY_HEALTH_RETENTION_DAYS: '1', PATCHBAY_AUDIT_RETENTION_DAYS: '30' });
      assert.deepEqual(await new RetentionService({ sequelize: db.sequelize, config: shorter }).prune(), { health_checks: 5, webhook_deliveries: 1, audit_events: 3 });
    });
  });
}
