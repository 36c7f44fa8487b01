import { randomBytes } from 'node:crypto';
import { UniqueConstraintError } from 'sequelize';
import type { Agent, AgentToken, Models, Organization } from '../db/models/index.js';
import { PatchbayError } from '../errors.js';
import type { AgentPrincipal } from '../plugins/auth.js';
import { agentIdSchema } from '../schemas/vocabulary.js';
import { assertUnmanaged, managedMark, type ManagedOptions } from '../provisioning/managed.js';
import { keysetPage } from './cursor.js';
import { credentialRow, PrincipalCache } from './principal-cache.js';
import { credentialView, hashSecret, issueSecret, looksLikeSecret } from './secrets.js';

export const agentView = (agent: Agent) => ({
  id: agent.agent_id,
  name: agent.name,
  description: agent.description,
  created_by: agent.created_by,
  created_at: agent.created_at.toISOString(),
  updated_at: agent.updated_at.toISOString(),
  managed_by: agent.managed_by ?? null,
});

/** Agents are an organisation's resource; each may hold tokens that act as that agent only. */
export class AgentService {
  constructor(
    private readonly models: Models,
    /** Without one (a service used alone), every call reads the database. */
    private readonly principals = new PrincipalCache({
      ttlMs: 0,
      touchDirect: async (_kind, id, at) => void (await models.AgentToken.update({ last_used_at: at }, { where: { id } })),
    }),
  ) {}

  async create(
    organizationId: string,
    input: { id?: string; name?: string; description?: string },
    createdBy: string | null,
    managed?: ManagedOptions,
  ): Promise<Agent> {
    const agentId = input.id ?? `agt_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
    const parsed = agentIdSchema.safeParse(agentId);
    if (!parsed.success) {
      throw new PatchbayError('validation_failed', `id: ${parsed.error.issues[0]?.message}`, {
        errors: [{ path: 'id', message: parsed.error.issues[0]?.message ?? 'invalid' }],
      });
    }
    try {
      return await this.models.Agent.create({
        organization_id: organizationId,
        agent_id: agentId,
        name: input.name ?? null,
        description: input.description ?? null,
        created_by: createdBy,
        ...managedMark(managed),
      });
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', `agent ${agentId} already exists`);
      throw error;
    }
  }

  async find(organizationId: string, agentId: string): Promise<Agent | null> {
    return this.models.Agent.findOne({ where: { organization_id: organizationId, agent_id: agentId } });
  }

  /** Another organisation's agent "does not exist". */
  async require(organizationId: string, agentId: string): Promise<Agent> {
    const agent = await this.find(organizationId, agentId);
    if (!agent) throw new PatchbayError('not_found', `no agent ${agentId}`);
    return agent;
  }

  async list(organizationId: string, page: { limit: number; cursor?: string }) {
    return keysetPage({
      model: this.models.Agent,
      where: { organization_id: organizationId },
      order: 'ASC',
      limit: page.limit,
      cursor: page.cursor,
      map: agentView,
    });
  }

  /** Name and description (no HTTP endpoint yet: `patchbay apply` uses it). */
  async update(organizationId: string, agentId: string, input: { name?: string | null; description?: string | null }, managed?: ManagedOptions): Promise<Agent> {
    const agent = await this.require(organizationId, agentId);
    assertUnmanaged(agent, `agent ${agentId}`, managed);
    return agent.update({ ...input, ...managedMark(managed) });
  }

  /** Its attachments and tokens go with it (foreign keys cascade). */
  async delete(organizationId: string, agentId: string, managed?: ManagedOptions): Promise<Agent> {
    const agent = await this.require(organizationId, agentId);
    assertUnmanaged(agent, `agent ${agentId}`, managed);
    await agent.destroy();
    return agent;
  }

  async issueToken(agent: Agent, input: { name?: string; expires_at?: string }, createdBy: string | null) {
    const expiresAt = input.expires_at ? new Date(input.expires_at) : null;
    if (expiresAt && expiresAt <= new Date()) {
      throw new PatchbayError('validation_failed', 'expires_at must be in the future', {
        errors: [{ path: 'expires_at', message: 'must be in the future' }],
      });
    }
    const secret = issueSecret('pbt');
    const token = await this.models.AgentToken.create({
      agent_id: agent.id,
      organization_id: agent.organization_id,
      name: input.name ?? null,
      prefix: secret.prefix,
      token_hash: secret.hash,
      created_by: createdBy,
      last_used_at: null,
      expires_at: expiresAt,
      revoked_at: null,
    });
    return { ...credentialView(token), token: secret.value, agent_id: agent.agent_id };
  }

  async listTokens(agent: Agent) {
    const tokens = await this.models.AgentToken.findAll({ where: { agent_id: agent.id }, order: [['created_at', 'ASC']] });
    return tokens.map(credentialView);
  }

  async revokeToken(agent: Agent, tokenId: string) {
    const token = await this.models.AgentToken.findOne({ where: { id: tokenId, agent_id: agent.id } });
    if (!token) throw new PatchbayError('not_found', `no token ${tokenId}`);
    if (!token.revoked_at) await token.update({ revoked_at: new Date() });
    return credentialView(token);
  }

  /** Resolves an agent token; null for anything that is not a live token of an existing agent. From memory when cached. */
  async authenticateToken(presented: string): Promise<AgentPrincipal | null> {
    if (!looksLikeSecret(presented, 'pbt')) return null;
    return this.principals.agentToken(hashSecret(presented), async (hash) => {
      // One query for token, agent and organisation.
      const token = await this.models.AgentToken.findOne({
        where: { token_hash: hash },
        include: [{ model: this.models.Agent, as: 'agent', required: true, include: [{ model: this.models.Organization, as: 'organization', required: true }] }],
      });
      if (!token) return null;
      const agent = (token as AgentToken & { agent: Agent & { organization: Organization } }).agent;
      return { token: credentialRow(token), principal: { tokenId: token.id, agentPk: agent.id, agentId: agent.agent_id, organization: agent.organization } };
    });
  }
}
