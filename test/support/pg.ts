import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
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

/** The pid of the backend running (active) a statement that contains `text`, once it runs (within 20 s). */
export async function backendRunning(admin: pg.Client, text: string): Promise<number> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { rows } = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()",
      [`%${text}%`],
    );
    if (rows[0]) return rows[0].pid;
    if (Date.now() > deadline) throw new Error(`the statement ${text} never ran`);
    await sleep(50);
  }
}
