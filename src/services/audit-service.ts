import { Op } from 'sequelize';
import type { Models } from '../db/models/index.js';
import { inWriteScope } from '../db/write-transaction.js';
import { storableJson } from '../schemas/strings.js';
import type { AuditWriter } from './audit-writer.js';
import { keysetPage } from './cursor.js';

export interface Actor {
  type: 'user' | 'agent' | 'system';
  id: string | null;
}

export interface AuditInput {
  organization_id: string | null;
  actor: Actor;
  action: string;
  target_type?: string;
  target_id?: string;
  outcome: 'success' | 'failure' | 'denied';
  /** Never a secret or a literal value: ids, codes, counts. */
  detail?: Record<string, unknown>;
  request_id?: string;
}

export interface AuditFilter {
  action?: string;
  actor_id?: string;
  target_id?: string;
  outcome?: string;
  since?: Date;
  until?: Date;
  limit: number;
  cursor?: string;
}

export class AuditService {
  constructor(
    private readonly models: Pick<Models, 'AuditEvent'>,
    /** Group commit (services/audit-writer.ts); without one, each event is its own INSERT through the model. */
    private readonly writer?: AuditWriter,
  ) {}

  /** Resolves once the event is committed. */
  async record(event: AuditInput): Promise<void> {
    const row = {
      organization_id: event.organization_id,
      actor_type: event.actor.type,
      actor_id: event.actor.id,
      action: event.action,
      target_type: event.target_type ?? null,
      target_id: event.target_id ?? null,
      outcome: event.outcome,
      // Client text (an operation name, an MCP client's name) may hold what a JSON column cannot store.
      detail: event.detail ? storableJson(event.detail) : null,
      request_id: event.request_id ?? null,
    };
    // Inside a write scope (`patchbay apply`) the event belongs to the scope's transaction: it commits or rolls
    // back with the changes it records, so it cannot take the writer's separate commit.
    if (this.writer && !inWriteScope()) await this.writer.write({ ...row, created_at: new Date() });
    else await this.models.AuditEvent.create(row);
  }

  /** Throws `unavailable` while the writer holds rows the database refused (see AuditWriter.assertWritable). */
  assertWritable(): void {
    this.writer?.assertWritable();
  }

  /** One organisation's events, or with `null` the installation's: those that belong to no organisation. */
  async list(organizationId: string | null, filter: AuditFilter) {
    const where: Record<string | symbol, unknown> = { organization_id: organizationId };
    for (const key of ['action', 'actor_id', 'target_id', 'outcome'] as const) {
      if (filter[key]) where[key] = filter[key];
    }
    const range: Record<symbol, Date> = {};
    if (filter.since) range[Op.gte] = filter.since;
    if (filter.until) range[Op.lt] = filter.until;
    const conditions: unknown[] = [];
    if (Object.getOwnPropertySymbols(range).length) conditions.push({ created_at: range });
    if (conditions.length) where[Op.and] = conditions;
    return keysetPage({
      model: this.models.AuditEvent,
      where,
      order: 'DESC',
      limit: filter.limit,
      cursor: filter.cursor,
      map: (e) => ({
        id: e.id,
        organization_id: e.organization_id,
        actor_type: e.actor_type,
        actor_id: e.actor_id,
        action: e.action,
        target_type: e.target_type,
        target_id: e.target_id,
        outcome: e.outcome,
        detail: e.detail,
        request_id: e.request_id,
        created_at: e.created_at.toISOString(),
      }),
    });
  }
}
