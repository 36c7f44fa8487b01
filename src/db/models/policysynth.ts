import {
  DataTypes,
  Model,
  type BelongsToManyAddAssociationMixin,
  type BelongsToManyGetAssociationsMixin,
  type BelongsToManyHasAssociationMixin,
  type BelongsToManyRemoveAssociationMixin,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type NonAttribute,
  type Sequelize,
} from 'sequelize';
import { isPostgres } from '../sequelize.js';
import { modelOptions } from './columns.js';

/*
 * The PolicySynth agent-registry models, written to match @policysynth/agents@1.3.172 (dbModels/agentRegistry.js,
 * agentClass.js, agentConnectorClass.js, agentRegistryAgent.js, agentRegistryConnector.js) so that both sides read
 * and write the same rows: same tables, snake_case columns, indexes and many-to-many aliases. PolicySynth's User
 * associations are left out: Patchbay has no `users` table, and user_id is a plain integer here.
 */

/** PolicySynth types the registry configuration as `{ supportedAgents: PsAgentClass[] }`; kept open here. */
export type PolicySynthConfiguration = Record<string, unknown>;

export class PsAgentRegistry extends Model<InferAttributes<PsAgentRegistry>, InferCreationAttributes<PsAgentRegistry>> {
  declare id: CreationOptional<number>;
  declare uuid: CreationOptional<string>;
  declare user_id: number;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare configuration: PolicySynthConfiguration;

  declare Agents?: NonAttribute<PsAgentClass[]>;
  declare Connectors?: NonAttribute<PsAgentConnectorClass[]>;

  declare getAgents: BelongsToManyGetAssociationsMixin<PsAgentClass>;
  declare addAgent: BelongsToManyAddAssociationMixin<PsAgentClass, number>;
  declare removeAgent: BelongsToManyRemoveAssociationMixin<PsAgentClass, number>;
  declare hasAgent: BelongsToManyHasAssociationMixin<PsAgentClass, number>;
  declare getConnectors: BelongsToManyGetAssociationsMixin<PsAgentConnectorClass>;
  declare addConnector: BelongsToManyAddAssociationMixin<PsAgentConnectorClass, number>;
  declare removeConnector: BelongsToManyRemoveAssociationMixin<PsAgentConnectorClass, number>;
  declare hasConnector: BelongsToManyHasAssociationMixin<PsAgentConnectorClass, number>;
}

export class PsAgentClass extends Model<InferAttributes<PsAgentClass>, InferCreationAttributes<PsAgentClass>> {
  declare id: CreationOptional<number>;
  declare uuid: CreationOptional<string>;
  /** Shared by every version of one class. */
  declare class_base_id: CreationOptional<string>;
  declare user_id: number;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare name: string;
  declare version: number;
  declare configuration: PolicySynthConfiguration;
  declare available: boolean;

  declare Registry?: NonAttribute<PsAgentRegistry[]>;
  declare getRegistry: BelongsToManyGetAssociationsMixin<PsAgentRegistry>;
}

export class PsAgentConnectorClass extends Model<
  InferAttributes<PsAgentConnectorClass>,
  InferCreationAttributes<PsAgentConnectorClass>
> {
  declare id: CreationOptional<number>;
  declare uuid: CreationOptional<string>;
  /** Shared by every version of one class; fixed per provider for the classes Patchbay mirrors. */
  declare class_base_id: CreationOptional<string>;
  declare user_id: number;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare name: string;
  declare version: number;
  declare configuration: PolicySynthConfiguration;
  declare available: boolean;

  declare Registry?: NonAttribute<PsAgentRegistry[]>;
  declare getRegistry: BelongsToManyGetAssociationsMixin<PsAgentRegistry>;
}

export class AgentRegistryAgents extends Model<
  InferAttributes<AgentRegistryAgents>,
  InferCreationAttributes<AgentRegistryAgents>
> {
  declare id: CreationOptional<number>;
  declare ps_agent_registry_id: number;
  declare ps_agent_class_id: number;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class AgentRegistryConnectors extends Model<
  InferAttributes<AgentRegistryConnectors>,
  InferCreationAttributes<AgentRegistryConnectors>
> {
  declare id: CreationOptional<number>;
  declare ps_agent_registry_id: number;
  declare ps_agent_connector_class_id: number;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

// Factories, not shared objects: Sequelize writes into each attribute definition (its field name among others).
const id = () => ({ type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true });
const randomUuid = () => ({ type: DataTypes.UUID, defaultValue: DataTypes.UUIDV4, allowNull: false });
const timestamps = () => ({
  created_at: { type: DataTypes.DATE, allowNull: false, defaultValue: DataTypes.NOW },
  updated_at: { type: DataTypes.DATE, allowNull: false, defaultValue: DataTypes.NOW },
});

const joinColumn = (table: string) => ({
  type: DataTypes.INTEGER,
  allowNull: false,
  references: { model: table, key: 'id' },
  onDelete: 'CASCADE',
});

/**
 * Binds fresh subclasses of the five registry models to the given Sequelize instance (see initAccountModels).
 * `configuration` is JSONB on PostgreSQL, as PolicySynth declares it, and JSON on SQLite, which has no JSONB.
 */
export function initPolicySynthModels(sequelize: Sequelize) {
  const json = isPostgres(sequelize) ? DataTypes.JSONB : DataTypes.JSON;
  const classAttributes = () => ({
    id: id(),
    uuid: randomUuid(),
    class_base_id: randomUuid(),
    user_id: { type: DataTypes.INTEGER, allowNull: false },
    ...timestamps(),
    name: { type: DataTypes.STRING, allowNull: false },
    version: { type: DataTypes.INTEGER, allowNull: false },
    configuration: { type: json, allowNull: false },
    available: { type: DataTypes.BOOLEAN, allowNull: false },
  });

  class PsAgentRegistryModel extends PsAgentRegistry {}
  PsAgentRegistryModel.init(
    {
      id: id(),
      uuid: randomUuid(),
      user_id: { type: DataTypes.INTEGER, allowNull: false },
      ...timestamps(),
      configuration: { type: json, allowNull: false },
    },
    {
      sequelize,
      tableName: 'ps_agent_registries',
      modelName: 'PsAgentRegistry',
      indexes: [{ fields: ['uuid'], unique: true }, { fields: ['user_id'] }],
      ...modelOptions,
    },
  );

  class PsAgentClassModel extends PsAgentClass {}
  PsAgentClassModel.init(classAttributes(), {
    sequelize,
    tableName: 'ps_agent_classes',
    modelName: 'PsAgentClass',
    indexes: [
      { fields: ['uuid'], unique: true },
      { fields: ['class_base_id'] },
      { fields: ['class_base_id', 'version'] },
      { fields: ['user_id'] },
    ],
    ...modelOptions,
  });

  class PsAgentConnectorClassModel extends PsAgentConnectorClass {}
  PsAgentConnectorClassModel.init(
    // PolicySynth marks this uuid unique twice (column and index); both exist in its tables.
    { ...classAttributes(), uuid: { ...randomUuid(), unique: true } },
    {
      sequelize,
      tableName: 'ps_agent_connector_classes',
      modelName: 'PsAgentConnectorClass',
      indexes: [
        { fields: ['uuid'], unique: true },
        { fields: ['class_base_id'] },
        { fields: ['class_base_id', 'version'] },
        { fields: ['user_id'] },
        { fields: ['name'] },
        { fields: ['version'] },
      ],
      ...modelOptions,
    },
  );

  class AgentRegistryAgentsModel extends AgentRegistryAgents {}
  AgentRegistryAgentsModel.init(
    {
      id: id(),
      ps_agent_registry_id: joinColumn('ps_agent_registries'),
      ps_agent_class_id: joinColumn('ps_agent_classes'),
      ...timestamps(),
    },
    {
      sequelize,
      tableName: 'AgentRegistryAgents',
      modelName: 'AgentRegistryAgents',
      indexes: [{ fields: ['ps_agent_registry_id'] }, { fields: ['ps_agent_class_id'] }],
      ...modelOptions,
    },
  );

  class AgentRegistryConnectorsModel extends AgentRegistryConnectors {}
  AgentRegistryConnectorsModel.init(
    {
      id: id(),
      ps_agent_registry_id: joinColumn('ps_agent_registries'),
      ps_agent_connector_class_id: joinColumn('ps_agent_connector_classes'),
      ...timestamps(),
    },
    {
      sequelize,
      tableName: 'AgentRegistryConnectors',
      modelName: 'AgentRegistryConnectors',
      indexes: [{ fields: ['ps_agent_registry_id'] }, { fields: ['ps_agent_connector_class_id'] }],
      ...modelOptions,
    },
  );

  // The join models keep their own created_at/updated_at, so the associations add no timestamps of their own.
  PsAgentRegistryModel.belongsToMany(PsAgentClassModel, {
    through: AgentRegistryAgentsModel,
    as: 'Agents',
    foreignKey: 'ps_agent_registry_id',
    otherKey: 'ps_agent_class_id',
    timestamps: false,
  });
  PsAgentRegistryModel.belongsToMany(PsAgentConnectorClassModel, {
    through: AgentRegistryConnectorsModel,
    as: 'Connectors',
    foreignKey: 'ps_agent_registry_id',
    otherKey: 'ps_agent_connector_class_id',
    timestamps: false,
  });
  PsAgentClassModel.belongsToMany(PsAgentRegistryModel, {
    through: AgentRegistryAgentsModel,
    as: 'Registry',
    foreignKey: 'ps_agent_class_id',
    otherKey: 'ps_agent_registry_id',
    timestamps: false,
  });
  PsAgentConnectorClassModel.belongsToMany(PsAgentRegistryModel, {
    through: AgentRegistryConnectorsModel,
    as: 'Registry',
    foreignKey: 'ps_agent_connector_class_id',
    otherKey: 'ps_agent_registry_id',
    timestamps: false,
  });

  return {
    PsAgentRegistry: PsAgentRegistryModel as typeof PsAgentRegistry,
    PsAgentClass: PsAgentClassModel as typeof PsAgentClass,
    PsAgentConnectorClass: PsAgentConnectorClassModel as typeof PsAgentConnectorClass,
    AgentRegistryAgents: AgentRegistryAgentsModel as typeof AgentRegistryAgents,
    AgentRegistryConnectors: AgentRegistryConnectorsModel as typeof AgentRegistryConnectors,
  };
}
