import { QueryTypes, type Sequelize } from 'sequelize';
import type { KeyRing } from '../../crypto/key-ring.js';
import { writeTransaction } from '../../db/write-transaction.js';

/**
 * Every encrypted column Patchbay keeps, with how its Fernet envelope is bound. A later table with a sealed
 * column adds one entry here, and status and reencrypt cover it.
 */
const encryptedColumns = [
  { table: 'pb_connectors', column: 'config_encrypted', binding: (row: EncryptedRow) => ({ organization_id: row.organization_id, connector_id: row.id }) },
  { table: 'pb_webhooks', column: 'secret_encrypted', binding: (row: EncryptedRow) => ({ organization_id: row.organization_id, webhook_id: row.id }) },
] as const;

interface EncryptedRow {
  id: string;
  organization_id: string;
  key_id: string;
  version: number;
  token: string;
}

export interface ReencryptReport {
  reencrypted: number;
  skipped_changed: number;
  failed: { table: string; id: string; key_id: string; reason: string }[];
}

export class ReencryptService {
  constructor(
    private readonly sequelize: Sequelize,
    private readonly keyRing: KeyRing,
    /** Told after a run: configs are sealed anew by raw SQL, which no model hook sees (cached decrypted configs). */
    private readonly onReencrypted?: () => void,
  ) {}

  /** How many encrypted values each key id protects, across every encrypted column. */
  async status(): Promise<{ key_id: string; count: number; in_ring: boolean; primary: boolean }[]> {
    const counts = new Map<string, number>();
    for (const { table } of encryptedColumns) {
      const rows = await this.sequelize.query<{ key_id: string; count: string | number }>(
        `SELECT key_id, COUNT(*) AS count FROM ${table} GROUP BY key_id`,
        { type: QueryTypes.SELECT },
      );
      for (const row of rows) counts.set(row.key_id, (counts.get(row.key_id) ?? 0) + Number(row.count));
    }
    for (const id of this.keyRing.keyIds) if (!counts.has(id)) counts.set(id, 0);
    return [...counts.entries()].map(([key_id, count]) => ({
      key_id,
      count,
      in_ring: this.keyRing.has(key_id),
      primary: key_id === this.keyRing.primaryKeyId,
    }));
  }

  /**
   * Re-encrypts every value not under the primary key, a batch at a time. Resumable (it only ever looks for
   * rows not yet under the primary key) and safe beside running servers: a row is written only if its
   * `version` is unchanged, and the version is not bumped, so no one's If-Match goes stale.
   */
  async reencrypt(options: { batchSize?: number; onBatch?: (done: number) => void } = {}): Promise<ReencryptReport> {
    const batchSize = options.batchSize ?? 200;
    const report: ReencryptReport = { reencrypted: 0, skipped_changed: 0, failed: [] };
    const primary = this.keyRing.primaryKeyId;
    for (const { table, column, binding } of encryptedColumns) {
      const failedIds = new Set<string>();
      let afterId = '';
      for (;;) {
        const rows = await this.sequelize.query<EncryptedRow>(
          `SELECT id, organization_id, key_id, version, ${column} AS token FROM ${table}
           WHERE key_id <> :primary AND id > :afterId ORDER BY id LIMIT :limit`,
          { type: QueryTypes.SELECT, replacements: { primary, afterId, limit: batchSize } },
        );
        if (rows.length === 0) break;
        // Sealed first, then written in one transaction per batch: one commit (and fsync) per batch, not per row.
        const sealedRows: { row: EncryptedRow; sealed: { token: string; key_id: string } }[] = [];
        for (const row of rows) {
          afterId = row.id;
          if (failedIds.has(row.id)) continue;
          try {
            sealedRows.push({ row, sealed: this.keyRing.seal(binding(row), this.keyRing.open(binding(row), row.token, row.key_id)) });
          } catch (error) {
            failedIds.add(row.id);
            report.failed.push({ table, id: row.id, key_id: row.key_id, reason: error instanceof Error ? error.message : 'cannot decrypt' });
          }
        }
        await writeTransaction(this.sequelize, async (transaction) => {
          for (const { row, sealed } of sealedRows) {
            const [, affected] = await this.sequelize.query(
              `UPDATE ${table} SET ${column} = :token, key_id = :keyId WHERE id = :id AND version = :version`,
              { type: QueryTypes.UPDATE, transaction, replacements: { token: sealed.token, keyId: sealed.key_id, id: row.id, version: row.version } },
            );
            if (affected === 1) report.reencrypted += 1;
            else report.skipped_changed += 1; // changed meanwhile: the writer sealed it under the primary key already
          }
        });
        options.onBatch?.(report.reencrypted);
      }
    }
    this.onReencrypted?.();
    return report;
  }
}
