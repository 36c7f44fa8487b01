import { QueryTypes, type Sequelize } from 'sequelize';
import type { Config } from '../../config.js';
import { isPostgres } from '../../db/sequelize.js';

/**
 * Deletes what is older than its retention, a batch at a time, so no statement holds locks long or bloats one
 * transaction: health checks (PATCHBAY_HEALTH_RETENTION_DAYS), finished webhook deliveries (the same span: they
 * are the alerts' history) and audit events (PATCHBAY_AUDIT_RETENTION_DAYS). On PostgreSQL each batch skips rows
 * another process is deleting, so two schedulers pruning together neither wait nor fail.
 */
export class RetentionService {
  constructor(
    private readonly deps: {
      sequelize: Sequelize;
      config: Readonly<Config>;
      clock?: () => Date;
      /** Rows per DELETE. @default 1000 */
      batchSize?: number;
    },
  ) {}

  async prune(): Promise<{ health_checks: number; webhook_deliveries: number; audit_events: number }> {
    const now = (this.deps.clock?.() ?? new Date()).getTime();
    const days = (n: number) => new Date(now - n * 86_400_000);
    const { health, auditRetentionDays } = this.deps.config;
    return {
      health_checks: await this.pruneTable('pb_connector_health_checks', 'checked_at < :cutoff', days(health.retentionDays)),
      webhook_deliveries: await this.pruneTable('pb_webhook_deliveries', "created_at < :cutoff AND status <> 'pending'", days(health.retentionDays)),
      audit_events: await this.pruneTable('pb_audit_events', 'created_at < :cutoff', days(auditRetentionDays)),
    };
  }

  private async pruneTable(table: string, condition: string, cutoff: Date): Promise<number> {
    const { sequelize } = this.deps;
    const limit = this.deps.batchSize ?? 1000;
    const lock = isPostgres(sequelize) ? 'FOR UPDATE SKIP LOCKED' : '';
    let deleted = 0;
    for (;;) {
      const count = await sequelize.query(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE ${condition} LIMIT :limit ${lock})`, {
        type: QueryTypes.BULKDELETE,
        replacements: { cutoff, limit },
      });
      deleted += Number(count);
      if (Number(count) < limit) return deleted;
      // Let requests and checks in between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
