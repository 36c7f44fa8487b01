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
      retry: { max: 3, match: [/SQLITE_BUSY/] },
    });
    preparePragmas(sequelize);
    return sequelize;
  }
  return new Sequelize(settings.url, {
    dialect: 'postgres',
    logging,
    // Bounded waits, so that a database that does not answer (a host gone, a network cut) makes a request fail
    // with 503 `unavailable` (db/unavailable.ts) in seconds rather than hang: connecting, and waiting for a free
    // connection of the pool (Sequelize's default is a minute).
    pool: { max: settings.poolMax ?? 10, min: 0, idle: 10_000, acquire: POOL_ACQUIRE_MS },
    dialectOptions: { application_name: 'patchbay', connectionTimeoutMillis: CONNECT_TIMEOUT_MS },
  });
}

/** How long connecting to Patchbay's PostgreSQL may take (the pool's connections and the change listener's). */
export const CONNECT_TIMEOUT_MS = 5_000;
const POOL_ACQUIRE_MS = 10_000;

export const isPostgres = (sequelize: Sequelize): boolean => sequelize.getDialect() === 'postgres';

/** JSONB on PostgreSQL, JSON (text) on SQLite: the type PolicySynth's `configuration` columns need. */
export const jsonType = (sequelize: Sequelize) =>
  isPostgres(sequelize) ? ('JSONB' as const) : ('JSON' as const);

type SqliteHandle = { run(sql: string, callback: (error: Error | null) => void): void };

/**
 * Per-connection settings: WAL lets readers (a CLI process, a second handle) work while a writer writes;
 * synchronous NORMAL is WAL's recommended pairing (never corrupts; a power cut may lose the last commits, not a
 * process crash) and halves the cost of each write, such as the audit row every call writes; busy_timeout makes a
 * writer wait for the lock instead of failing at once. Sequelize's SQLite dialect opens a
 * handle per transaction outside its pool and never runs the `afterConnect` hook, so the settings are applied
 * where it hands out a handle.
 */
function preparePragmas(sequelize: Sequelize): void {
  const manager = sequelize.connectionManager as unknown as { getConnection(options?: unknown): Promise<SqliteHandle> };
  const getConnection = manager.getConnection.bind(manager);
  const prepared = new WeakSet<SqliteHandle>();
  manager.getConnection = async (options) => {
    const handle = await getConnection(options);
    if (!prepared.has(handle)) {
      prepared.add(handle);
      for (const pragma of ['PRAGMA journal_mode = WAL', 'PRAGMA synchronous = NORMAL', 'PRAGMA busy_timeout = 5000', 'PRAGMA foreign_keys = ON']) {
        await new Promise<void>((resolve, reject) => handle.run(pragma, (error) => (error ? reject(error) : resolve())));
      }
    }
    return handle;
  };
}
