/**
 * Data the benchmarks set up in bulk: thousands of connectors written straight into pb_connectors (the service
 * writes one row and one audit event per call, minutes at 10,000), and SQLite files for sqlite connectors to read.
 */
import path from 'node:path';
import sqlite3 from 'sqlite3';
import type { KeyRing } from '../src/crypto/key-ring.js';
import { newId } from '../src/db/ids.js';
import type { Models } from '../src/db/models/index.js';

export interface ConnectorSeed {
  name: string;
  connector_type: string;
  provider: string;
  config: Record<string, unknown>;
  health_check_interval_s: number;
}

const BATCH = 2000;

/**
 * Inserts `count` connectors of one organisation, each config sealed under the ring's primary key, 2,000 rows per
 * INSERT, and returns their ids in order. No due time is set: a scheduler spreads the first checks over the
 * interval itself, as after a migration.
 */
export async function insertConnectors(
  models: Models,
  keyRing: KeyRing,
  organizationId: string,
  count: number,
  seed: (index: number) => ConnectorSeed,
): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; offset < count; offset += BATCH) {
    const rows = [];
    for (let index = offset; index < Math.min(count, offset + BATCH); index += 1) {
      const id = newId();
      const { config, ...fields } = seed(index);
      const sealed = keyRing.seal({ organization_id: organizationId, connector_id: id }, config);
      rows.push({
        ...fields,
        id,
        organization_id: organizationId,
        config_encrypted: sealed.token,
        key_id: sealed.key_id,
        last_tested_at: null,
        last_test_result: null,
        last_error: null,
        created_by: null,
        description: null,
      });
      ids.push(id);
    }
    await models.Connector.bulkCreate(rows, { validate: false });
  }
  await models.Connector.sequelize?.query('ANALYZE pb_connectors');
  return ids;
}

/** Creates `root/file`: a SQLite database with a table `items` of `rows` rows (id, name). */
export async function sqliteItemsFile(root: string, file: string, rows: number): Promise<void> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened = new sqlite3.Database(path.join(root, file), (error) => (error ? reject(error) : resolve(opened)));
  });
  const run = (sql: string) => new Promise<void>((resolve, reject) => db.exec(sql, (error) => (error ? reject(error) : resolve())));
  try {
    await run(
      `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
       WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) INSERT INTO items SELECT i, 'item ' || i FROM n;`,
    );
  } finally {
    await new Promise((resolve) => db.close(resolve));
  }
}
