import type { ActorContext, RequestContext } from '../../src/services/context.js';

/** The installation acting on its own, as start-up and the command line do. */
export const installation: ActorContext = { actor: { type: 'system', id: null } };

/** A user acting on their own account (API keys, invitations), as the routes' `userContext` builds it. */
export const asUser = (userId: string): ActorContext => ({ actor: { type: 'user', id: userId } });

/** An action inside an organisation: by that user, or without one by the installation. */
export const inOrganization = (organizationId: string, userId: string | null = null): RequestContext => ({
  organizationId,
  actor: userId === null ? installation.actor : { type: 'user', id: userId },
});
