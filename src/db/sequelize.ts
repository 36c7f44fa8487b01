import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Sequelize, type Options } from 'sequelize';
import type { DatabaseSettings } from '../config.js';

/** PostgreSQL or SQLite from one setting. The schema comes from migrations only, never sync(). */
export function createSequelize(settings: DatabaseSettings, options: { logging?: Options['logging'] } = {}): Sequelize {
  const logging = options.logging ?? false;
  if (settings.dialect === 'sqlite') {
    if (settings.storage !== ':memory:') mkdirSync(path.dirname(settings.storage), { recursive: true });
    const sequelize = new Sequelize({
      dialect: 'sqlite',
      storage: settings.storage,
      logging,
      // One connection: SQLite serialises writers anyway, and a single handle avoids SQLITE_BUSY between our own queries.
      pool: { max: 1, min: 0, idle: 60_000 },
      retry: { max: 3, match: [/SQLITE_BUSY/] },
    });
    // WAL lets readers (a second CLI process) work while the server writes; busy_timeout waits instead of failing.
    sequelize.addHook('afterConnect', async (connection: unknown) => {
      const db = connection as { run(sql: string, cb: (err: Error | null) => void): void };
      for (const pragma of ['PRAGMA journal_mode = WAL', 'PRAGMA busy_timeout = 5000', 'PRAGMA foreign_keys = ON']) {
        await new Promise<void>((resolve, reject) => db.run(pragma, (err) => (err ? reject(err) : resolve())));
      }
    });
    return sequelize;
  }
  return new Sequelize(settings.url, {
    dialect: 'postgres',
    logging,
    pool: { max: 10, min: 0, idle: 10_000 },
    dialectOptions: { application_name: 'patchbay' },
  });
}

export const isPostgres = (sequelize: Sequelize): boolean => sequelize.getDialect() === 'postgres';

/** JSONB on PostgreSQL, JSON (text) on SQLite: the type PolicySynth's `configuration` columns need. */
export const jsonType = (sequelize: Sequelize) =>
  isPostgres(sequelize) ? ('JSONB' as const) : ('JSON' as const);
