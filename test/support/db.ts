import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import type { Sequelize } from 'sequelize';
import { parseDatabaseUrl, type DatabaseSettings } from '../../src/config.js';
import { createSequelize } from '../../src/db/sequelize.js';
import { migrateUp } from '../../src/db/migrator.js';
import { requireServer } from './servers.js';

export type Dialect = 'sqlite' | 'postgres';

/** `DB="sqlite postgres"` (the default) runs data-layer suites on both dialects; `DB=sqlite` narrows a run. */
export const dialects: Dialect[] = (process.env.DB ?? 'sqlite postgres')
  .split(/[\s,]+/)
  .filter((d): d is Dialect => d === 'sqlite' || d === 'postgres');

export const PG_ADMIN_URL = process.env.PATCHBAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  settings: DatabaseSettings;
  url: string;
  /** Drops the database (PostgreSQL) or deletes the folder (SQLite). */
  drop(): Promise<void>;
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A fresh, empty database: a new PostgreSQL database on the local server (or on the server `adminUrl` names, such
 * as a private cluster a test stops and starts), or a SQLite file in a temp folder.
 */
export async function createTestDatabase(dialect: Dialect, adminUrl = PG_ADMIN_URL): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-test-'));
    const url = `sqlite:${path.join(dir, 'patchbay.sqlite')}`;
    return { settings: parseDatabaseUrl(url), url, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `pb_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  const base = new URL(adminUrl);
  base.pathname = `/${name}`;
  const url = base.toString();
  return {
    settings: parseDatabaseUrl(url),
    url,
    drop: async () => adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/**
 * A migrated database and a Sequelize instance on it for one test (or suite), removed afterwards; on PostgreSQL,
 * on the server `adminUrl` names when given (the caller has checked it is there).
 * Returns undefined when the dialect's server is missing outside CI (the test is then skipped).
 */
export async function migratedDatabase(
  t: TestContext,
  dialect: Dialect,
  adminUrl?: string,
): Promise<{ sequelize: Sequelize; db: TestDatabase } | undefined> {
  if (dialect === 'postgres' && !adminUrl && !(await requireServer(t, 'postgresql'))) return undefined;
  const db = await createTestDatabase(dialect, adminUrl);
  const sequelize = createSequelize(db.settings);
  t.after(async () => {
    // A test may have closed it already (to see the app without its database).
    await sequelize.close().catch(() => undefined);
    await db.drop();
  });
  await migrateUp(sequelize);
  return { sequelize, db };
}
