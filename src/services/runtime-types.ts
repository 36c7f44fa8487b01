import type { Agent, Organization, Role, User } from '../db/models/index.js';

/**
 * Types shared by the services that resolve a caller at run time (accounts, agents, attachments and the
 * principal cache), kept apart so that none of them imports another only for a type.
 */

/** A user authenticated by an API key, with the organisations it belongs to. */
export interface Principal {
  user: User;
  apiKeyId: string;
  /** In the order they were joined: the first is the user's default organisation. */
  memberships: { organization: Organization; role: Role }[];
}

/** What the attachment service needs of the agents: an agent of the organisation, or not_found. */
export interface AgentLookup {
  require(organizationId: string, agentId: string): Promise<Agent>;
}

/** An agent authenticated by one of its tokens. */
export interface AgentPrincipal {
  tokenId: string;
  /** Surrogate id (pb_agents.id) and public id (agent-123). */
  agentPk: string;
  agentId: string;
  organization: Organization;
}
