import { Transaction, type Sequelize } from 'sequelize';
import { isPostgres } from './sequelize.js';

const sqliteWriters = new WeakMap<Sequelize, Promise<unknown>>();

/**
 * Runs `work` in a transaction fit for read-then-write. PostgreSQL: its default (callers lock rows with
 * FOR UPDATE where they need to). SQLite: BEGIN IMMEDIATE, which takes the write lock before the first read, so
 * two writers never deadlock upgrading a read lock; and this process's write transactions take turns here first.
 * SQLite has one writer at a time anyway, and node-sqlite3 waits for a lock inside SQLite's busy handler on one
 * of libuv's four threads: a few transactions waiting there starve the one holding the lock until they time out
 * (SQLITE_BUSY). Do not nest calls: the inner one would wait for the outer.
 */
export function writeTransaction<T>(sequelize: Sequelize, work: (transaction: Transaction) => Promise<T>): Promise<T> {
  if (isPostgres(sequelize)) return sequelize.transaction(work);
  const previous = sqliteWriters.get(sequelize) ?? Promise.resolve();
  const turn = previous.then(() => sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE }, work));
  sqliteWriters.set(
    sequelize,
    turn.catch(() => undefined),
  );
  return turn;
}
