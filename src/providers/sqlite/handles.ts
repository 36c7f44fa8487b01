import type { Database } from 'sqlite3';

/**
 * Up to `max` open handles (connections) on one database file, each lent to one call at a time: a call's
 * `interrupt()` (its timeout_ms) then stops only that call's statement. sqlite3 keeps no pool of its own.
 */
export class HandlePool {
  private readonly idle: Database[] = [];
  private readonly busy = new Set<Database>();
  private readonly waiting: { resolve(db: Database): void; reject(error: unknown): void }[] = [];
  private readonly closing = new Set<Promise<void>>();
  private opening = 0;
  private closed = false;
  private drained?: () => void;

  constructor(
    private readonly open: () => Promise<Database>,
    private readonly max: number,
  ) {}

  async acquire(): Promise<Database> {
    if (this.closed) throw new Error('sqlite: the session is closed');
    const idle = this.idle.pop();
    if (idle) {
      this.busy.add(idle);
      return idle;
    }
    if (this.busy.size + this.opening >= this.max) {
      return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
    }
    this.opening += 1;
    let db: Database;
    try {
      db = await this.open();
    } catch (error) {
      this.opening -= 1;
      // A call waiting for this slot tries to open one itself.
      const waiter = this.waiting.shift();
      if (waiter) this.acquire().then(waiter.resolve, waiter.reject);
      throw error;
    }
    this.opening -= 1;
    this.busy.add(db);
    if (this.closed) {
      this.release(db, true);
      throw new Error('sqlite: the session is closed');
    }
    return db;
  }

  /** Gives a handle back; a `broken` one (or any, once closed) is closed instead of being lent again. */
  release(db: Database, broken = false): void {
    if (!this.busy.delete(db)) return;
    if (broken || this.closed) {
      this.closeHandle(db);
      const waiter = this.waiting.shift();
      if (waiter) this.acquire().then(waiter.resolve, waiter.reject);
    } else {
      const waiter = this.waiting.shift();
      if (waiter) {
        this.busy.add(db);
        waiter.resolve(db);
      } else {
        this.idle.push(db);
      }
    }
    if (this.closed && this.busy.size === 0) this.drained?.();
  }

  /** Closes the idle handles, interrupts the statements of the busy ones and waits for them to come back. */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error('sqlite: the session is closed'));
    for (const db of this.idle.splice(0)) this.closeHandle(db);
    if (this.busy.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      for (const db of this.busy) db.interrupt();
      await drained;
    }
    await Promise.all(this.closing);
  }

  /** sqlite3 closes a handle once the work queued on it is done; a failure to close leaves nothing to do. */
  private closeHandle(db: Database): void {
    const closing = new Promise<void>((resolve) => db.close(() => resolve()));
    this.closing.add(closing);
    void closing.then(() => this.closing.delete(closing));
  }
}
