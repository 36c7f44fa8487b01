import { QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { Config } from '../../config.js';
import type { Connector, ConnectorStatus, Models, WebhookEvent } from '../../db/models/index.js';
import { isPostgres } from '../../db/sequelize.js';
import { writeTransaction } from '../../db/write-transaction.js';
import type { TestResult } from '../../providers/harness.js';
import type { AuditService } from '../audit-service.js';
import type { WebhookService } from './webhook-service.js';

/**
 * Connector health (DESIGN.md section 9): what a test result does to a connector's status, the history rows,
 * the uptime and latency summary, and the due times the scheduler claims.
 */

export type CheckSource = 'manual' | 'scheduled';

export interface HealthState {
  status: ConnectorStatus;
  enabled: boolean;
  consecutive_successes: number;
  consecutive_failures: number;
}

/**
 * The state after one result. A manual test sets the status at once. A scheduled check moves healthy <->
 * failing only after `threshold` results of the new kind in a row, so one blip does not flap it (nor page
 * anyone); an untested connector becomes healthy at its first success, since that alerts no one, but still
 * needs `threshold` failures to become failing. A disabled connector stays disabled. Entering failing (from
 * healthy or untested) and going back from failing to healthy are the events the webhooks hear.
 */
export function nextHealthState(
  state: HealthState,
  success: boolean,
  source: CheckSource,
  threshold: number,
): HealthState & { event?: 'connector.failing' | 'connector.recovered' } {
  const consecutive_successes = success ? state.consecutive_successes + 1 : 0;
  const consecutive_failures = success ? 0 : state.consecutive_failures + 1;
  const counters = { enabled: state.enabled, consecutive_successes, consecutive_failures };
  if (!state.enabled) return { ...counters, status: 'disabled' };

  const current: ConnectorStatus = state.status === 'disabled' ? 'untested' : state.status;
  const target: ConnectorStatus = success ? 'healthy' : 'failing';
  let status = current;
  if (source === 'manual' || (success && current === 'untested')) status = target;
  else if (current !== target && (success ? consecutive_successes : consecutive_failures) >= threshold) status = target;

  if (status === 'failing' && (current === 'healthy' || current === 'untested')) return { ...counters, status, event: 'connector.failing' };
  if (status === 'healthy' && current === 'failing') return { ...counters, status, event: 'connector.recovered' };
  return { ...counters, status };
}

/** The next due time after `due` on its own grid (due + k·interval, the first after `now`): a scheduler that
 * fell behind skips the missed runs instead of bunching them, and every connector keeps its spread-out phase. */
export function nextDueAfter(due: Date, intervalS: number, now: Date): Date {
  const step = intervalS * 1000;
  const periods = Math.floor((now.getTime() - due.getTime()) / step) + 1;
  return new Date(due.getTime() + Math.max(1, periods) * step);
}

/**
 * A connector the scheduler claimed: what it needs to test it, its state when claimed (so the result can usually
 * be recorded in one statement), and when it was due (for the lag metric).
 */
export interface ClaimedCheck extends HealthState {
  id: string;
  organization_id: string;
  provider: string;
  config_encrypted: string;
  key_id: string;
  version: number;
  due: Date;
}

export interface RecordInput {
  connectorId: string;
  result: TestResult;
  source: CheckSource;
  /** A scheduled check's claimed state: a result for a config changed meanwhile (another version) is dropped. */
  claimed?: HealthState & { version: number };
}

export interface RecordOutcome {
  previous: ConnectorStatus;
  status: ConnectorStatus;
  checkedAt: Date;
  event?: WebhookEvent;
}

export interface WindowSummary {
  uptime_percent: number | null;
  p50_ms: number | null;
  p95_ms: number | null;
  checks: number;
}

const WINDOWS = { '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000 } as const;
export type HealthWindow = keyof typeof WINDOWS;

/** What a webhook receiver learns of a connector: its identity and status, never its config. */
export const connectorSummary = (connector: Pick<Connector, 'id' | 'name' | 'connector_type' | 'provider' | 'status'>) => ({
  id: connector.id,
  name: connector.name,
  connector_type: connector.connector_type,
  provider: connector.provider,
  status: connector.status,
});

export class HealthService {
  constructor(
    private readonly deps: {
      models: Models;
      sequelize: Sequelize;
      audit: AuditService;
      webhooks: WebhookService;
      config: Readonly<Config>;
      clock?: () => Date;
    },
  ) {}

  now(): Date {
    return this.deps.clock?.() ?? new Date();
  }

  /**
   * A new or re-enabled connector's first due time: now plus a random offset within its interval, so that
   * connectors created together (an import, a migration) are spread over the interval rather than checked
   * at once. Null when it is not to be scheduled.
   */
  firstDueAt(intervalS: number, enabled = true): Date | null {
    if (!enabled || intervalS <= 0) return null;
    return new Date(this.now().getTime() + Math.floor(Math.random() * intervalS * 1000));
  }

  /**
   * Records one result: the status (see nextHealthState), the consecutive counters, last_*, a history row, and
   * the webhook deliveries of the event it causes, all in one transaction (row-locked on PostgreSQL, so a manual
   * test racing a scheduled check cannot lose a count). A status change caused by a scheduled check is audited;
   * a manual test's caller audits the test. Undefined when the connector is gone, or (scheduled) changed.
   */
  async record(input: RecordInput): Promise<RecordOutcome | undefined> {
    const checkedAt = this.now();
    const outcome = (await this.recordAsClaimed(input, checkedAt)) ?? (await this.recordLocked(input, checkedAt));
    if (!outcome) return undefined;
    const { organizationId, ...recorded } = outcome;
    const { result, source } = input;
    if (source === 'scheduled' && recorded.previous !== recorded.status) {
      await this.deps.audit.record({
        organization_id: organizationId,
        actor: { type: 'system', id: null },
        action: 'connector.status_changed',
        target_type: 'connector',
        target_id: input.connectorId,
        outcome: 'success',
        detail: { from: recorded.previous, to: recorded.status, source, ...(result.error_code ? { error_code: result.error_code } : {}) },
      });
    }
    return recorded;
  }

  /**
   * The common case of a scheduled check on PostgreSQL in one statement: the state computed from the claimed one,
   * written only if the row still holds exactly that (compare-and-set), with its history row. Undefined, and the
   * locked path decides, when the row moved meanwhile (a manual test, an update) or the result is an event, whose
   * deliveries must commit with it. At 10,000 connectors a minute this saves four round trips per check.
   */
  private async recordAsClaimed(input: RecordInput, checkedAt: Date): Promise<(RecordOutcome & { organizationId: string }) | undefined> {
    const { claimed, result } = input;
    const { sequelize, config } = this.deps;
    if (!claimed || !isPostgres(sequelize)) return undefined;
    const next = nextHealthState(claimed, result.success, input.source, config.health.failureThreshold);
    if (next.event) return undefined;
    const [row] = await sequelize.query<{ organization_id: string }>(
      `WITH updated AS (
         UPDATE pb_connectors SET status = :status, consecutive_successes = :successes, consecutive_failures = :failures,
           last_tested_at = :checkedAt, last_test_result = :testResult, last_error = :lastError
         WHERE id = :id AND version = :version AND enabled = :enabled AND status = :previous
           AND consecutive_successes = :previousSuccesses AND consecutive_failures = :previousFailures
         RETURNING id, organization_id)
       INSERT INTO pb_connector_health_checks (connector_id, organization_id, checked_at, success, latency_ms, error_code, message, source)
       SELECT id, organization_id, CAST(:checkedAt AS timestamptz), :success, :latency, :errorCode, :message, :source FROM updated
       RETURNING organization_id`,
      {
        type: QueryTypes.SELECT,
        replacements: {
          id: input.connectorId,
          status: next.status,
          successes: next.consecutive_successes,
          failures: next.consecutive_failures,
          checkedAt,
          testResult: result.success ? 'success' : 'failure',
          lastError: result.success ? null : result.message,
          version: claimed.version,
          enabled: claimed.enabled,
          previous: claimed.status,
          previousSuccesses: claimed.consecutive_successes,
          previousFailures: claimed.consecutive_failures,
          success: result.success,
          latency: result.latency_ms,
          errorCode: result.error_code ?? null,
          message: result.message,
          source: input.source,
        },
      },
    );
    return row && { previous: claimed.status, status: next.status, checkedAt, organizationId: row.organization_id };
  }

  /** The general case: read the row under a lock, decide, write, and enqueue the event's deliveries, in one transaction. */
  private async recordLocked(input: RecordInput, checkedAt: Date): Promise<(RecordOutcome & { organizationId: string }) | undefined> {
    const { models, sequelize, config } = this.deps;
    const { result, source } = input;
    return writeTransaction(sequelize, async (transaction) => {
      const connector = await models.Connector.findByPk(input.connectorId, { transaction, lock: true });
      if (!connector) return undefined;
      if (input.claimed && connector.version !== input.claimed.version) return undefined;
      const next = nextHealthState(connector, result.success, source, config.health.failureThreshold);
      const changes = {
        status: next.status,
        consecutive_successes: next.consecutive_successes,
        consecutive_failures: next.consecutive_failures,
        last_tested_at: checkedAt,
        last_test_result: result.success ? ('success' as const) : ('failure' as const),
        last_error: result.success ? null : result.message,
      };
      // Not a versioned save: a test does not change the config, and must not make an admin's If-Match stale.
      await models.Connector.update(changes, { where: { id: connector.id }, silent: true, transaction });
      await models.ConnectorHealthCheck.create(
        {
          connector_id: connector.id,
          organization_id: connector.organization_id,
          checked_at: checkedAt,
          success: result.success,
          latency_ms: result.latency_ms,
          error_code: result.error_code ?? null,
          message: result.message,
          source,
        },
        { transaction },
      );
      const previous = connector.status;
      connector.set(changes);
      if (next.event) {
        await this.deps.webhooks.enqueue(
          connector.organization_id,
          next.event,
          {
            connector: connectorSummary(connector),
            previous_status: previous,
            check: {
              checked_at: checkedAt.toISOString(),
              source,
              success: result.success,
              latency_ms: result.latency_ms,
              error_code: result.error_code ?? null,
              message: result.message,
            },
          },
          transaction,
        );
      }
      return { previous, status: next.status, checkedAt, event: next.event, organizationId: connector.organization_id };
    });
  }

  /**
   * Uptime and latency over the last hour, day and week, scheduled and manual checks alike. Latency
   * percentiles are over successful checks (a refused connection answers fast and would flatter them); both
   * are null while there is nothing to measure. Bounded work: at most a week of one connector's rows.
   */
  async summary(connectorId: string): Promise<Record<HealthWindow, WindowSummary>> {
    const now = this.now().getTime();
    const rows = await this.deps.sequelize.query<{ checked_at: Date | string; success: boolean | number; latency_ms: number }>(
      'SELECT checked_at, success, latency_ms FROM pb_connector_health_checks WHERE connector_id = :id AND checked_at >= :since',
      { type: QueryTypes.SELECT, replacements: { id: connectorId, since: new Date(now - WINDOWS['7d']) } },
    );
    const checks = rows.map((row) => ({ at: new Date(row.checked_at).getTime(), success: row.success === true || row.success === 1, latency: Number(row.latency_ms) }));
    const summary = {} as Record<HealthWindow, WindowSummary>;
    for (const [name, span] of Object.entries(WINDOWS) as [HealthWindow, number][]) {
      const inWindow = checks.filter((check) => check.at >= now - span);
      const latencies = inWindow.filter((check) => check.success).map((check) => check.latency).sort((a, b) => a - b);
      summary[name] = {
        uptime_percent: inWindow.length ? Math.round((latencies.length / inWindow.length) * 10_000) / 100 : null,
        p50_ms: percentile(latencies, 50),
        p95_ms: percentile(latencies, 95),
        checks: inWindow.length,
      };
    }
    return summary;
  }

  /**
   * Claims up to `limit` due connectors and moves each one's next_check_at forward before it is checked, so a
   * process that dies mid-check neither loses the connector (it is due again next interval) nor has it checked
   * twice. PostgreSQL: one statement, FOR UPDATE SKIP LOCKED, so any number of processes claim disjoint sets
   * without waiting on each other. SQLite: one write transaction taken up front (IMMEDIATE), which serialises
   * claimers, so a second process on the same file is still safe, merely not concurrent.
   */
  async claimDue(limit: number): Promise<ClaimedCheck[]> {
    const { sequelize } = this.deps;
    const now = this.now();
    if (isPostgres(sequelize)) {
      // The SET is nextDueAfter() in SQL: due + k·interval, the first point of the connector's grid after now.
      const rows = await sequelize.query<ClaimedCheck>(
        `UPDATE pb_connectors AS c
         SET next_check_at = d.due + make_interval(secs => (c.health_check_interval_s *
               (floor(extract(epoch FROM (CAST(:now AS timestamptz) - d.due)) / c.health_check_interval_s) + 1))::float8)
         FROM (SELECT id, next_check_at AS due FROM pb_connectors
               WHERE enabled AND health_check_interval_s > 0 AND next_check_at <= :now
               ORDER BY next_check_at LIMIT :limit
               FOR UPDATE SKIP LOCKED) AS d
         WHERE c.id = d.id
         RETURNING c.id, c.organization_id, c.provider, c.config_encrypted, c.key_id, c.version, d.due,
                   c.status, c.enabled, c.consecutive_successes, c.consecutive_failures`,
        { type: QueryTypes.SELECT, replacements: { now, limit } },
      );
      return rows.map((row) => ({ ...row, due: new Date(row.due) }));
    }
    return writeTransaction(sequelize, async (transaction) => {
      const rows = await sequelize.query<Omit<ClaimedCheck, 'due' | 'enabled'> & { due: string; enabled: number; health_check_interval_s: number }>(
        `SELECT id, organization_id, provider, config_encrypted, key_id, version, next_check_at AS due, health_check_interval_s,
                status, enabled, consecutive_successes, consecutive_failures
         FROM pb_connectors WHERE enabled AND health_check_interval_s > 0 AND next_check_at <= :now
         ORDER BY next_check_at LIMIT :limit`,
        { type: QueryTypes.SELECT, replacements: { now, limit }, transaction },
      );
      const claimed = rows.map(({ health_check_interval_s: interval, ...row }) => {
        const due = new Date(row.due);
        return { check: { ...row, enabled: Boolean(row.enabled), due }, next: nextDueAfter(due, interval, now) };
      });
      await setDueTimes(sequelize, claimed.map(({ check, next }) => [check.id, next]), '', transaction);
      return claimed.map(({ check }) => check);
    });
  }

  /**
   * Gives every scheduled connector without a due time (rows from before the scheduler existed, or inserted
   * by other means than the service) a first one, spread over its interval. Returns how many it assigned.
   */
  async assignFirstDueTimes(batchSize = 1000): Promise<number> {
    const { sequelize } = this.deps;
    let assigned = 0;
    for (;;) {
      const rows = await sequelize.query<{ id: string; health_check_interval_s: number }>(
        `SELECT id, health_check_interval_s FROM pb_connectors
         WHERE next_check_at IS NULL AND enabled AND health_check_interval_s > 0 LIMIT :limit`,
        { type: QueryTypes.SELECT, replacements: { limit: batchSize } },
      );
      // Another process may assign the same rows meanwhile: "still NULL" keeps the first assignment.
      await setDueTimes(sequelize, rows.map((row) => [row.id, this.firstDueAt(row.health_check_interval_s) as Date]), 'AND next_check_at IS NULL');
      assigned += rows.length;
      if (rows.length < batchSize) return assigned;
    }
  }
}

/** Sets next_check_at of many connectors in one statement. */
async function setDueTimes(sequelize: Sequelize, dueTimes: [string, Date][], condition: string, transaction?: Transaction): Promise<void> {
  if (dueTimes.length === 0) return;
  const replacements: Record<string, unknown> = { ids: dueTimes.map(([id]) => id) };
  const branches = dueTimes.map(([id, at], index) => {
    replacements[`id${index}`] = id;
    replacements[`at${index}`] = at;
    return `WHEN :id${index} THEN CAST(:at${index} AS ${isPostgres(sequelize) ? 'timestamptz' : 'TEXT'})`;
  });
  await sequelize.query(`UPDATE pb_connectors SET next_check_at = CASE id ${branches.join(' ')} END WHERE id IN (:ids) ${condition}`, {
    type: QueryTypes.BULKUPDATE,
    replacements,
    transaction,
  });
}

/** Nearest-rank percentile of sorted values; null when there are none. */
function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null;
}

