import type { Sequelize } from 'sequelize';
import { isPostgres } from '../db/sequelize.js';

/**
 * The few statements of the run-time path, sent through the driver rather than Sequelize's model layer: on
 * PostgreSQL as named prepared statements on a connection of Sequelize's own pool (parsed and planned once per
 * connection); on SQLite on Sequelize's own connection (never a transaction's: Sequelize opens those apart), so
 * they share its busy timeout and its place in `PRAGMA data_version`. SQLite statements are prepared per call
 * (node-sqlite3 cannot close a database that still holds prepared statements, and Sequelize closes it); they run
 * once per batch, so the preparation is shared by every row of it.
 */

export type Row = Record<string, unknown>;

interface PgClient {
  query(config: { name?: string; text: string; values: unknown[] }): Promise<{ rows: Row[] }>;
}
interface SqliteHandle {
  all(sql: string, params: unknown[], callback: (error: Error | null, rows: Row[]) => void): void;
}
interface ConnectionManager {
  getConnection(options?: unknown): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void> | void;
}

export class HotStatements {
  readonly postgres: boolean;

  constructor(private readonly sequelize: Sequelize) {
    this.postgres = isPostgres(sequelize);
  }

  /** `$1, $2…` on PostgreSQL, `?` on SQLite: the placeholder of parameter `index` (0-based). */
  placeholder(index: number): string {
    return this.postgres ? `$${index + 1}` : '?';
  }

  /** A value as the column stores it: SQLite keeps dates as Sequelize writes them (text, UTC, `+00:00`). */
  date(value: Date): unknown {
    return this.postgres ? value : value.toISOString().replace('T', ' ').replace('Z', ' +00:00');
  }

  /** Runs one statement; `name` (PostgreSQL) keeps it prepared per connection, so one name is one text (none: unnamed). */
  async run(name: string | undefined, text: string, values: unknown[]): Promise<Row[]> {
    const manager = this.sequelize.connectionManager as unknown as ConnectionManager;
    if (this.postgres) {
      const client = (await manager.getConnection({ type: 'write' })) as PgClient;
      try {
        return (await client.query({ name, text, values })).rows;
      } finally {
        await manager.releaseConnection(client);
      }
    }
    const handle = (await manager.getConnection()) as SqliteHandle;
    return new Promise((resolve, reject) =>
      handle.all(text, values, (error, rows) => (error ? reject(error) : resolve(rows ?? []))),
    );
  }
}
