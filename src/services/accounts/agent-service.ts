import { randomBytes } from 'node:crypto';
import { UniqueConstraintError } from 'sequelize';
import type { Agent, AgentToken, Models, Organization } from '../../db/models/index.js';
import { PatchbayError } from '../../errors.js';
import type { AgentPrincipal } from '../runtime-types.js';
import { agentIdSchema } from '../../schemas/vocabulary.js';
import { assertUnmanaged, managedMark } from '../../provisioning/managed.js';
import type { AuditService } from '../audit-service.js';
import { auditEvent, type RequestContext } from '../context.js';
import { keysetPage } from '../cursor.js';
import { credentialRow, PrincipalCache } from '../runtime/principal-cache.js';
import { credentialView, hashSecret, issueSecret, looksLikeSecret } from '../connectors/secrets.js';

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
    private readonly audit: AuditService,
    /** Without one (a service used alone), every call reads the database. */
    private readonly principals = new PrincipalCache({
      ttlMs: 0,
      touchDirect: async (_kind, id, at) => void (await models.AgentToken.update({ last_used_at: at }, { where: { id } })),
    }),
  ) {}

  async create(ctx: RequestContext, input: { id?: string; name?: string; description?: string }): Promise<Agent> {
    const agentId = input.id ?? `agt_${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
    const parsed = agentIdSchema.safeParse(agentId);
    if (!parsed.success) {
      throw new PatchbayError('validation_failed', `id: ${parsed.error.issues[0]?.message}`, {
        errors: [{ path: 'id', message: parsed.error.issues[0]?.message ?? 'invalid' }],
      });
    }
    let agent: Agent;
    try {
      agent = await this.models.Agent.create({
        organization_id: ctx.organizationId,
        agent_id: agentId,
        name: input.name ?? null,
        description: input.description ?? null,
        created_by: ctx.actor.id,
        ...managedMark(ctx),
      });
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', `agent ${agentId} already exists`);
      throw error;
    }
    await this.audit.record(auditEvent(ctx, { action: 'agent.create', target_type: 'agent', target_id: agent.agent_id }));
    return agent;
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
  async update(ctx: RequestContext, agentId: string, input: { name?: string | null; description?: string | null }): Promise<Agent> {
    const agent = await this.require(ctx.organizationId, agentId);
    assertUnmanaged(agent, `agent ${agentId}`, ctx);
    await agent.update({ ...input, ...managedMark(ctx) });
    await this.audit.record(auditEvent(ctx, { action: 'agent.update', target_type: 'agent', target_id: agentId }));
    return agent;
  }

  /** Its attachments and tokens go with it (foreign keys cascade). */
  async delete(ctx: RequestContext, agentId: string): Promise<Agent> {
    const agent = await this.require(ctx.organizationId, agentId);
    assertUnmanaged(agent, `agent ${agentId}`, ctx);
    await agent.destroy();
    await this.audit.record(auditEvent(ctx, { action: 'agent.delete', target_type: 'agent', target_id: agent.agent_id }));
    return agent;
  }

  async issueToken(ctx: RequestContext, agent: Agent, input: { name?: string; expires_at?: string }) {
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
      created_by: ctx.actor.id,
      last_used_at: null,
      expires_at: expiresAt,
      revoked_at: null,
    });
    await this.audit.record(auditEvent(ctx, { action: 'agent_token.create', target_type: 'agent_token', target_id: token.id, detail: { agent_id: agent.agent_id } }));
    return { ...credentialView(token), token: secret.value, agent_id: agent.agent_id };
  }

  async listTokens(agent: Agent) {
    const tokens = await this.models.AgentToken.findAll({ where: { agent_id: agent.id }, order: [['created_at', 'ASC']] });
    return tokens.map(credentialView);
  }

  async revokeToken(ctx: RequestContext, agent: Agent, tokenId: string) {
    const token = await this.models.AgentToken.findOne({ where: { id: tokenId, agent_id: agent.id } });
    if (!token) throw new PatchbayError('not_found', `no token ${tokenId}`);
    if (!token.revoked_at) await token.update({ revoked_at: new Date() });
    await this.audit.record(auditEvent(ctx, { action: 'agent_token.revoke', target_type: 'agent_token', target_id: token.id, detail: { agent_id: agent.agent_id } }));
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
