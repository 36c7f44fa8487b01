import type { Logger } from 'pino';
import type { ConnectorService } from '../connectors/connector-service.js';
import type { ClaimedCheck, HealthService } from './health-service.js';
import type { Metrics } from './metrics.js';
import type { RetentionService } from './retention-service.js';
import type { WebhookService } from './webhook-service.js';

export interface SchedulerOptions {
  /** Checks running at once in this process (PATCHBAY_HEALTH_CONCURRENCY). */
  concurrency: number;
  /** How often the loop looks for due checks and deliveries. @default 500 */
  pollMs?: number;
  /** How often connectors without a due time are given one. @default 30000 */
  assignEveryMs?: number;
  /** How often the retention pruning runs. @default 600000 */
  pruneEveryMs?: number;
}

/**
 * The background worker of `patchbay serve` (unless --no-scheduler) and `patchbay scheduler`: scheduled health
 * checks, webhook deliveries and retention. Every piece of work is claimed in the database (HealthService.claimDue,
 * WebhookService.dispatchDue), so any number of these run side by side on PostgreSQL without a cluster protocol.
 *
 * Checks run `concurrency` at a time and each one is bounded by the harness deadline (the connector's
 * connect_timeout_ms), so a hanging target holds one slot for at most that long while the others keep going.
 * Slots are refilled as checks finish, not per poll, from a queue claimed ahead (up to `concurrency` checks, in
 * batches), so a freed slot starts a check at once instead of waiting for a claim's round trip: a backlog drains
 * at the speed of the checks, not of one claim per check.
 */
export class HealthScheduler {
  private readonly pollMs: number;
  private readonly assignEveryMs: number;
  private readonly pruneEveryMs: number;
  private readonly running = new Set<Promise<void>>();
  /** Claimed and not started yet: their next_check_at has moved, so they run even if the loop is stopping. */
  private readonly queued: ClaimedCheck[] = [];
  private claiming: Promise<void> | undefined;
  /** The last claim got all it asked for: more may be due, so claim again as checks finish. */
  private backlog = false;
  private dispatching: Promise<unknown> | undefined;
  private maintaining: Promise<unknown> | undefined;
  private lastPrune = 0;
  private timers: NodeJS.Timeout[] = [];
  private stopped = true;

  constructor(
    private readonly deps: {
      health: HealthService;
      connectors: ConnectorService;
      webhooks: WebhookService;
      retention: RetentionService;
      log: Logger;
      metrics?: Metrics;
      options: SchedulerOptions;
    },
  ) {
    this.pollMs = deps.options.pollMs ?? 500;
    this.assignEveryMs = deps.options.assignEveryMs ?? 30_000;
    this.pruneEveryMs = deps.options.pruneEveryMs ?? 600_000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.timers = [
      setInterval(() => this.poll(), this.pollMs),
      setInterval(() => this.maintain(), this.assignEveryMs),
    ];
    this.maintain();
    this.poll();
    this.deps.log.info({ concurrency: this.deps.options.concurrency }, 'health scheduler started');
  }

  /**
   * Stops claiming, then waits for the checks claimed (queued and in flight, each bounded by its own deadline)
   * and the deliveries in flight.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.claiming;
    while (this.running.size > 0) await Promise.race(this.running);
    await Promise.allSettled([this.dispatching, this.maintaining]);
    this.deps.log.info('health scheduler stopped');
  }

  /**
   * Claims and runs every check due now, `concurrency` at a time, and resolves when none is due or running:
   * the loop's work, on demand (tests drive it this way with a controllable clock; nothing here sleeps).
   */
  async runDueChecks(): Promise<number> {
    const { concurrency } = this.deps.options;
    let count = 0;
    for (;;) {
      const free = concurrency - this.running.size;
      if (free <= 0) {
        await Promise.race(this.running);
        continue;
      }
      const due = await this.deps.health.claimDue(free);
      count += due.length;
      for (const check of due) this.launch(check);
      if (due.length < free) {
        await Promise.allSettled([...this.running]);
        return count;
      }
    }
  }

  private poll(): void {
    this.pump(true);
    this.dispatching ??= this.deps.webhooks
      .dispatchDue()
      .catch((error: unknown) => this.deps.log.error({ err: error }, 'webhook dispatch failed'))
      .finally(() => (this.dispatching = undefined));
  }

  /**
   * Starts queued checks in the free slots, then claims more when the queue runs low: on every poll, and between
   * polls while there is a backlog, in batches of at least half the concurrency so claims stay few. One claim at
   * a time.
   */
  private pump(polled = false): void {
    const { concurrency } = this.deps.options;
    while (this.running.size < concurrency && this.queued.length > 0) this.launch(this.queued.shift() as ClaimedCheck);
    if (this.stopped || this.claiming) return;
    const wanted = 2 * concurrency - this.running.size - this.queued.length;
    if (wanted <= 0 || (!polled && (!this.backlog || wanted < Math.ceil(concurrency / 2)))) return;
    this.claiming = (async () => {
      try {
        const due = await this.deps.health.claimDue(wanted);
        this.backlog = due.length === wanted;
        this.queued.push(...due);
      } catch (error) {
        this.backlog = false;
        this.deps.log.error({ err: error }, 'claiming due health checks failed');
      } finally {
        this.claiming = undefined;
      }
      this.pump();
    })();
  }

  private launch(check: ClaimedCheck): void {
    const running: Promise<void> = this.check(check).finally(() => {
      this.running.delete(running);
      this.pump();
    });
    this.running.add(running);
  }

  /** One scheduled check: a one-shot connection through the harness, then the result recorded. Never throws. */
  private async check(check: ClaimedCheck): Promise<void> {
    const { health, metrics } = this.deps;
    metrics?.observeLag((health.now().getTime() - check.due.getTime()) / 1000);
    metrics?.checkStarted();
    try {
      const result = await this.deps.connectors.runTest(check);
      await health.record({ connectorId: check.id, result, source: 'scheduled', claimed: check });
    } catch (error) {
      this.deps.log.error({ err: error, connector_id: check.id }, 'recording a scheduled health check failed');
    } finally {
      metrics?.checkFinished();
    }
  }

  /** First due times for unscheduled connectors, and (less often) retention. */
  private maintain(): void {
    if (this.maintaining) return;
    this.maintaining = (async () => {
      try {
        const assigned = await this.deps.health.assignFirstDueTimes();
        if (assigned) this.deps.log.info({ connectors: assigned }, 'scheduled connectors that had no due time');
        if (Date.now() - this.lastPrune >= this.pruneEveryMs) {
          this.lastPrune = Date.now();
          const pruned = await this.deps.retention.prune();
          if (Object.values(pruned).some(Boolean)) this.deps.log.info({ pruned }, 'retention pruned old rows');
        }
      } catch (error) {
        this.deps.log.error({ err: error }, 'scheduler maintenance failed');
      } finally {
        this.maintaining = undefined;
      }
    })();
  }
}
