import type { Logger } from 'pino';
import { newId } from '../db/ids.js';
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

type Credential = 'api_key' | 'agent_token';
const CREDENTIAL_TABLES: Record<Credential, string> = { api_key: 'pb_api_keys', agent_token: 'pb_agent_tokens' };

/**
 * Group commit for the run-time path's writes. Every audit row waits in one queue; one flush at a time writes
 * all waiting rows in one multi-row INSERT (one transaction, one fsync), and the next flush starts as soon as the
 * previous ends, with whatever arrived meanwhile. `write` resolves once its row is committed, so a call is answered
 * only after its audit row is durable, and a failed INSERT fails every call of its batch. The same flush then
 * writes the coalesced `last_used_at` of the credentials used since the last one and runs the attached tasks (the
 * rate counters), none of which a call waits for.
 */
export class AuditWriter {
  private queue: { row: AuditRow; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private readonly touches: Record<Credential, Map<string, Date>> = { api_key: new Map(), agent_token: new Map() };
  private readonly tasks: FlushTask[] = [];
  private flushing: Promise<void> | undefined;
  /** INSERTs and rows written so far (tests and benchmarks read how well rows were grouped). */
  readonly stats = { batches: 0, rows: 0 };

  constructor(private readonly deps: { statements: HotStatements; log?: Logger }) {}

  /** Resolves once the row is committed. */
  write(row: AuditRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
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

  /** Starts a flush unless one is running (that one loops until nothing is left). */
  kick(): void {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
  }

  /** Resolves when everything queued so far is written (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.flushing || this.hasWork()) {
      this.kick();
      await this.flushing;
    }
  }

  private hasWork(): boolean {
    return (
      this.queue.length > 0 ||
      this.touches.api_key.size > 0 ||
      this.touches.agent_token.size > 0 ||
      this.tasks.some((task) => task.pending())
    );
  }

  private async drain(): Promise<void> {
    // Rows written in this same turn of the event loop join the first batch.
    await Promise.resolve();
    while (this.hasWork()) {
      const batch = this.queue.splice(0, MAX_BATCH);
      if (batch.length > 0) {
        try {
          await this.insert(batch.map((entry) => entry.row));
          this.stats.batches += 1;
          this.stats.rows += batch.length;
          for (const entry of batch) entry.resolve();
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      }
      for (const kind of ['api_key', 'agent_token'] as const) {
        const used = this.touches[kind];
        if (used.size === 0) continue;
        this.touches[kind] = new Map();
        await this.writeLastUsed(kind, used).catch((error: unknown) =>
          this.deps.log?.warn({ err: error }, 'last_used_at not written'),
        );
      }
      for (const task of this.tasks) {
        if (task.pending())
          await task.run().catch((error: unknown) => this.deps.log?.warn({ err: error }, 'rate counters not synchronised'));
      }
    }
  }

  private async insert(rows: AuditRow[]): Promise<void> {
    const { statements } = this;
    const values: unknown[] = [];
    const tuples = rows.map((row) => {
      const tuple = COLUMNS.map((_, column) => statements.placeholder(values.length + column));
      values.push(
        newId(),
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
      `pb_audit_insert_${rows.length}`,
      `INSERT INTO pb_audit_events (${COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`,
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
