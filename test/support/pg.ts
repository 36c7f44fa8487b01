import type { TestContext } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './db.js';
import { requireServer } from './servers.js';

/** A fresh PostgreSQL database for a connector to point at, with the given setup SQL; dropped afterwards. */
export async function targetDatabase(t: TestContext, setupSql = ''): Promise<(TestDatabase & { name: string; query: (sql: string) => Promise<pg.QueryResult> }) | undefined> {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const db = await createTestDatabase('postgres');
  const name = new URL(db.url).pathname.slice(1);
  const query = async (sql: string) => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  };
  if (setupSql) await query(setupSql);
  t.after(() => db.drop());
  return { ...db, name, query };
}
