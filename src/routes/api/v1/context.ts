import type { FastifyRequest } from 'fastify';
import type { Role } from '../../../db/models/index.js';
import { PatchbayError } from '../../../errors.js';
import { orgOf, userOf } from '../../../plugins/auth.js';
import { managedOptionsFrom } from '../../../provisioning/managed.js';
import type { Actor } from '../../../services/audit-service.js';
import type { ActorContext, RequestContext } from '../../../services/context.js';
import type { ClientInfo, RuntimeContext } from '../../../services/runtime/execution-service.js';

/** Who made the request, as the audit log names them: a user, or an agent by the id of the token it used. */
export function actorOf(request: FastifyRequest): Actor {
  const caller = request.caller;
  if (!caller) throw new PatchbayError('internal_error', 'route without authentication read the caller');
  return caller.kind === 'user' ? { type: 'user', id: caller.user.id } : { type: 'agent', id: caller.agent.tokenId };
}

/** What services need to know of an organisation request: where, who, which request, with what role. */
export function organizationContext(request: FastifyRequest): RequestContext & { role: Role | null } {
  const org = orgOf(request);
  return { organizationId: org.organization.id, actor: actorOf(request), requestId: request.id, role: org.role };
}

/**
 * The same for a resource a provisioning file may manage, with whether the request opts in to changing one
 * (X-Patchbay-Override-Managed; 400 for a value other than true or false).
 */
export function requestContext(request: FastifyRequest): RequestContext & { role: Role | null } {
  return { ...organizationContext(request), ...managedOptionsFrom(request.headers) };
}

/** The context of a request outside any organisation: an operator's on the installation's registry. */
export function actorContext(request: FastifyRequest): ActorContext {
  return { actor: actorOf(request), requestId: request.id };
}

/** The context of a user acting on their own account (API keys, invitations), and that user (403 for an agent). */
export function userContext(request: FastifyRequest): ActorContext & { user: ReturnType<typeof userOf>['user'] } {
  const { user } = userOf(request);
  return { actor: { type: 'user', id: user.id }, requestId: request.id, user };
}

/**
 * A run-time request's context: `requestContext` plus the client program for the audit log, from the
 * `User-Agent` (`name/version …`). A stateless MCP server meets `clientInfo` only in `initialize`, which runs no
 * operation (McpService audits it there).
 */
export function runtimeContext(request: FastifyRequest): RuntimeContext & { requestId: string } {
  return { ...requestContext(request), requestId: request.id, client: userAgentClient(request.headers['user-agent']) };
}

function userAgentClient(userAgent: string | undefined): ClientInfo | undefined {
  if (!userAgent) return undefined;
  // The first product token: "claude-code/1.2.3 (linux)" → claude-code, 1.2.3.
  const product = /^([^\s/]+)\/(\S+)/.exec(userAgent);
  return product ? { name: (product[1] as string).slice(0, 200), version: (product[2] as string).slice(0, 100) } : { name: userAgent.slice(0, 200) };
}
