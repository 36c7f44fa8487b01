import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { QueryTypes } from 'sequelize';
import { loadConfig } from '../../src/config.js';
import { generateKey } from '../../src/crypto/fernet.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { initModels } from '../../src/db/models/index.js';
import { createSequelize } from '../../src/db/sequelize.js';
import type { AuditInput } from '../../src/services/audit-service.js';
import { createServices } from '../../src/services/index.js';
import { dialects, migratedDatabase, type Dialect } from '../support/db.js';

const event = (index: number, extra: Partial<AuditInput> = {}): AuditInput => ({
  organization_id: 'org-1',
  actor: { type: 'agent', id: 'token-1' },
  action: 'connector.execute',
  target_type: 'connector_instance',
  target_id: `instance-${index}`,
  outcome: 'success',
  detail: { index, rows: 1 },
  request_id: `req-${index}`,
  ...extra,
});

/** A migrated database of `dialect` with the services built on it, or undefined where the test skipped. */
async function servicesOn(t: TestContext, dialect: Dialect) {
  const db = await migratedDatabase(t, dialect);
  if (!db) return undefined;
  const config = loadConfig({ DATABASE_URL: db.db.url, LOG_LEVEL: 'silent' });
  const services = createServices({
    config,
    sequelize: db.sequelize,
    models: initModels(db.sequelize),
    keyRing: KeyRing.fromKeys([generateKey()]),
    log: pino({ level: 'silent' }),
  });
  return { db, config, services };
}

for (const dialect of dialects) {
  describe(`audit group commit on ${dialect}`, () => {
    it('writes concurrent rows together, each durable when its call resolves, in the order they were recorded', async (t) => {
      const opened = await servicesOn(t, dialect);
      if (!opened) return;
      const { config, services } = opened;
      // Another connection reads what is committed, as another process would.
      const reader = createSequelize(config.database);
      t.after(() => reader.close());
      const committed = async (requestId: string) =>
        (
          await reader.query('SELECT id FROM pb_audit_events WHERE request_id = :requestId', {
            replacements: { requestId },
            type: QueryTypes.SELECT,
          })
        ).length;

      const checks: Promise<number>[] = [];
      await Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          services.audit.record(event(index)).then(() => {
            // At the moment a call could answer, its row is committed.
            checks.push(committed(`req-${index}`));
          }),
        ),
      );
      assert.deepEqual(
        await Promise.all(checks),
        Array.from({ length: 200 }, () => 1),
      );
      const { batches, rows } = services.writer.stats;
      assert.equal(rows, 200);
      assert.ok(batches < 200, `${batches} INSERTs for 200 concurrent rows: rows are grouped`);

      // One caller's events, one after another (a few milliseconds apart: created_at has millisecond resolution),
      // list newest first with their details intact.
      for (let index = 1000; index < 1005; index += 1) {
        await services.audit.record(event(index, { organization_id: 'org-2' }));
        await sleep(3);
      }
      const page = await services.audit.list('org-2', { limit: 10 });
      assert.deepEqual(
        page.data.map((row) => row.request_id),
        ['req-1004', 'req-1003', 'req-1002', 'req-1001', 'req-1000'],
      );
      assert.deepEqual(page.data[0]?.detail, { index: 1004, rows: 1 });
      assert.equal(page.data[0]?.actor_type, 'agent');
    });

    it('a failed INSERT fails exactly the calls of its batch: a resolved call has its row, a rejected one has none', async (t) => {
      const opened = await servicesOn(t, dialect);
      if (!opened) return;
      const { db, services } = opened;
      // A row the table refuses (action is NOT NULL), among good ones.
      const outcomes = await Promise.allSettled(
        Array.from({ length: 60 }, (_, index) =>
          services.audit.record(event(index, index === 30 ? { action: null as unknown as string } : {})),
        ),
      );
      assert.equal(outcomes[30]?.status, 'rejected');
      const stored = new Set(
        (
          await db.sequelize.query<{ request_id: string }>('SELECT request_id FROM pb_audit_events', { type: QueryTypes.SELECT })
        ).map((row) => row.request_id),
      );
      outcomes.forEach((outcome, index) =>
        assert.equal(stored.has(`req-${index}`), outcome.status === 'fulfilled', `row ${index}: ${outcome.status}`),
      );
      // The writer goes on.
      await services.audit.record(event(100));
      const [count] = await db.sequelize.query<{ n: number | string }>(
        "SELECT COUNT(*) AS n FROM pb_audit_events WHERE request_id = 'req-100'",
        { type: QueryTypes.SELECT },
      );
      assert.equal(Number(count?.n), 1);
    });
  });
}
