import type { Sequelize } from 'sequelize';
import type { KeyRing } from '../crypto/key-ring.js';
import type { Agent, Connector, ConnectorInstance, Models, Organization, Role } from '../db/models/index.js';
import { takeMigrationLock } from '../db/migrator.js';
import { writeTransactionScope } from '../db/write-transaction.js';
import { PatchbayError, validationError, type FieldError } from '../errors.js';
import type { AccountService } from '../services/accounts/account-service.js';
import type { AgentService } from '../services/accounts/agent-service.js';
import type { AttachmentService, PatchInstanceInput } from '../services/connectors/attachment-service.js';
import type { Actor } from '../services/audit-service.js';
import type { ConnectorService, UpdateConnectorInput } from '../services/connectors/connector-service.js';
import type { RequestContext } from '../services/context.js';
import type { UpdateWebhookInput, WebhookService } from '../services/health/webhook-service.js';
import type { DesiredState } from './desired.js';
import { CHANGED, diff, planLine, type Change, type CurrentState, type PlanLine } from './plan.js';

/** Who applies: the CLI acts as a system operator with the admin role; the HTTP endpoint as the calling admin. */
export interface ProvisioningActor {
  actor: Actor;
  role: Role | null;
  requestId?: string;
}

export interface PlanResult {
  organization: string;
  changes: PlanLine[];
}

/**
 * Plan and apply a provisioning file through the same services as the API (validation, role rules, audit,
 * webhooks), all of one organization in one transaction: every service call joins it (writeTransactionScope),
 * so a failure anywhere leaves nothing applied. An apply that finds nothing to change calls no service, so it
 * writes nothing, not even an audit event.
 */
export class ProvisioningService {
  constructor(
    private readonly deps: {
      sequelize: Sequelize;
      models: Models;
      keyRing: KeyRing;
      accounts: AccountService;
      connectors: ConnectorService;
      agents: AgentService;
      attachments: AttachmentService;
      webhooks: WebhookService;
    },
  ) {}

  async plan(desired: DesiredState, options: { prune: boolean }): Promise<PlanResult> {
    const organization = await this.organization(desired);
    const changes = this.changes(desired, await this.read(organization.id), options);
    return { organization: organization.slug, changes: changes.map(planLine) };
  }

  /**
   * Applies under the migration lock (PostgreSQL), reading the state inside the transaction: processes that
   * start together with the same file apply it one after the other, and the later ones find nothing to do.
   */
  async apply(who: ProvisioningActor, desired: DesiredState, options: { prune: boolean }): Promise<PlanResult> {
    const { sequelize } = this.deps;
    return writeTransactionScope(sequelize, async (transaction) => {
      await takeMigrationLock(sequelize, transaction);
      const organization = await this.organization(desired);
      const current = await this.read(organization.id);
      const changes = this.changes(desired, current, options);
      const ctx: RequestContext & { role: Role | null } = {
        organizationId: organization.id,
        actor: who.actor,
        role: who.role,
        requestId: who.requestId,
        managedBy: 'file',
      };
      const connectorIds = new Map(current.connectors.map((c) => [c.row.name, c.row.id]));
      for (const change of changes) await this.execute(ctx, change, connectorIds);
      return { organization: organization.slug, changes: changes.map(planLine) };
    });
  }

  private async organization(desired: DesiredState): Promise<Organization> {
    const organization = await this.deps.accounts.findOrganization(desired.organization);
    if (!organization) throw validationError([{ path: 'organization', message: `organization ${desired.organization} does not exist` }]);
    return organization;
  }

  /** Every resource of the organization, secrets decrypted for comparison only. */
  async read(organizationId: string): Promise<CurrentState> {
    const { models, keyRing } = this.deps;
    const order: [string, string][] = [
      ['created_at', 'ASC'],
      ['id', 'ASC'],
    ];
    const connectors = await models.Connector.findAll({ where: { organization_id: organizationId }, order });
    const agents = await models.Agent.findAll({ where: { organization_id: organizationId }, order });
    const instances = await models.ConnectorInstance.findAll({
      include: [
        { model: models.Agent, as: 'agent', required: true, where: { organization_id: organizationId } },
        { model: models.Connector, as: 'connector', required: true },
      ],
      order,
    });
    const webhooks = await models.Webhook.findAll({ where: { organization_id: organizationId }, order });
    return {
      connectors: connectors.map((row) => ({ row, config: this.deps.connectors.decrypt(row) })),
      agents,
      attachments: instances.map((row) => {
        const joined = row as ConnectorInstance & { agent: Agent; connector: Connector };
        return { row, agent: joined.agent.agent_id, connector: joined.connector.name };
      }),
      webhooks: webhooks.map((row) => ({
        row,
        secret: keyRing.open({ organization_id: row.organization_id, webhook_id: row.id }, row.secret_encrypted, row.key_id) as string,
      })),
    };
  }

  /** The diff, after checking what the file's attachments refer to; a bad reference names its place in the file. */
  private changes(desired: DesiredState, current: CurrentState, options: { prune: boolean }): Change[] {
    const errors: FieldError[] = [];
    const connectors = new Set(desired.connectors.map((c) => c.name));
    const agents = new Set(desired.agents.map((a) => a.id));
    // Without --prune, what the organization already has may be attached too.
    if (!options.prune) {
      for (const c of current.connectors) connectors.add(c.row.name);
      for (const a of current.agents) agents.add(a.agent_id);
    }
    const where = options.prune ? 'in the file' : 'in the file or the organization';
    for (const a of desired.attachments) {
      if (!connectors.has(a.connector)) errors.push({ path: `${a.at}.connector`, message: `no connector named ${a.connector} ${where}` });
      if (!agents.has(a.agent)) errors.push({ path: `${a.at}.agent`, message: `no agent ${a.agent} ${where}` });
    }
    const providers = new Map(current.connectors.map((c) => [c.row.name, c.row.provider]));
    for (const c of desired.connectors) {
      const provider = providers.get(c.name);
      if (provider && provider !== c.provider.id) {
        errors.push({ path: `${c.at}.provider`, message: `connector ${c.name} is a ${provider} connector: a provider cannot change (rename it, or delete the old one)` });
      }
    }
    if (errors.length) throw validationError(errors);
    return diff(desired, current, options);
  }

  private async execute(ctx: RequestContext & { role: Role | null }, change: Change, connectorIds: Map<string, string>): Promise<void> {
    const { connectors, agents, attachments, webhooks } = this.deps;
    const at = change.action === 'delete' ? undefined : change.desired.at;
    try {
      switch (change.type) {
        case 'connector': {
          if (change.action === 'create') {
            const { desired } = change;
            const created = await connectors.create(ctx, {
              name: desired.name,
              connector_type: desired.provider.type,
              provider: desired.provider.id,
              config: desired.config,
              description: desired.description,
              enabled: desired.enabled,
              health_check_interval_s: desired.health_check_interval_s,
            });
            connectorIds.set(desired.name, created.id);
          } else if (change.action === 'update') {
            await connectors.update(ctx, change.id, connectorUpdate(change.desired, change.fields));
          } else {
            await connectors.delete(ctx, change.id, true);
          }
          return;
        }
        case 'agent': {
          if (change.action === 'create') {
            const { id, name, description } = change.desired;
            await agents.create(ctx, { id, ...(name ? { name } : {}), ...(description ? { description } : {}) });
          } else if (change.action === 'update') {
            await agents.update(ctx, change.key, { name: change.desired.name, description: change.desired.description });
          } else {
            await agents.delete(ctx, change.key);
          }
          return;
        }
        case 'attachment': {
          if (change.action === 'create') {
            const { desired } = change;
            const instance = await attachments.attach(ctx, connectorIds.get(desired.connector) as string, {
              agent_id: desired.agent,
              alias: desired.alias,
              config_override: desired.config_override,
              mode: desired.mode,
              ...(Object.keys(desired.limits).length ? { limits: desired.limits } : {}),
            });
            if (desired.bound_params) await attachments.patch(ctx, instance.id, { bound_params: desired.bound_params });
          } else if (change.action === 'update') {
            const { desired, fields } = change;
            const input: PatchInstanceInput = {};
            if (fields.includes('mode')) input.mode = desired.mode;
            if (fields.includes('config_override')) input.config_override = desired.config_override;
            if (fields.includes('limits')) input.limits = desired.limits;
            if (fields.includes('bound_params')) input.bound_params = desired.bound_params;
            await attachments.patch(ctx, change.id, input);
          } else {
            await attachments.detach(ctx, change.id);
          }
          return;
        }
        case 'webhook': {
          if (change.action === 'create') {
            const { url, events, secret, enabled, description } = change.desired;
            await webhooks.create(ctx, { url, events: events as never, secret, enabled, description });
          } else if (change.action === 'update') {
            const { desired, fields } = change;
            const input: UpdateWebhookInput = {};
            if (fields.includes('events')) input.events = desired.events as never;
            if (fields.includes('enabled')) input.enabled = desired.enabled;
            if (fields.includes('description')) input.description = desired.description;
            if (fields.includes(`secret ${CHANGED}`)) input.secret = desired.secret;
            await webhooks.update(ctx, change.id, input);
          } else {
            await webhooks.delete(ctx, change.id);
          }
          return;
        }
      }
    } catch (error) {
      throw located(error, at, change);
    }
  }
}

/** Only what changed: the audit event's `fields` then says the same as the plan. */
function connectorUpdate(desired: DesiredState['connectors'][number], fields: string[]): UpdateConnectorInput {
  const input: UpdateConnectorInput = {};
  if (fields.includes('description')) input.description = desired.description;
  if (fields.includes('enabled')) input.enabled = desired.enabled;
  if (fields.includes('health_check_interval_s')) input.health_check_interval_s = desired.health_check_interval_s;
  if (fields.some((f) => f.startsWith('config.'))) {
    // The API merges key by key: the whole desired config, and null for each key the file no longer sets.
    const removed = fields
      .filter((f) => f.startsWith('config.'))
      .map((f) => f.slice('config.'.length).replace(` ${CHANGED}`, ''))
      .filter((key) => desired.config[key] === undefined);
    input.config = { ...desired.config, ...Object.fromEntries(removed.map((key) => [key, null])) };
  }
  return input;
}

/** A service's refusal, pointed at the resource in the file (`connectors[2].health_check_interval_s`). */
function located(error: unknown, at: string | undefined, change: Change): unknown {
  if (!(error instanceof PatchbayError)) return error;
  const what = `${change.type} ${change.key}`;
  const errors = error.errors?.length
    ? error.errors.map((e) => ({ path: at ? `${at}.${e.path}` : what, message: e.message }))
    : [{ path: at ?? what, message: error.message }];
  return new PatchbayError(error.code, `${what}: ${error.message}`, { errors, cause: error });
}
