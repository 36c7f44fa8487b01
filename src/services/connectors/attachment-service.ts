import { isDeepStrictEqual } from 'node:util';
import { UniqueConstraintError } from 'sequelize';
import type { Agent, AttachmentMode, Connector, ConnectorInstance, Models, Role } from '../../db/models/index.js';
import { PatchbayError, validationError } from '../../errors.js';
import { boundaryViolation, escapedBoundaries, isBoundaryField, wideningIssues } from '../../providers/boundaries.js';
import { getProvider, overridableFieldNames } from '../../providers/registry.js';
import type { Limits } from '../../providers/types.js';
import { DEFAULT_LIMITS, type AttachmentLimits } from '../../schemas/vocabulary.js';
import type { Actor, AuditService } from '../audit-service.js';
import type { AgentLookup } from '../runtime-types.js';
import { assertUnmanaged, managedMark } from '../../provisioning/managed.js';
import { maskConfig, resolveProvider, type ConnectorService } from './connector-service.js';
import { auditEvent, type RequestContext } from '../context.js';

export interface AttachInput {
  agent_id: string;
  alias: string;
  config_override?: Record<string, unknown> | null;
  mode?: AttachmentMode;
  limits?: AttachmentLimits;
}

export interface PatchInstanceInput {
  alias?: string;
  config_override?: Record<string, unknown> | null;
  mode?: AttachmentMode;
  limits?: AttachmentLimits;
  bound_params?: Record<string, unknown> | null;
}


/** The limits a call runs with: the attachment's, else the defaults. */
export function effectiveLimits(limits: AttachmentLimits | null | undefined): Limits & { ratePerMinute?: number } {
  return {
    maxRows: limits?.max_rows ?? DEFAULT_LIMITS.max_rows,
    timeoutMs: limits?.timeout_ms ?? DEFAULT_LIMITS.timeout_ms,
    maxBytes: limits?.max_bytes ?? DEFAULT_LIMITS.max_bytes,
    ...(limits?.rate_per_minute ? { ratePerMinute: limits.rate_per_minute } : {}),
  };
}

/** Whether `limits` go above the defaults, or above what an admin already allowed (`current`). */
const raisesDefaults = (limits: AttachmentLimits | undefined, current: AttachmentLimits | null = null) =>
  !!limits &&
  (Object.keys(DEFAULT_LIMITS) as (keyof typeof DEFAULT_LIMITS)[]).some(
    (name) => (limits[name] ?? 0) > Math.max(DEFAULT_LIMITS[name], current?.[name] ?? 0),
  );

/**
 * What a developer may change on an existing attachment (DESIGN.md section 11): only narrow it. Not a
 * `read_write` attachment at all; no override field removed; a boundary field (prefix, topic, queue, subject,
 * channel, exchange) only moved inside its current value; any other field the override already sets (a
 * `database`, a `schema`) kept as it is, since switching it is not narrowing; no limit removed or raised. A field
 * the override does not set yet may be added, as at attach. Admins are not bound by this.
 */
function refuseWidening(providerId: string, instance: ConnectorInstance, input: PatchInstanceInput): void {
  if (instance.mode === 'read_write') throw new PatchbayError('forbidden', 'a read_write attachment is changed only by an admin');
  if (input.config_override !== undefined) {
    const current = parseOverride(instance);
    const next = input.config_override ?? {};
    const removed = Object.keys(current).filter((field) => next[field] === undefined);
    const escaped = escapedBoundaries(providerId, current, next);
    const switched = Object.keys(current).filter(
      (field) => next[field] !== undefined && !isBoundaryField(providerId, field) && !isDeepStrictEqual(next[field], current[field]),
    );
    const refusals = [
      ...removed.map((field) => `may not remove config_override.${field}`),
      ...escaped.map((field) => `config_override.${field} may only move inside its current value`),
      ...switched.map((field) => `may not change config_override.${field}`),
    ];
    if (refusals.length) throw new PatchbayError('forbidden', `a developer may only narrow an attachment: ${refusals.join('; ')}`);
  }
  if (input.limits !== undefined) {
    const current: AttachmentLimits = instance.limits ?? {};
    const next = input.limits;
    const refusals = (Object.keys(current) as (keyof AttachmentLimits)[]).flatMap((name) => {
      const was = current[name];
      const now = next[name];
      if (was === undefined) return [];
      if (now === undefined) return [`may not remove limits.${name}`];
      return now > was ? [`may not raise limits.${name} above ${was}`] : [];
    });
    if (refusals.length) throw new PatchbayError('forbidden', `a developer may only narrow an attachment: ${refusals.join('; ')}`);
  }
}

/**
 * The run-time path's rule for users (DESIGN.md section 11): an API key acting on a `read_write` attachment
 * needs the admin role; agents use their own tokens. Undefined when the call may go on.
 */
export function runtimeRoleRefusal(ctx: { actor: Actor; role?: Role | null }, mode: AttachmentMode): PatchbayError | undefined {
  if (mode !== 'read_write' || ctx.actor.type !== 'user' || ctx.role === 'admin') return undefined;
  return new PatchbayError('forbidden', 'a read_write attachment is used by its agent token, or by an admin');
}

export interface ResolvedAttachment {
  instance: ConnectorInstance;
  connector: Connector;
  agent: Agent;
}

export const parseOverride = (instance: ConnectorInstance): Record<string, unknown> =>
  instance.config_override ? (JSON.parse(instance.config_override) as Record<string, unknown>) : {};

/** Attachments (ConnectorInstance): one agent, one connector, an alias, an override, a mode and limits. */
export class AttachmentService {
  constructor(
    private readonly deps: { models: Models; connectors: ConnectorService; agents: AgentLookup; audit: AuditService },
  ) {}

  /** An override may set only the provider's overridable fields, and the merged config must still be valid. */
  private checkOverride(connector: Connector, override: Record<string, unknown> | null | undefined): void {
    if (!override) return;
    const provider = resolveProvider(connector.connector_type, connector.provider);
    const allowed = new Set(overridableFieldNames(provider));
    const errors = Object.keys(override)
      .filter((key) => !allowed.has(key))
      .map((key) => ({
        path: `config_override.${key}`,
        message: allowed.size ? `not overridable; an attachment may set only ${[...allowed].join(', ')}` : `${provider.id} has no overridable fields`,
      }));
    if (errors.length) throw validationError(errors);
    const base = this.deps.connectors.decrypt(connector);
    const widening = wideningIssues(provider.id, base, override);
    if (widening.length) throw validationError(widening);
    const merged = { ...base, ...override };
    try {
      this.deps.connectors.parseConfigOrThrow(provider, merged);
    } catch (error) {
      if (error instanceof PatchbayError && error.errors) {
        throw validationError(error.errors.map((e) => ({ ...e, path: e.path.replace(/^config\./, 'config_override.') })));
      }
      throw error;
    }
  }

  private checkPrivileges(
    role: Role | null,
    input: { mode?: AttachmentMode; limits?: AttachmentLimits; bound_params?: unknown },
    current: AttachmentLimits | null = null,
  ) {
    if (role === 'admin') return;
    if (input.mode === 'read_write') throw new PatchbayError('forbidden', 'mode read_write needs an admin');
    if (raisesDefaults(input.limits, current)) throw new PatchbayError('forbidden', 'limits above the defaults need an admin');
    if (input.bound_params !== undefined) throw new PatchbayError('forbidden', 'bound_params are set by an admin');
  }

  async attach(ctx: RequestContext & { role: Role | null }, connectorId: string, input: AttachInput): Promise<ConnectorInstance> {
    const connector = await this.deps.connectors.require(ctx.organizationId, connectorId);
    const agent = await this.deps.agents.require(ctx.organizationId, input.agent_id);
    this.checkPrivileges(ctx.role, input);
    this.checkOverride(connector, input.config_override);
    let instance: ConnectorInstance;
    try {
      instance = await this.deps.models.ConnectorInstance.create({
        connector_id: connector.id,
        agent_id: agent.id,
        alias: input.alias,
        config_override: input.config_override ? JSON.stringify(input.config_override) : null,
        mode: input.mode ?? 'read',
        limits: input.limits ?? null,
        bound_params: null,
        ...managedMark(ctx),
      });
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', `agent ${agent.agent_id} already has an attachment named ${input.alias}`);
      throw error;
    }
    await this.audit(ctx, 'connector.attach', instance.id, { connector_id: connector.id, agent_id: agent.agent_id, alias: input.alias, mode: instance.mode });
    return instance;
  }

  /** An instance of this organisation (another organisation's "does not exist"). */
  async require(organizationId: string, instanceId: string): Promise<{ instance: ConnectorInstance; connector: Connector; agent: Agent }> {
    const instance = await this.deps.models.ConnectorInstance.findByPk(instanceId);
    const connector = instance ? await this.deps.models.Connector.findOne({ where: { id: instance.connector_id, organization_id: organizationId } }) : null;
    const agent = instance && connector ? await this.deps.models.Agent.findByPk(instance.agent_id) : null;
    if (!instance || !connector || !agent) throw new PatchbayError('not_found', `no connector instance ${instanceId}`);
    return { instance, connector, agent };
  }

  async patch(ctx: RequestContext & { role: Role | null }, instanceId: string, input: PatchInstanceInput): Promise<ConnectorInstance> {
    const { instance, connector } = await this.require(ctx.organizationId, instanceId);
    assertUnmanaged(instance, `attachment "${instance.alias}"`, ctx);
    this.checkPrivileges(ctx.role, input, instance.limits);
    if (ctx.role !== 'admin') refuseWidening(connector.provider, instance, input);
    if (input.config_override !== undefined) this.checkOverride(connector, input.config_override);
    const changes: Partial<ConnectorInstance> = { ...managedMark(ctx) };
    if (input.alias !== undefined) changes.alias = input.alias;
    if (input.config_override !== undefined) changes.config_override = input.config_override ? JSON.stringify(input.config_override) : null;
    if (input.mode !== undefined) changes.mode = input.mode;
    if (input.limits !== undefined) changes.limits = input.limits;
    if (input.bound_params !== undefined) changes.bound_params = input.bound_params;
    try {
      await instance.update(changes);
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', `the agent already has an attachment named ${input.alias}`);
      throw error;
    }
    await this.audit(ctx, 'connector.attachment_update', instance.id, { fields: Object.keys(input) });
    return instance;
  }

  async detach(ctx: RequestContext & { role: Role | null }, instanceId: string): Promise<void> {
    const { instance, connector, agent } = await this.require(ctx.organizationId, instanceId);
    assertUnmanaged(instance, `attachment "${instance.alias}"`, ctx);
    if (ctx.role !== 'admin' && instance.mode === 'read_write') {
      throw new PatchbayError('forbidden', 'a read_write attachment is changed only by an admin');
    }
    await instance.destroy();
    await this.audit(ctx, 'connector.detach', instance.id, { connector_id: connector.id, agent_id: agent.agent_id, alias: instance.alias });
  }

  /** The instance view: alias, connector summary, status, mode, limits and the effective masked config. */
  view(instance: ConnectorInstance, connector: Connector, agent: Agent) {
    const provider = getProvider(connector.provider);
    const override = parseOverride(instance);
    let config: Record<string, unknown> | null = null;
    // Whether a call through it may run now: the connector may have been narrowed since the attachment was made.
    let validity: { valid: boolean; reason: string | null } = { valid: false, reason: "the connector's config cannot be read" };
    try {
      const base = this.deps.connectors.decrypt(connector);
      config = provider ? maskConfig(provider, { ...base, ...override }) : null;
      const reason = boundaryViolation(connector.provider, base, override);
      validity = { valid: reason === null, reason };
    } catch {
      config = null;
    }
    return {
      id: instance.id,
      connector_id: connector.id,
      agent_id: agent.agent_id,
      alias: instance.alias,
      config_override: provider ? maskConfig(provider, override) : override,
      mode: instance.mode,
      limits: instance.limits ?? {},
      effective_limits: {
        max_rows: instance.limits?.max_rows ?? DEFAULT_LIMITS.max_rows,
        timeout_ms: instance.limits?.timeout_ms ?? DEFAULT_LIMITS.timeout_ms,
        max_bytes: instance.limits?.max_bytes ?? DEFAULT_LIMITS.max_bytes,
        rate_per_minute: instance.limits?.rate_per_minute ?? null,
      },
      bound_params: instance.bound_params ? Object.keys(instance.bound_params) : [],
      connector: {
        id: connector.id,
        name: connector.name,
        connector_type: connector.connector_type,
        provider: connector.provider,
        status: connector.status,
        enabled: connector.enabled,
      },
      status: connector.status,
      config,
      ...validity,
      created_at: instance.created_at.toISOString(),
      updated_at: instance.updated_at.toISOString(),
      managed_by: instance.managed_by ?? null,
    };
  }

  async listForAgent(organizationId: string, agentId: string) {
    const agent = await this.deps.agents.require(organizationId, agentId);
    const instances = await this.deps.models.ConnectorInstance.findAll({
      where: { agent_id: agent.id },
      include: [{ model: this.deps.models.Connector, as: 'connector' }],
      order: [['alias', 'ASC']],
    });
    return instances.map((instance) => this.view(instance, (instance as ConnectorInstance & { connector: Connector }).connector, agent));
  }

  /** Which agents use a connector, under which alias: what a delete would detach (the console's reverse lookup). */
  async listForConnector(organizationId: string, connectorId: string) {
    const connector = await this.deps.connectors.require(organizationId, connectorId);
    const instances = await this.deps.models.ConnectorInstance.findAll({
      where: { connector_id: connector.id },
      include: [{ model: this.deps.models.Agent, as: 'agent' }],
      order: [['created_at', 'ASC']],
    });
    return instances.map((instance) => this.view(instance, connector, (instance as ConnectorInstance & { agent: Agent }).agent));
  }

  /** The run-time lookup: an agent's attachment by alias. */
  async byAlias(organizationId: string, agentId: string, alias: string): Promise<ResolvedAttachment> {
    // One query: it runs on every run-time call.
    const instance = await this.deps.models.ConnectorInstance.findOne({
      where: { alias },
      include: [
        { model: this.deps.models.Agent, as: 'agent', required: true, where: { organization_id: organizationId, agent_id: agentId } },
        { model: this.deps.models.Connector, as: 'connector', required: true },
      ],
    });
    if (!instance) {
      // Which of the two is missing only changes the message; both are "does not exist" in this organisation.
      await this.deps.agents.require(organizationId, agentId);
      throw new PatchbayError('not_found', `agent ${agentId} has no attachment ${alias}`);
    }
    const joined = instance as ConnectorInstance & { connector: Connector; agent: Agent };
    return { instance, connector: joined.connector, agent: joined.agent };
  }

  private audit(ctx: RequestContext, action: string, targetId: string, detail: Record<string, unknown>) {
    return this.deps.audit.record(auditEvent(ctx, { action, target_type: 'connector_instance', target_id: targetId, detail }));
  }
}
