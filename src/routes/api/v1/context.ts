import type { FastifyRequest } from 'fastify';
import type { Role } from '../../../db/models/index.js';
import { PatchbayError } from '../../../errors.js';
import { orgOf } from '../../../plugins/auth.js';
import { managedOptionsFrom } from '../../../provisioning/managed.js';
import type { Actor, AuditInput } from '../../../services/audit-service.js';
import type { RequestContext } from '../../../services/connector-service.js';
import type { ClientInfo, RuntimeContext } from '../../../services/execution-service.js';

/** Who made the request, as the audit log names them: a user, or an agent by the id of the token it used. */
export function actorOf(request: FastifyRequest): Actor {
  const caller = request.caller;
  if (!caller) throw new PatchbayError('internal_error', 'route without authentication read the caller');
  return caller.kind === 'user' ? { type: 'user', id: caller.user.id } : { type: 'agent', id: caller.agent.tokenId };
}

/**
 * What services need to know of an organisation request: where, who, which request, with what role, and whether
 * it opts in to changing resources a provisioning file manages (X-Patchbay-Override-Managed).
 */
export function requestContext(request: FastifyRequest): RequestContext & { role: Role | null } {
  const org = orgOf(request);
  return { organizationId: org.organization.id, actor: actorOf(request), requestId: request.id, role: org.role, ...managedOptionsFrom(request.headers) };
}

/**
 * A successful action of this request, for `audit.record`: the actor, the organisation (null on user-level and
 * installation-wide routes) and the request id are filled in. `detail` holds ids and codes, never a secret.
 */
export function auditEvent(request: FastifyRequest, event: Pick<AuditInput, 'action' | 'target_type' | 'target_id' | 'detail'>): AuditInput {
  return { organization_id: request.org?.organization.id ?? null, actor: actorOf(request), outcome: 'success', request_id: request.id, ...event };
}

/**
 * A run-time request's context: `requestContext` plus the client program for the audit log, from the
 * `User-Agent` (`name/version …`). A stateless MCP server meets `clientInfo` only in `initialize`, which runs no
 * operation (the MCP route audits it there).
 */
export function runtimeContext(request: FastifyRequest): RuntimeContext & { requestId: string } {
  return { ...requestContext(request), requestId: request.id, client: userAgentClient(request.headers['user-agent']) };
}

/** The `clientInfo` of an MCP `initialize` request (alone or in a batch); undefined for any other body. */
export function initializeClient(body: unknown): ClientInfo | undefined {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  for (const message of messages) {
    const { method, params } = (message ?? {}) as { method?: unknown; params?: { clientInfo?: { name?: unknown; version?: unknown } } };
    const info = params?.clientInfo;
    if (method === 'initialize' && typeof info?.name === 'string') {
      return { name: info.name.slice(0, 200), ...(typeof info.version === 'string' ? { version: info.version.slice(0, 100) } : {}) };
    }
  }
  return undefined;
}

function userAgentClient(userAgent: string | undefined): ClientInfo | undefined {
  if (!userAgent) return undefined;
  // The first product token: "claude-code/1.2.3 (linux)" → claude-code, 1.2.3.
  const product = /^([^\s/]+)\/(\S+)/.exec(userAgent);
  return product ? { name: (product[1] as string).slice(0, 200), version: (product[2] as string).slice(0, 100) } : { name: userAgent.slice(0, 200) };
}
