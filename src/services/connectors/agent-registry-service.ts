import { createHash } from 'node:crypto';
import { UniqueConstraintError, type Sequelize } from 'sequelize';
import type {
  Models,
  PolicySynthConfiguration,
  PsAgentClass,
  PsAgentConnectorClass,
  PsAgentRegistry,
} from '../../db/models/index.js';
import { PatchbayError } from '../../errors.js';
import { AuditService } from '../audit-service.js';
import { auditEvent, type ActorContext } from '../context.js';

/** The installation-wide registry: one row, the same uuid in every Patchbay installation. */
export const REGISTRY_UUID = '0e3e7223-e398-4908-a93b-6adcc28296ed';

/** Namespace of the name-based (v5) uuids of the connector classes mirrored from the provider catalogue. */
const PROVIDER_CLASS_NAMESPACE = '61c93e6c-c162-40d2-8c49-1b6c3098f83b';

/** RFC 9562 UUID version 5: SHA-1 of namespace and name, so the same name always yields the same uuid. */
function nameBasedUuid(namespace: string, name: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  hash.writeUInt8((hash.readUInt8(6) & 0x0f) | 0x50, 6);
  hash.writeUInt8((hash.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The fixed class_base_id of a provider's connector class, e.g. providerClassBaseId('postgresql'). */
export const providerClassBaseId = (providerId: string): string => nameBasedUuid(PROVIDER_CLASS_NAMESPACE, providerId);

/**
 * The uuid of that class's version-1 row is fixed too, so two processes mirroring at once cannot both insert it:
 * the unique index on uuid refuses the second.
 */
const providerClassUuid = (providerId: string): string => nameBasedUuid(PROVIDER_CLASS_NAMESPACE, `${providerId}/1`);

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CatalogueProvider {
  id: string;
  type: string;
  description: string;
  fields: unknown[];
}

export interface RegistryClass {
  uuid: string;
  class_base_id: string;
  name: string;
  version: number;
  available: boolean;
  configuration: PolicySynthConfiguration;
}

export interface RegistryView {
  uuid: string;
  configuration: PolicySynthConfiguration;
  agent_classes: RegistryClass[];
  connector_classes: RegistryClass[];
}

export interface NewAgentClass {
  name: string;
  version: number;
  configuration: PolicySynthConfiguration;
  available: boolean;
}

export interface AgentRegistryServiceOptions {
  models: Models;
  sequelize: Sequelize;
  /** Written as user_id into every PolicySynth row Patchbay makes (PATCHBAY_POLICYSYNTH_USER_ID). */
  policysynthUserId: number;
  /** @default direct INSERTs (a service used alone) */
  audit?: AuditService;
}

const classView = (row: PsAgentClass | PsAgentConnectorClass): RegistryClass => ({
  uuid: row.uuid,
  class_base_id: row.class_base_id,
  name: row.name,
  version: row.version,
  available: row.available,
  configuration: row.configuration,
});

/** A concurrent writer made the same unique row first: what we meant to write exists, so carry on. */
async function ignoringDuplicate(write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    if (!(error instanceof UniqueConstraintError)) throw error;
  }
}

/**
 * The installation-wide PolicySynth registry: its agent and connector classes, the connector classes mirrored
 * from Patchbay's provider catalogue, and additions and removals through the PolicySynth models' own mixins.
 */
export class AgentRegistryService {
  private readonly models: Models;
  private readonly policysynthUserId: number;
  private readonly audit: AuditService;
  /** class_base_ids this process mirrored: the catalogue owns those classes. */
  private readonly catalogueClassIds = new Set<string>();

  constructor({ models, policysynthUserId, audit }: AgentRegistryServiceOptions) {
    this.models = models;
    this.policysynthUserId = policysynthUserId;
    this.audit = audit ?? new AuditService(models);
  }

  /** Finds or creates the registry row; safe when several processes start together. */
  async ensureRegistry(): Promise<PsAgentRegistry> {
    const { PsAgentRegistry } = this.models;
    const existing = await PsAgentRegistry.findOne({ where: { uuid: REGISTRY_UUID } });
    if (existing) return existing;
    try {
      return await PsAgentRegistry.create({
        uuid: REGISTRY_UUID,
        user_id: this.policysynthUserId,
        configuration: { supportedAgents: [] },
      });
    } catch (error) {
      if (!(error instanceof UniqueConstraintError)) throw error;
      const winner = await PsAgentRegistry.findOne({ where: { uuid: REGISTRY_UUID } });
      if (!winner) throw error;
      return winner;
    }
  }

  /**
   * Mirrors each provider as one connector class with a fixed class_base_id and adds it to the registry.
   * Idempotent: an existing row is updated in place (and only written when something changed). Connector classes
   * with other class_base_ids, PolicySynth's own, are not touched.
   */
  async mirrorProviders(providers: readonly CatalogueProvider[]): Promise<RegistryClass[]> {
    const registry = await this.ensureRegistry();
    const mirrored: RegistryClass[] = [];
    for (const provider of providers) {
      const row = await this.upsertProviderClass(provider);
      this.catalogueClassIds.add(row.class_base_id);
      await ignoringDuplicate(() => registry.addConnector(row));
      mirrored.push(classView(row));
    }
    return mirrored;
  }

  async getRegistry(): Promise<RegistryView> {
    const registry = await this.ensureRegistry();
    const order: [string, string][] = [['id', 'ASC']];
    const agents = await registry.getAgents({ order, joinTableAttributes: [] });
    const connectors = await registry.getConnectors({ order, joinTableAttributes: [] });
    return {
      uuid: registry.uuid,
      configuration: registry.configuration,
      agent_classes: agents.map(classView),
      connector_classes: connectors.map(classView),
    };
  }

  /** Every agent class in the database, in the registry or not. */
  async listAgentClasses(): Promise<RegistryClass[]> {
    const rows = await this.models.PsAgentClass.findAll({ order: [['id', 'ASC']] });
    return rows.map(classView);
  }

  async createAgentClass(ctx: ActorContext, input: NewAgentClass): Promise<RegistryClass> {
    const row = await this.models.PsAgentClass.create({
      name: input.name,
      version: input.version,
      configuration: input.configuration,
      available: input.available,
      user_id: this.policysynthUserId,
    });
    await this.audit.record(auditEvent(ctx, { action: 'agent_class.create', target_type: 'agent_class', target_id: row.uuid }));
    return classView(row);
  }

  async addAgentClass(ctx: ActorContext, uuid: string): Promise<RegistryClass> {
    const row = await this.findClass(this.models.PsAgentClass, uuid, 'agent class');
    const registry = await this.ensureRegistry();
    await ignoringDuplicate(() => registry.addAgent(row));
    await this.audit.record(auditEvent(ctx, { action: 'registry.agent_class.add', target_type: 'agent_class', target_id: row.uuid }));
    return classView(row);
  }

  async removeAgentClass(ctx: ActorContext, uuid: string): Promise<void> {
    const row = await this.findClass(this.models.PsAgentClass, uuid, 'agent class');
    const registry = await this.ensureRegistry();
    await registry.removeAgent(row);
    await this.audit.record(auditEvent(ctx, { action: 'registry.agent_class.remove', target_type: 'agent_class', target_id: uuid }));
  }

  async addConnectorClass(ctx: ActorContext, uuid: string): Promise<RegistryClass> {
    const row = await this.findClass(this.models.PsAgentConnectorClass, uuid, 'connector class');
    const registry = await this.ensureRegistry();
    await ignoringDuplicate(() => registry.addConnector(row));
    await this.audit.record(auditEvent(ctx, { action: 'registry.connector_class.add', target_type: 'connector_class', target_id: row.uuid }));
    return classView(row);
  }

  async removeConnectorClass(ctx: ActorContext, uuid: string): Promise<void> {
    const row = await this.findClass(this.models.PsAgentConnectorClass, uuid, 'connector class');
    if (this.catalogueClassIds.has(row.class_base_id) || row.configuration.managed_by === 'patchbay') {
      throw new PatchbayError('conflict', 'the provider catalogue owns this connector class');
    }
    const registry = await this.ensureRegistry();
    await registry.removeConnector(row);
    await this.audit.record(auditEvent(ctx, { action: 'registry.connector_class.remove', target_type: 'connector_class', target_id: uuid }));
  }

  private async upsertProviderClass(provider: CatalogueProvider): Promise<PsAgentConnectorClass> {
    const { PsAgentConnectorClass } = this.models;
    const class_base_id = providerClassBaseId(provider.id);
    const values = {
      name: provider.id,
      version: 1,
      available: true,
      user_id: this.policysynthUserId,
      configuration: {
        description: provider.description,
        type: provider.type,
        provider: provider.id,
        fields: provider.fields,
        managed_by: 'patchbay',
      },
    };
    const find = () => PsAgentConnectorClass.findOne({ where: { class_base_id }, order: [['id', 'ASC']] });
    let row = await find();
    if (!row) {
      try {
        return await PsAgentConnectorClass.create({ ...values, class_base_id, uuid: providerClassUuid(provider.id) });
      } catch (error) {
        row = error instanceof UniqueConstraintError ? await find() : null;
        if (!row) throw error;
      }
    }
    row.set(values);
    return row.changed() ? row.save() : row;
  }

  /** Unknown and malformed uuids alike are not_found (PostgreSQL would reject a malformed one as a query error). */
  private async findClass<T extends PsAgentClass | PsAgentConnectorClass>(
    model: { findOne(options: { where: { uuid: string } }): Promise<T | null> },
    uuid: string,
    what: string,
  ): Promise<T> {
    const row = UUID_PATTERN.test(uuid) ? await model.findOne({ where: { uuid } }) : null;
    if (!row) throw new PatchbayError('not_found', `no ${what} with uuid ${uuid}`);
    return row;
  }
}
