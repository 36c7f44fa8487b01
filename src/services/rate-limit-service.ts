import { QueryTypes, type Sequelize } from 'sequelize';
import { PatchbayError } from '../errors.js';

/** One counting window: `rate_per_minute` is calls per fixed minute. */
export const RATE_WINDOW_MS = 60_000;

// One statement, atomic on both dialects (PostgreSQL; SQLite from 3.35): the row of this window is created at 1
// or incremented, and the new count comes back. Every process counts in the same row, so they agree. The leading
// comment is load-bearing: Sequelize's SQLite dialect runs any text that starts with INSERT INTO without reading
// rows back, and RETURNING needs them read.
const TAKE = `/* count a call */ INSERT INTO pb_rate_counters (instance_id, window_start, count) VALUES (:instanceId, :windowStart, 1)
ON CONFLICT (instance_id, window_start) DO UPDATE SET count = pb_rate_counters.count + 1
RETURNING count`;

/**
 * The `rate_per_minute` limit of attachments, counted in `pb_rate_counters` (migration 0004) so that every
 * process on one database sees the same count. Fixed windows: a burst at a window's end and the next one's start
 * may reach twice the limit within a minute, the usual price of a single counter row per window.
 */
export class RateLimitService {
  /** The window this process last pruned in: each process prunes once a window. */
  private prunedWindow = 0;

  constructor(private readonly deps: { sequelize: Sequelize; clock?: () => Date }) {}

  /** Counts one call of an attachment; past `perMinute` calls in this window, `rate_limited` with `retry_after_ms`. */
  async take(instanceId: string, perMinute: number): Promise<void> {
    const now = (this.deps.clock?.() ?? new Date()).getTime();
    const windowStart = now - (now % RATE_WINDOW_MS);
    const [row] = await this.deps.sequelize.query<{ count: number | string }>(TAKE, {
      replacements: { instanceId, windowStart },
      type: QueryTypes.SELECT,
    });
    if (windowStart !== this.prunedWindow) {
      this.prunedWindow = windowStart;
      await this.prune(windowStart);
    }
    if (Number(row?.count) > perMinute) {
      const retryAfterMs = windowStart + RATE_WINDOW_MS - now;
      throw new PatchbayError('rate_limited', `this attachment allows at most ${perMinute} calls a minute`, {
        extra: { retry_after_ms: retryAfterMs },
        headers: { 'Retry-After': String(Math.ceil(retryAfterMs / 1000)) },
      });
    }
  }

  /** Drops windows older than the previous one (kept for processes whose clocks run a little behind). */
  private async prune(windowStart: number): Promise<void> {
    await this.deps.sequelize.query('DELETE FROM pb_rate_counters WHERE window_start < :before', {
      replacements: { before: windowStart - RATE_WINDOW_MS },
    });
  }
}
