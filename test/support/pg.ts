import type { TestContext } from 'node:test';
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from './db.js';
import { pgQuery } from './direct.js';
import { requireServer } from './servers.js';

/** A fresh PostgreSQL database for a connector to point at, with the given setup SQL; dropped afterwards. */
export async function targetDatabase(t: TestContext, setupSql = ''): Promise<(TestDatabase & { name: string; query: (sql: string) => Promise<pg.QueryResult> }) | undefined> {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const db = await createTestDatabase('postgres');
  const name = new URL(db.url).pathname.slice(1);
  const query = (sql: string) => pgQuery(db.url, sql);
  if (setupSql) await query(setupSql);
  t.after(() => db.drop());
  return { ...db, name, query };
}
