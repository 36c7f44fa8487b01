import mysql2 from 'mysql2/promise';
import pg from 'pg';
import sqlite3 from 'sqlite3';

/**
 * One statement on a connection of its own, opened and closed around it: how a test looks at a database behind
 * Patchbay's back (what a call left behind, what the server holds), never through the pool under test.
 */
export async function pgQuery(connection: pg.ClientConfig | string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client(connection);
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/** The same for MySQL/MariaDB: the rows of a SELECT, or none for any other statement. */
export async function mysqlQuery(connection: mysql2.ConnectionOptions, text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = await mysql2.createConnection(connection);
  try {
    const [result] = await client.query(text, values);
    return Array.isArray(result) ? (result as Record<string, unknown>[]) : [];
  } finally {
    await client.end();
  }
}

/** The same for SQLite: the rows of one statement on the database file `file`, created if missing. */
export async function sqliteQuery(file: string, text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened = new sqlite3.Database(file, (error) => (error ? reject(error) : resolve(opened)));
  });
  try {
    return await new Promise((resolve, reject) =>
      db.all(text, values, (error: Error | null, found: Record<string, unknown>[]) => (error ? reject(error) : resolve(found))),
    );
  } finally {
    await new Promise((resolve) => db.close(resolve));
  }
}
