import type { Logger } from 'pino';
import { newId } from '../db/ids.js';
import { isDatabaseUnavailable, unavailableError, unavailableReason } from '../db/unavailable.js';
import { PatchbayError } from '../errors.js';
import type { HotStatements } from './hot-statements.js';

/** One row of pb_audit_events as the writer inserts it. */
export interface AuditRow {
  organization_id: string | null;
  actor_type: 'user' | 'agent' | 'system';
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: 'success' | 'failure' | 'denied';
  detail: Record<string, unknown> | null;
  request_id: string | null;
  created_at: Date;
}

/** Work that rides along with each flush after the audit rows (the rate counters' synchronisation). */
export interface FlushTask {
  /** True when the task has something to write. */
  pending(): boolean;
  run(): Promise<void>;
}

const COLUMNS = [
  'id',
  'organization_id',
  'actor_type',
  'actor_id',
  'action',
  'target_type',
  'target_id',
  'outcome',
  'detail',
  'request_id',
  'created_at',
];
/** Rows per INSERT: 11 parameters each stays far below SQLite's and PostgreSQL's limits. */
const MAX_BATCH = 256;
/** The wait before a flush that the database refused is tried again; it doubles up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2_000;

/** A row with the id it keeps across attempts, so that writing it again can never make a second row. */
type StoredRow = AuditRow & { id: string };

/** Why a flush stopped early: it is tried again after a back-off rather than at once. */
interface Stopped {
  error: unknown;
}

type Credential = 'api_key' | 'agent_token';
const CREDENTIAL_TABLES: Record<Credential, string> = { api_key: 'pb_api_keys', agent_token: 'pb_agent_tokens' };

/**
 * Group commit for the run-time path's writes. Every audit row waits in one queue; one flush at a time writes
 * all waiting rows in one multi-row INSERT (one transaction, one fsync), and the next flush starts as soon as the
 * previous ends, with whatever arrived meanwhile. `write` resolves once its row is committed, so a call is answered
 * only after its audit row is durable, and a failed INSERT fails every call of its batch. The same flush then
 * writes the coalesced `last_used_at` of the credentials used since the last one and runs the attached tasks (the
 * rate counters), none of which a call waits for.
 *
 * When the database is unavailable (db/unavailable.ts) the calls of the batch are answered at once with
 * `unavailable`, but their rows are not dropped: the call may have happened (an execute ran before its row was
 * written), so they are deferred and written first by a later flush, tried again with back-off until the
 * database is back. Each row keeps the id it was given, and a deferred row is inserted with ON CONFLICT DO
 * NOTHING, so a first INSERT that did commit before its connection broke (the answer lost, not the row) is never
 * written twice. While rows are deferred, `assertWritable` refuses new executes: nothing runs that cannot be
 * audited. Deferred rows live in memory only; a process stopped while the database is down reports how many it
 * could not write.
 */
export class AuditWriter {
  private queue: { row: StoredRow; resolve: () => void; reject: (error: unknown) => void }[] = [];
  /** Rows whose calls were answered `unavailable`, oldest first, waiting for the database. */
  private deferred: StoredRow[] = [];
  private readonly touches: Record<Credential, Map<string, Date>> = { api_key: new Map(), agent_token: new Map() };
  private readonly tasks: FlushTask[] = [];
  /** The running flush; it resolves false when the database stopped it (the retry is then scheduled). */
  private flushing: Promise<boolean> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 0;
  private lastFailure: unknown;
  private closed = false;
  /** INSERTs and rows written so far (tests and benchmarks read how well rows were grouped). */
  readonly stats = { batches: 0, rows: 0 };

  constructor(private readonly deps: { statements: HotStatements; log?: Logger }) {}

  /** Resolves once the row is committed; rejects with `unavailable` when the database is (the row is then deferred). */
  write(row: AuditRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row: { ...row, id: newId() }, resolve, reject });
      this.kick();
    });
  }

  /** Records a credential's use; written with the next flush (the latest time per credential). */
  touch(kind: Credential, id: string, at: Date): void {
    this.touches[kind].set(id, at);
    this.kick();
  }

  addTask(task: FlushTask): void {
    this.tasks.push(task);
  }

  /** Rows waiting for the database after an outage (0 when all is written). */
  get deferredRows(): number {
    return this.deferred.length;
  }

  /** Throws `unavailable` while rows wait for the database: a call about to use a secret must be auditable first. */
  assertWritable(): void {
    if (this.deferred.length > 0) {
      throw unavailableError(this.lastFailure) ?? new PatchbayError('unavailable', 'audit rows are waiting for the database');
    }
  }

  /** Starts a flush unless one is running (that one loops until nothing is left, or the database stops it). */
  kick(): void {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
  }

  /**
   * Resolves when everything queued so far is written (shutdown, tests); rejects if the database stopped a flush
   * meanwhile (deferred rows then stay deferred).
   */
  async flush(): Promise<void> {
    while (this.flushing || this.hasWork()) {
      this.kick();
      if (!(await this.flushing)) throw unavailableError(this.lastFailure) ?? this.lastFailure;
    }
  }

  /** Shutdown: a last flush, then no more retries; audit rows it could not write are reported (`rows`), and lost. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } catch (error) {
      this.deps.log?.error({ rows: this.deferred.length, reason: unavailableReason(error) }, 'the last flush at shutdown failed');
    } finally {
      this.closed = true;
      clearTimeout(this.retryTimer);
    }
  }

  private hasWork(): boolean {
    return (
      this.deferred.length > 0 ||
      this.queue.length > 0 ||
      this.touches.api_key.size > 0 ||
      this.touches.agent_token.size > 0 ||
      this.tasks.some((task) => task.pending())
    );
  }

  private async drain(): Promise<boolean> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    // Rows written in this same turn of the event loop join the first batch.
    await Promise.resolve();
    while (this.hasWork()) {
      const stopped =
        (await this.writeDeferred()) ?? (await this.writeQueued()) ?? (await this.writeTouches()) ?? (await this.runTasks());
      if (stopped) {
        // Not at once again: a database that is down would be asked in a tight loop. A new row kicks a flush anyway.
        this.lastFailure = stopped.error;
        this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2 || RETRY_MIN_MS);
        if (!this.closed) {
          this.retryTimer = setTimeout(() => this.kick(), this.retryMs);
          this.retryTimer.unref();
        }
        return false;
      }
    }
    this.retryMs = 0;
    return true;
  }

  /** Deferred rows go first. While the database still refuses them, rows queued since are deferred behind them. */
  private async writeDeferred(): Promise<Stopped | undefined> {
    if (this.deferred.length === 0) return undefined;
    const rows = this.deferred.slice(0, MAX_BATCH);
    try {
      await this.insert(rows, { again: true });
      this.deps.log?.info({ rows: rows.length }, 'deferred audit rows written');
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        this.defer(this.queue.splice(0), error);
        return { error };
      }
      // Refused for what they hold, not for the outage: they would be refused for ever.
      this.deps.log?.error({ err: error, rows: rows.length }, 'deferred audit rows refused by the database; dropped');
    }
    this.deferred.splice(0, rows.length);
    return undefined;
  }

  private async writeQueued(): Promise<Stopped | undefined> {
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return undefined;
    try {
      await this.insert(
        batch.map((entry) => entry.row),
        { again: false },
      );
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        this.defer([...batch, ...this.queue.splice(0)], error);
        return { error };
      }
      for (const entry of batch) entry.reject(error);
      return undefined;
    }
    this.stats.batches += 1;
    this.stats.rows += batch.length;
    for (const entry of batch) entry.resolve();
    return undefined;
  }

  /** Answers the calls of `entries` with `unavailable` and keeps their rows for a later flush. */
  private defer(entries: typeof this.queue, error: unknown): void {
    if (entries.length === 0) return;
    this.deferred.push(...entries.map((entry) => entry.row));
    this.deps.log?.warn(
      { rows: entries.length, deferred: this.deferred.length, reason: unavailableReason(error) },
      'audit rows deferred: the database is unavailable',
    );
    const answer = unavailableError(error);
    for (const entry of entries) entry.reject(answer);
  }

  private async writeTouches(): Promise<Stopped | undefined> {
    for (const kind of ['api_key', 'agent_token'] as const) {
      const used = this.touches[kind];
      if (used.size === 0) continue;
      this.touches[kind] = new Map();
      try {
        await this.writeLastUsed(kind, used);
      } catch (error) {
        if (!isDatabaseUnavailable(error)) {
          this.deps.log?.warn({ err: error }, 'last_used_at not written');
          continue;
        }
        // Kept for the next flush, unless a later use has replaced them meanwhile.
        for (const [id, at] of used) if (!this.touches[kind].has(id)) this.touches[kind].set(id, at);
        return { error };
      }
    }
    return undefined;
  }

  private async runTasks(): Promise<Stopped | undefined> {
    for (const task of this.tasks) {
      if (!task.pending()) continue;
      try {
        await task.run();
      } catch (error) {
        // The task keeps what it could not write (it is still pending): tried again after the back-off.
        this.deps.log?.warn(
          isDatabaseUnavailable(error) ? { reason: unavailableReason(error) } : { err: error },
          'rate counters not synchronised',
        );
        return { error };
      }
    }
    return undefined;
  }

  /** One multi-row INSERT; `again` (a deferred row, which may have committed already) skips rows already there. */
  private async insert(rows: StoredRow[], { again }: { again: boolean }): Promise<void> {
    const { statements } = this;
    const values: unknown[] = [];
    const tuples = rows.map((row) => {
      const tuple = COLUMNS.map((_, column) => statements.placeholder(values.length + column));
      values.push(
        row.id,
        row.organization_id,
        row.actor_type,
        row.actor_id,
        row.action,
        row.target_type,
        row.target_id,
        row.outcome,
        row.detail === null ? null : JSON.stringify(row.detail),
        row.request_id,
        statements.date(row.created_at),
      );
      return `(${tuple.join(', ')})`;
    });
    await statements.run(
      `pb_audit_${again ? 'again' : 'insert'}_${rows.length}`,
      `INSERT INTO pb_audit_events (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}${again ? ' ON CONFLICT (id) DO NOTHING' : ''}`,
      values,
    );
  }

  /** One UPDATE per kind for every credential used since the last flush, at the latest time of use among them. */
  private async writeLastUsed(kind: Credential, used: Map<string, Date>): Promise<void> {
    const ids = [...used.keys()].sort();
    const latest = new Date(Math.max(...[...used.values()].map((at) => at.getTime())));
    const { statements } = this;
    const list = ids.map((_, index) => statements.placeholder(index + 1)).join(', ');
    await statements.run(
      undefined,
      `UPDATE ${CREDENTIAL_TABLES[kind]} SET last_used_at = ${statements.placeholder(0)} WHERE id IN (${list})`,
      [statements.date(latest), ...ids],
    );
  }

  private get statements(): HotStatements {
    return this.deps.statements;
  }
}
