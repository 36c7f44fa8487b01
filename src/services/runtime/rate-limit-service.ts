import type { Sequelize } from 'sequelize';
import { PatchbayError } from '../../errors.js';
import { AuditWriter, type FlushTask } from '../audit-writer.js';
import { HotStatements } from '../hot-statements.js';

/** One counting window: `rate_per_minute` is calls per fixed minute. */
export const RATE_WINDOW_MS = 60_000;

interface Counter {
  window: number;
  /** The window's count in pb_rate_counters as of this process's last synchronisation (every process's calls). */
  shared: number;
  /** Calls admitted here and not yet sent. */
  unsent: number;
  /** Calls admitted here and being sent now. */
  sending: number;
}

/**
 * The `rate_per_minute` limit of attachments, counted in memory and synchronised with `pb_rate_counters`
 * (migration 0004), which every process on one database adds to.
 *
 * A call is admitted when the window's count as this process knows it (the shared count at its last
 * synchronisation, plus its own calls since) is below the limit. The audit writer's flushes (services/audit-writer.ts)
 * add this process's new calls to the shared row and read the row's new total back, in one statement for every
 * attachment; a flush follows each call's audit row, so the synchronisation interval is one flush. Hence:
 * - one process is exact: nobody else adds to the row;
 * - several processes agree within one interval: once the shared count reaches the limit, each process admits at
 *   most the calls it receives before its next synchronisation ends, so a window overshoots by at most that many
 *   calls per process (at most one flush's worth each; usually 0–2 calls per process).
 * Fixed windows: a burst at a window's end and the next one's start may reach twice the limit within a minute.
 */
export class RateLimitService implements FlushTask {
  private readonly counters = new Map<string, Counter>();
  /** The window this process last pruned in: each process prunes once a window. */
  private prunedWindow = 0;
  private readonly statements: HotStatements;
  private readonly writer: AuditWriter;

  constructor(
    private readonly deps: { sequelize: Sequelize; clock?: () => Date; writer?: AuditWriter; statements?: HotStatements },
  ) {
    this.statements = deps.statements ?? new HotStatements(deps.sequelize);
    this.writer = deps.writer ?? new AuditWriter({ statements: this.statements });
    this.writer.addTask(this);
  }

  /** Counts one call of an attachment; past `perMinute` calls in this window, `rate_limited` with `retry_after_ms`. */
  async take(instanceId: string, perMinute: number): Promise<void> {
    const now = this.now();
    const window = now - (now % RATE_WINDOW_MS);
    let counter = this.counters.get(instanceId);
    if (!counter || counter.window !== window) {
      counter = { window, shared: 0, unsent: 0, sending: 0 };
      this.counters.set(instanceId, counter);
    }
    if (counter.shared + counter.unsent + counter.sending >= perMinute) {
      const retryAfterMs = window + RATE_WINDOW_MS - now;
      throw new PatchbayError('rate_limited', `this attachment allows at most ${perMinute} calls a minute`, {
        extra: { retry_after_ms: retryAfterMs },
        headers: { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
      });
    }
    counter.unsent += 1;
    this.writer.kick();
  }

  /** Writes what is unsent now and waits for it (tests; the writer does it on its own). */
  async sync(): Promise<void> {
    await this.writer.flush();
  }

  pending(): boolean {
    for (const counter of this.counters.values()) if (counter.unsent > 0) return true;
    return false;
  }

  /**
   * One upsert for every attachment with unsent calls, in a fixed order (two processes never lock rows in
   * opposite orders); rows of attachments deleted meanwhile are skipped. Each counter learns the shared total.
   */
  async run(): Promise<void> {
    const now = this.now();
    const window = now - (now % RATE_WINDOW_MS);
    const sending = [...this.counters.entries()]
      .filter(([, counter]) => counter.unsent > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [, counter] of sending) {
      counter.sending = counter.unsent;
      counter.unsent = 0;
    }
    const { statements } = this;
    const values: unknown[] = [];
    const tuples = sending.map(([instanceId, counter]) => {
      const at = values.length;
      values.push(instanceId, counter.window, counter.sending);
      return statements.postgres ? `($${at + 1}::varchar, $${at + 2}::bigint, $${at + 3}::int)` : '(?, ?, ?)';
    });
    const source = statements.postgres
      ? `SELECT v.i, v.w, v.c FROM (VALUES ${tuples.join(', ')}) AS v (i, w, c) WHERE EXISTS (SELECT 1 FROM pb_connector_instances ci WHERE ci.id = v.i)`
      : `SELECT column1, column2, column3 FROM (VALUES ${tuples.join(', ')}) AS v WHERE EXISTS (SELECT 1 FROM pb_connector_instances ci WHERE ci.id = v.column1)`;
    let rows: Record<string, unknown>[];
    try {
      rows = await statements.run(
        `pb_rate_sync_${sending.length}`,
        `INSERT INTO pb_rate_counters (instance_id, window_start, count) ${source}
         ON CONFLICT (instance_id, window_start) DO UPDATE SET count = pb_rate_counters.count + excluded.count
         RETURNING instance_id, window_start, count`,
        values,
      );
    } catch (error) {
      // Sent again with the next flush.
      for (const [, counter] of sending) {
        counter.unsent += counter.sending;
        counter.sending = 0;
      }
      throw error;
    }
    const totals = new Map(rows.map((row) => [`${String(row.instance_id)}\u0000${Number(row.window_start)}`, Number(row.count)]));
    for (const [instanceId, counter] of sending) {
      counter.sending = 0;
      const total = totals.get(`${instanceId}\u0000${counter.window}`);
      if (total === undefined) this.counters.delete(instanceId);
      else counter.shared = Math.max(counter.shared, total);
    }
    for (const [instanceId, counter] of this.counters) {
      if (counter.window < window && counter.unsent === 0 && counter.sending === 0) this.counters.delete(instanceId);
    }
    if (window !== this.prunedWindow) {
      this.prunedWindow = window;
      // Windows older than the previous one (kept for processes whose clocks run a little behind).
      await statements.run(undefined, `DELETE FROM pb_rate_counters WHERE window_start < ${statements.placeholder(0)}`, [
        window - RATE_WINDOW_MS,
      ]);
    }
  }

  private now(): number {
    return (this.deps.clock?.() ?? new Date()).getTime();
  }
}
