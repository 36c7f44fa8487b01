import type { ManagedOptions } from '../provisioning/managed.js';
import type { Actor, AuditInput } from './audit-service.js';

/**
 * Who acts, and in which request: what every mutating service method takes, so that it can decide and then write
 * its own audit event. The routes build it from the request (routes/api/v1/context.ts), the CLI and start-up as
 * the installation itself.
 */
export interface ActorContext {
  actor: Actor;
  /** The HTTP request's id, kept in its audit events; none outside a request. */
  requestId?: string;
  /** The way in when it is not the API, for the detail of the installation's own events (`patchbay api-keys`). */
  via?: 'cli';
}

/** An action inside one organisation, which may opt in to changing what a provisioning file manages. */
export interface RequestContext extends ActorContext, ManagedOptions {
  organizationId: string;
}

/** What an audited action adds to its context: a success in the context's organisation unless it says otherwise. */
export type AuditedAction = Pick<AuditInput, 'action' | 'target_type' | 'target_id' | 'detail'> & Partial<Pick<AuditInput, 'organization_id' | 'outcome'>>;

/**
 * The audit event of an action taken in `ctx`: its organisation (null for a user's own or the installation's
 * actions), actor and request filled in. `detail` holds ids and codes, never a secret or a literal value.
 */
export function auditEvent(ctx: ActorContext & { organizationId?: string }, action: AuditedAction): AuditInput {
  return { organization_id: ctx.organizationId ?? null, actor: ctx.actor, outcome: 'success', request_id: ctx.requestId, ...action };
}
