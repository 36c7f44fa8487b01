import type { FastifyRequest } from 'fastify';
import type { Role } from '../../../db/models/index.js';
import { PatchbayError } from '../../../errors.js';
import { orgOf } from '../../../plugins/auth.js';
import type { Actor, AuditInput } from '../../../services/audit-service.js';
import type { RequestContext } from '../../../services/connector-service.js';

/** Who made the request, as the audit log names them: a user, or an agent by the id of the token it used. */
export function actorOf(request: FastifyRequest): Actor {
  const caller = request.caller;
  if (!caller) throw new PatchbayError('internal_error', 'route without authentication read the caller');
  return caller.kind === 'user' ? { type: 'user', id: caller.user.id } : { type: 'agent', id: caller.agent.tokenId };
}

/** What services need to know of an organisation request: where, who, which request, with what role. */
export function requestContext(request: FastifyRequest): RequestContext & { role: Role | null } {
  const org = orgOf(request);
  return { organizationId: org.organization.id, actor: actorOf(request), requestId: request.id, role: org.role };
}

/**
 * A successful action of this request, for `audit.record`: the actor, the organisation (null on user-level and
 * installation-wide routes) and the request id are filled in. `detail` holds ids and codes, never a secret.
 */
export function auditEvent(request: FastifyRequest, event: Pick<AuditInput, 'action' | 'target_type' | 'target_id' | 'detail'>): AuditInput {
  return { organization_id: request.org?.organization.id ?? null, actor: actorOf(request), outcome: 'success', request_id: request.id, ...event };
}
