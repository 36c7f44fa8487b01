import { createHmac } from 'node:crypto';
import { Op, QueryTypes, type Sequelize, type Transaction } from 'sequelize';
import type { Logger } from 'pino';
import type { Config } from '../../config.js';
import type { KeyRing } from '../../crypto/key-ring.js';
import { newId } from '../../db/ids.js';
import type { Models, Webhook, WebhookDelivery, WebhookEvent } from '../../db/models/index.js';
import { isPostgres } from '../../db/sequelize.js';
import { writeTransaction } from '../../db/write-transaction.js';
import { PatchbayError } from '../../errors.js';
import { EgressGuard } from '../../net/egress.js';
import { HttpClient } from '../../net/http-client.js';
import { failureSummary } from '../../net/network-errors.js';
import { MASK, scrubber } from '../../providers/scrub.js';
import { assertUnmanaged, managedMark } from '../../provisioning/managed.js';
import type { AuditService } from '../audit-service.js';
import type { RequestContext as WebhookContext } from '../context.js';
import { keysetPage } from '../cursor.js';
import type { Metrics } from './metrics.js';

/**
 * Organisation webhooks (DESIGN.md section 9): admins register a URL, the events it wants and a signing secret
 * (sealed like a connector config, bound to {organization_id, webhook_id}). An event is written as one delivery
 * row per subscribed webhook, in the same transaction as the change that caused it (an outbox: a crash never
 * loses an alert or sends one for a change that rolled back). Any process's scheduler claims due deliveries with
 * FOR UPDATE SKIP LOCKED, POSTs them signed through the egress policy, and retries with exponential back-off;
 * a webhook whose deliveries keep failing is disabled, with an audit event.
 */

export const SIGNATURE_HEADER = 'Patchbay-Signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed with the body, so a receiver
 * that refuses old timestamps refuses replays, and one that compares v1 in constant time refuses forgeries.
 */
export function signatureHeader(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}

export interface WebhookOptions {
  /** Attempts per delivery before it is marked failed. @default 8 */
  maxAttempts?: number;
  /** Delay before the first retry; it doubles with every attempt (±10 % jitter). @default 10000 */
  backoffBaseMs?: number;
  /** Longest delay between two attempts. @default 3600000 */
  backoffMaxMs?: number;
  /** Deadline of one POST, connecting included. @default 10000 */
  timeoutMs?: number;
  /** Failed deliveries in a row (each after all its attempts) that disable a webhook. @default 5 */
  disableAfter?: number;
  /** Deliveries one process POSTs at once. @default 4 */
  concurrency?: number;
}

export interface CreateWebhookInput {
  url: string;
  events: WebhookEvent[];
  secret: string;
  enabled?: boolean;
  description?: string | null;
}

export interface UpdateWebhookInput {
  url?: string;
  events?: WebhookEvent[];
  /** MASK keeps the stored secret. */
  secret?: string;
  enabled?: boolean;
  description?: string | null;
}

interface ClaimedDelivery {
  id: string;
  webhook_id: string;
  organization_id: string;
  event: string;
  payload: string;
  attempts: number;
}

/** How a POST went: the receiver's status (null without an answer) and, unless it answered 2xx, why it failed. */
interface AttemptOutcome {
  statusCode: number | null;
  error?: string;
}

const DEFAULTS: Required<WebhookOptions> = {
  maxAttempts: 8,
  backoffBaseMs: 10_000,
  backoffMaxMs: 3_600_000,
  timeoutMs: 10_000,
  disableAfter: 5,
  concurrency: 4,
};

export class WebhookService {
  private readonly options: Required<WebhookOptions>;
  private readonly egress: EgressGuard;
  private readonly http: HttpClient;

  constructor(
    private readonly deps: {
      models: Models;
      sequelize: Sequelize;
      keyRing: KeyRing;
      audit: AuditService;
      config: Readonly<Config>;
      log: Logger;
      metrics?: Metrics;
      clock?: () => Date;
      options?: WebhookOptions;
    },
  ) {
    this.options = { ...DEFAULTS, ...deps.options };
    this.egress = new EgressGuard(deps.config.egress);
    // A connection per POST, closed after it; TLS verified against the system roots only.
    this.http = new HttpClient(this.egress, { keepAlive: false });
  }

  private now(): Date {
    return this.deps.clock?.() ?? new Date();
  }

  /** The API's view: the secret is never shown, only that there is one. */
  view(webhook: Webhook) {
    return {
      id: webhook.id,
      organization_id: webhook.organization_id,
      url: webhook.url,
      events: webhook.events,
      description: webhook.description,
      secret: MASK as typeof MASK,
      enabled: webhook.enabled,
      disabled_reason: webhook.disabled_reason,
      consecutive_failures: webhook.consecutive_failures,
      version: webhook.version,
      created_by: webhook.created_by,
      created_at: webhook.created_at.toISOString(),
      updated_at: webhook.updated_at.toISOString(),
      managed_by: webhook.managed_by ?? null,
    };
  }

  deliveryView(delivery: WebhookDelivery) {
    return {
      id: delivery.id,
      webhook_id: delivery.webhook_id,
      event_id: delivery.event_id,
      event: delivery.event,
      status: delivery.status,
      attempts: delivery.attempts,
      next_attempt_at: delivery.next_attempt_at?.toISOString() ?? null,
      last_attempt_at: delivery.last_attempt_at?.toISOString() ?? null,
      last_status_code: delivery.last_status_code,
      last_error: delivery.last_error,
      payload: JSON.parse(delivery.payload) as Record<string, unknown>,
      created_at: delivery.created_at.toISOString(),
    };
  }

  /** Refuses, before anything is stored, a URL the egress policy would refuse at connect time anyway. */
  private checkUrl(url: string): void {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      throw new PatchbayError('validation_failed', 'url: must not carry credentials; receivers verify the signature instead', {
        errors: [{ path: 'url', message: 'must not carry credentials' }],
      });
    }
    const refusal = this.egress.refuseHost(parsed.hostname);
    if (refusal !== undefined) throw new PatchbayError('egress_denied', `webhook url: ${refusal}`);
  }

  async create(ctx: WebhookContext, input: CreateWebhookInput): Promise<Webhook> {
    this.checkUrl(input.url);
    const id = newId();
    const sealed = this.deps.keyRing.seal({ organization_id: ctx.organizationId, webhook_id: id }, input.secret);
    const webhook = await this.deps.models.Webhook.create({
      id,
      organization_id: ctx.organizationId,
      url: input.url,
      events: [...new Set(input.events)],
      description: input.description ?? null,
      secret_encrypted: sealed.token,
      key_id: sealed.key_id,
      enabled: input.enabled ?? true,
      disabled_reason: null,
      created_by: ctx.actor.id,
      ...managedMark(ctx),
    });
    await this.audit(ctx, 'webhook.create', webhook.id, { events: webhook.events, enabled: webhook.enabled });
    return webhook;
  }

  /** Another organisation's webhook "does not exist". */
  async require(organizationId: string, id: string): Promise<Webhook> {
    const webhook = await this.deps.models.Webhook.findOne({ where: { id, organization_id: organizationId } });
    if (!webhook) throw new PatchbayError('not_found', `no webhook ${id}`);
    return webhook;
  }

  async list(organizationId: string, page: { limit: number; cursor?: string }) {
    return keysetPage({
      model: this.deps.models.Webhook,
      where: { organization_id: organizationId },
      order: 'ASC',
      limit: page.limit,
      cursor: page.cursor,
      map: (webhook) => this.view(webhook),
    });
  }

  /** Partial update; re-enabling clears the failure count and the reason Patchbay disabled it. */
  async update(ctx: WebhookContext, id: string, input: UpdateWebhookInput): Promise<Webhook> {
    const webhook = await this.require(ctx.organizationId, id);
    assertUnmanaged(webhook, `webhook ${webhook.url}`, ctx);
    const changes: Partial<Webhook> = { ...managedMark(ctx) };
    if (input.url !== undefined) {
      this.checkUrl(input.url);
      changes.url = input.url;
    }
    if (input.events !== undefined) changes.events = [...new Set(input.events)];
    if (input.description !== undefined) changes.description = input.description;
    const secretRotated = input.secret !== undefined && input.secret !== MASK;
    if (secretRotated) {
      const sealed = this.deps.keyRing.seal({ organization_id: webhook.organization_id, webhook_id: webhook.id }, input.secret);
      changes.secret_encrypted = sealed.token;
      changes.key_id = sealed.key_id;
    }
    if (input.enabled !== undefined) {
      changes.enabled = input.enabled;
      changes.disabled_reason = null;
      if (input.enabled && !webhook.enabled) changes.consecutive_failures = 0;
    }
    try {
      await webhook.update(changes);
    } catch (error) {
      if ((error as Error).name === 'SequelizeOptimisticLockError') throw new PatchbayError('conflict', 'the webhook changed meanwhile; reload and retry');
      throw error;
    }
    await this.audit(ctx, 'webhook.update', webhook.id, { fields: Object.keys(input), secret_rotated: secretRotated });
    return webhook;
  }

  async delete(ctx: WebhookContext, id: string): Promise<void> {
    const webhook = await this.require(ctx.organizationId, id);
    assertUnmanaged(webhook, `webhook ${webhook.url}`, ctx);
    await webhook.destroy();
    await this.audit(ctx, 'webhook.delete', webhook.id);
  }

  async deliveries(organizationId: string, id: string, page: { limit: number; cursor?: string }) {
    const webhook = await this.require(organizationId, id);
    return keysetPage({
      model: this.deps.models.WebhookDelivery,
      where: { webhook_id: webhook.id },
      order: 'DESC',
      limit: page.limit,
      cursor: page.cursor,
      map: (delivery) => this.deliveryView(delivery),
    });
  }

  /**
   * Writes one pending delivery of `event` for every enabled webhook of the organisation that subscribes to it.
   * Pass the transaction of the change that caused the event, so both commit or neither does.
   */
  async enqueue(organizationId: string, event: WebhookEvent, data: Record<string, unknown>, transaction?: Transaction): Promise<number> {
    const webhooks = await this.deps.models.Webhook.findAll({
      where: { organization_id: organizationId, enabled: true },
      attributes: ['id', 'events'],
      transaction,
      // PostgreSQL: a webhook deleted meanwhile would fail the insert below, and with it the caller's change.
      ...(transaction ? { lock: transaction.LOCK.SHARE } : {}),
    });
    const subscribed = webhooks.filter((webhook) => webhook.events.includes(event));
    if (subscribed.length === 0) return 0;
    const now = this.now();
    const eventId = newId();
    const payload = JSON.stringify({ id: eventId, type: event, created_at: now.toISOString(), organization_id: organizationId, data });
    await this.deps.models.WebhookDelivery.bulkCreate(
      subscribed.map((webhook) => ({
        webhook_id: webhook.id,
        organization_id: organizationId,
        event_id: eventId,
        event,
        payload,
        status: 'pending' as const,
        attempts: 0,
        next_attempt_at: now,
        last_attempt_at: null,
        last_status_code: null,
        last_error: null,
      })),
      { transaction },
    );
    return subscribed.length;
  }

  /** Claims and sends every delivery due now, `concurrency` at a time; resolves with how many were attempted. */
  async dispatchDue(): Promise<number> {
    let attempted = 0;
    for (;;) {
      const claimed = await this.claimDue(this.options.concurrency);
      attempted += claimed.length;
      await Promise.all(claimed.map((delivery) => this.attempt(delivery)));
      if (claimed.length < this.options.concurrency) return attempted;
    }
  }

  /**
   * Claims due deliveries and leases them: next_attempt_at moves past the POST's deadline before the POST, so a
   * process that dies mid-delivery leaves the row to be retried by another once the lease runs out.
   */
  private async claimDue(limit: number): Promise<ClaimedDelivery[]> {
    const now = this.now();
    const lease = new Date(now.getTime() + this.options.timeoutMs + 30_000);
    const { sequelize } = this.deps;
    if (isPostgres(sequelize)) {
      return sequelize.query<ClaimedDelivery>(
        `UPDATE pb_webhook_deliveries SET attempts = attempts + 1, next_attempt_at = :lease, last_attempt_at = :now, updated_at = :now
         WHERE id IN (SELECT id FROM pb_webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= :now
                      ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED)
         RETURNING id, webhook_id, organization_id, event, payload, attempts`,
        { type: QueryTypes.SELECT, replacements: { now, lease, limit } },
      );
    }
    // SQLite: the write lock is taken before the read (see writeTransaction), so two processes never claim one row.
    return writeTransaction(sequelize, async (transaction) => {
      const rows = await sequelize.query<ClaimedDelivery>(
        `SELECT id, webhook_id, organization_id, event, payload, attempts FROM pb_webhook_deliveries
         WHERE status = 'pending' AND next_attempt_at <= :now ORDER BY next_attempt_at LIMIT :limit`,
        { type: QueryTypes.SELECT, replacements: { now, limit }, transaction },
      );
      if (rows.length === 0) return [];
      await sequelize.query(
        `UPDATE pb_webhook_deliveries SET attempts = attempts + 1, next_attempt_at = :lease, last_attempt_at = :now, updated_at = :now
         WHERE id IN (:ids)`,
        { type: QueryTypes.BULKUPDATE, replacements: { now, lease, ids: rows.map((row) => row.id) }, transaction },
      );
      return rows.map((row) => ({ ...row, attempts: row.attempts + 1 }));
    });
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const { WebhookDelivery } = this.deps.models;
    const webhook = await this.deps.models.Webhook.findByPk(delivery.webhook_id);
    if (!webhook?.enabled) {
      await WebhookDelivery.update(
        { status: 'failed', next_attempt_at: null, last_error: 'the webhook is disabled' },
        { where: { id: delivery.id } },
      );
      return;
    }
    let secret: string;
    try {
      secret = this.deps.keyRing.open({ organization_id: webhook.organization_id, webhook_id: webhook.id }, webhook.secret_encrypted, webhook.key_id) as string;
    } catch (error) {
      await this.failed(webhook, delivery, { statusCode: null, error: error instanceof Error ? error.message : 'cannot decrypt the secret' });
      return;
    }
    const outcome = await this.post(webhook, delivery, secret);
    if (outcome.error === undefined) {
      await WebhookDelivery.update(
        { status: 'delivered', next_attempt_at: null, last_status_code: outcome.statusCode, last_error: null },
        { where: { id: delivery.id } },
      );
      // Only a webhook that had failures is written: most deliveries then cost one UPDATE.
      if (webhook.consecutive_failures > 0) {
        await this.deps.models.Webhook.update({ consecutive_failures: 0 }, { where: { id: webhook.id }, silent: true });
      }
      this.deps.metrics?.observeDelivery(delivery.event, 'delivered');
      return;
    }
    // The secret never reaches a stored error, even if a message somehow quoted it.
    const scrubbed = { statusCode: outcome.statusCode, error: scrubber([secret])(outcome.error) };
    if (delivery.attempts >= this.options.maxAttempts) {
      await this.failed(webhook, delivery, scrubbed);
      return;
    }
    await WebhookDelivery.update(
      {
        status: 'pending',
        next_attempt_at: new Date(this.now().getTime() + this.backoffMs(delivery.attempts)),
        last_status_code: scrubbed.statusCode,
        last_error: scrubbed.error,
      },
      { where: { id: delivery.id } },
    );
    this.deps.metrics?.observeDelivery(delivery.event, 'retrying');
  }

  /** base·2^(attempt−1), capped, with ±10 % jitter so retries of one outage do not arrive in lockstep. */
  private backoffMs(attempt: number): number {
    const delay = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (attempt - 1));
    return Math.round(delay * (0.9 + Math.random() * 0.2));
  }

  /** A delivery out of attempts: counted against its webhook, which is disabled at the limit. */
  private async failed(webhook: Webhook, delivery: ClaimedDelivery, failure: Required<AttemptOutcome>): Promise<void> {
    const { models, sequelize } = this.deps;
    await models.WebhookDelivery.update(
      { status: 'failed', next_attempt_at: null, last_status_code: failure.statusCode, last_error: failure.error },
      { where: { id: delivery.id } },
    );
    this.deps.metrics?.observeDelivery(delivery.event, 'failed');
    // An increment in SQL, so two processes failing deliveries of one webhook at once both count; not
    // Model.increment, which would bump `version` and make an admin's concurrent edit conflict.
    await sequelize.query('UPDATE pb_webhooks SET consecutive_failures = consecutive_failures + 1 WHERE id = :id', {
      type: QueryTypes.BULKUPDATE,
      replacements: { id: webhook.id },
    });
    // Only the process whose UPDATE flips `enabled` audits the change.
    const [disabled] = await models.Webhook.update(
      { enabled: false, disabled_reason: 'failing' },
      { where: { id: webhook.id, enabled: true, consecutive_failures: { [Op.gte]: this.options.disableAfter } }, silent: true },
    );
    if (disabled === 0) return;
    await models.WebhookDelivery.update(
      { status: 'failed', next_attempt_at: null, last_error: 'the webhook was disabled after repeated failures' },
      { where: { webhook_id: webhook.id, status: 'pending' } },
    );
    this.deps.log.warn({ webhook_id: webhook.id, organization_id: webhook.organization_id }, 'webhook disabled after repeated failed deliveries');
    await this.deps.audit.record({
      organization_id: webhook.organization_id,
      actor: { type: 'system', id: null },
      action: 'webhook.disabled',
      target_type: 'webhook',
      target_id: webhook.id,
      outcome: 'success',
      detail: { reason: 'failing', failed_deliveries: this.options.disableAfter, last_status_code: failure.statusCode },
    });
  }

  /** One signed POST; a 2xx answer is the only success. */
  private async post(webhook: Webhook, delivery: ClaimedDelivery, secret: string): Promise<AttemptOutcome> {
    const body = delivery.payload;
    const timestamp = Math.floor(this.now().getTime() / 1000);
    try {
      // Redirects are not followed (a 3xx is a failed attempt); the answer's body means nothing here (maxBytes 0).
      const { status } = await this.http.send(
        {
          method: 'POST',
          url: new URL(webhook.url),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Patchbay-Webhooks',
            'patchbay-event': delivery.event,
            'patchbay-delivery': delivery.id,
            [SIGNATURE_HEADER.toLowerCase()]: signatureHeader(secret, body, timestamp),
            connection: 'close',
          },
          body,
        },
        { maxBytes: 0, timeoutMs: this.options.timeoutMs },
      );
      if (status >= 200 && status < 300) return { statusCode: status };
      return { statusCode: status, error: `the receiver answered HTTP ${status}` };
    } catch (error) {
      return { statusCode: null, error: failureSummary(error) };
    }
  }

  private audit(ctx: WebhookContext, action: string, targetId: string, detail?: Record<string, unknown>) {
    return this.deps.audit.record({
      organization_id: ctx.organizationId,
      actor: ctx.actor,
      action,
      target_type: 'webhook',
      target_id: targetId,
      outcome: 'success',
      detail,
      request_id: ctx.requestId,
    });
  }
}
