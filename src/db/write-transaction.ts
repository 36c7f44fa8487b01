import { AsyncLocalStorage } from 'node:async_hooks';
import { Sequelize, Transaction } from 'sequelize';
import { isPostgres } from './sequelize.js';

const sqliteWriters = new WeakMap<Sequelize, Promise<unknown>>();

/** The transaction of a `writeTransactionScope` in progress, for the code that runs inside it. */
const scope = new AsyncLocalStorage<{ sequelize: Sequelize; transaction: Transaction }>();

// `finished` is set on commit and rollback (untyped): work a scope started that outlives it must not reuse it.
const liveScope = () => {
  const current = scope.getStore();
  return current && !(current.transaction as Transaction & { finished?: string }).finished ? current : undefined;
};

/** Whether the caller runs inside a live `writeTransactionScope`, whose queries must all join its transaction. */
export const inWriteScope = (): boolean => liveScope() !== undefined;

/**
 * Runs `work` in a transaction fit for read-then-write. PostgreSQL: its default (callers lock rows with
 * FOR UPDATE where they need to). SQLite: BEGIN IMMEDIATE, which takes the write lock before the first read, so
 * two writers never deadlock upgrading a read lock; and this process's write transactions take turns here first.
 * SQLite has one writer at a time anyway, and node-sqlite3 waits for a lock inside SQLite's busy handler on one
 * of libuv's four threads: a few transactions waiting there starve the one holding the lock until they time out
 * (SQLITE_BUSY). Do not nest calls: the inner one would wait for the outer (inside a `writeTransactionScope`, it
 * joins the scope's transaction instead).
 */
export function writeTransaction<T>(sequelize: Sequelize, work: (transaction: Transaction) => Promise<T>): Promise<T> {
  const outer = liveScope();
  if (outer?.sequelize === sequelize) return work(outer.transaction);
  if (isPostgres(sequelize)) return sequelize.transaction(work);
  const previous = sqliteWriters.get(sequelize) ?? Promise.resolve();
  const turn = previous.then(() => sequelize.transaction({ type: Transaction.TYPES.IMMEDIATE }, work));
  sqliteWriters.set(
    sequelize,
    turn.catch(() => undefined),
  );
  return turn;
}

/**
 * One write transaction that every query inside `work` joins, including those of services that know nothing of
 * it (they pass no transaction) and their own `writeTransaction` calls: all of it commits, or none of it. This is
 * how `patchbay apply` runs many service calls as one unit without a second write path.
 */
export function writeTransactionScope<T>(sequelize: Sequelize, work: (transaction: Transaction) => Promise<T>): Promise<T> {
  joinScopedTransactions();
  return writeTransaction(sequelize, (transaction) => scope.run({ sequelize, transaction }, () => work(transaction)));
}

let joining = false;

/**
 * Sequelize hands a query without a transaction the one its CLS namespace names. This namespace names only a
 * scope's live transaction: it never starts or records one itself, so code outside a scope behaves as before.
 */
function joinScopedTransactions(): void {
  if (joining) return;
  joining = true;
  Sequelize.useCLS({
    get: (key: string) => (key === 'transaction' ? liveScope()?.transaction : undefined),
    set: () => undefined,
    run: (fn: (context: Record<string, never>) => unknown) => fn({}),
    bind: <F>(fn: F) => fn,
  } as unknown as Parameters<typeof Sequelize.useCLS>[0]);
}
