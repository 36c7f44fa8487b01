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
  type ModelStatic,
  type NonAttribute,
  type Sequelize,
} from 'sequelize';
import { define, jsonColumnType, modelOptions } from './columns.js';

/*
 * The PolicySynth agent-registry models, written to match @policysynth/agents@1.3.172 (dbModels/agentRegistry.js,
 * agentClass.js, agentConnectorClass.js, agentRegistryAgent.js, agentRegistryConnector.js) so that both sides read
 * and write the same rows: same tables, snake_case columns, indexes and many-to-many aliases. PolicySynth's User
 * associations are left out: Patchbay has no `users` table, and user_id is a plain integer here.
 */

/** PolicySynth types the registry configuration as `{ supportedAgents: PsAgentClass[] }`; kept open here. */
export type PolicySynthConfiguration = Record<string, unknown>;

/** What every PolicySynth registry row holds except the join rows. */
export abstract class PsRow<M extends Model> extends Model<InferAttributes<M>, InferCreationAttributes<M>> {
  declare id: CreationOptional<number>;
  declare uuid: CreationOptional<string>;
  declare user_id: number;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare configuration: PolicySynthConfiguration;
}

export class PsAgentRegistry extends PsRow<PsAgentRegistry> {
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

/** What PolicySynth's agent classes and connector classes both hold: one version of one class. */
export abstract class PsVersionedClass<M extends Model> extends PsRow<M> {
  /** Shared by every version of one class; fixed per provider for the connector classes Patchbay mirrors. */
  declare class_base_id: CreationOptional<string>;
  declare name: string;
  declare version: number;
  declare available: boolean;

  declare Registry?: NonAttribute<PsAgentRegistry[]>;
  declare getRegistry: BelongsToManyGetAssociationsMixin<PsAgentRegistry>;
}

export class PsAgentClass extends PsVersionedClass<PsAgentClass> {}

export class PsAgentConnectorClass extends PsVersionedClass<PsAgentConnectorClass> {}

/** A row of a join table between a registry and a class. */
export abstract class PsJoinRow<M extends Model> extends Model<InferAttributes<M>, InferCreationAttributes<M>> {
  declare id: CreationOptional<number>;
  declare ps_agent_registry_id: number;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class AgentRegistryAgents extends PsJoinRow<AgentRegistryAgents> {
  declare ps_agent_class_id: number;
}

export class AgentRegistryConnectors extends PsJoinRow<AgentRegistryConnectors> {
  declare ps_agent_connector_class_id: number;
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

const userId = () => ({ type: DataTypes.INTEGER, allowNull: false });

/** The indexes PolicySynth gives both class tables. */
const classIndexes = () => [
  { fields: ['uuid'], unique: true },
  { fields: ['class_base_id'] },
  { fields: ['class_base_id', 'version'] },
  { fields: ['user_id'] },
];

/**
 * Binds fresh subclasses of the five registry models to the given Sequelize instance (see define()).
 * `configuration` is JSONB on PostgreSQL, as PolicySynth declares it, and JSON on SQLite, which has no JSONB.
 */
export function initPolicySynthModels(sequelize: Sequelize) {
  const json = jsonColumnType(sequelize);
  const classAttributes = () => ({
    id: id(),
    uuid: randomUuid(),
    class_base_id: randomUuid(),
    user_id: userId(),
    ...timestamps(),
    name: { type: DataTypes.STRING, allowNull: false },
    version: { type: DataTypes.INTEGER, allowNull: false },
    configuration: { type: json, allowNull: false },
    available: { type: DataTypes.BOOLEAN, allowNull: false },
  });
  /** A join table: its own id and timestamps, and a cascading reference to each side. */
  const joinModel = <M extends ModelStatic<Model>>(model: M, classColumn: string, classTable: string) =>
    define(
      sequelize,
      model,
      model.name,
      { id: id(), ps_agent_registry_id: joinColumn('ps_agent_registries'), [classColumn]: joinColumn(classTable), ...timestamps() },
      { ...modelOptions, indexes: [{ fields: ['ps_agent_registry_id'] }, { fields: [classColumn] }] },
    );

  const PsAgentRegistryModel = define(
    sequelize,
    PsAgentRegistry,
    'ps_agent_registries',
    { id: id(), uuid: randomUuid(), user_id: userId(), ...timestamps(), configuration: { type: json, allowNull: false } },
    { ...modelOptions, indexes: [{ fields: ['uuid'], unique: true }, { fields: ['user_id'] }] },
  );
  const PsAgentClassModel = define(sequelize, PsAgentClass, 'ps_agent_classes', classAttributes(), {
    ...modelOptions,
    indexes: classIndexes(),
  });
  const PsAgentConnectorClassModel = define(
    sequelize,
    PsAgentConnectorClass,
    'ps_agent_connector_classes',
    // PolicySynth marks this uuid unique twice (column and index); both exist in its tables.
    { ...classAttributes(), uuid: { ...randomUuid(), unique: true } },
    { ...modelOptions, indexes: [...classIndexes(), { fields: ['name'] }, { fields: ['version'] }] },
  );
  const AgentRegistryAgentsModel = joinModel(AgentRegistryAgents, 'ps_agent_class_id', 'ps_agent_classes');
  const AgentRegistryConnectorsModel = joinModel(AgentRegistryConnectors, 'ps_agent_connector_class_id', 'ps_agent_connector_classes');

  // Both directions of each many-to-many pair. The join models keep their own created_at/updated_at, so the
  // associations add no timestamps of their own.
  const link = (through: ModelStatic<Model>, classModel: ModelStatic<Model>, classColumn: string, as: string) => {
    const registryColumn = 'ps_agent_registry_id';
    PsAgentRegistryModel.belongsToMany(classModel, { through, as, foreignKey: registryColumn, otherKey: classColumn, timestamps: false });
    classModel.belongsToMany(PsAgentRegistryModel, { through, as: 'Registry', foreignKey: classColumn, otherKey: registryColumn, timestamps: false });
  };
  link(AgentRegistryAgentsModel, PsAgentClassModel, 'ps_agent_class_id', 'Agents');
  link(AgentRegistryConnectorsModel, PsAgentConnectorClassModel, 'ps_agent_connector_class_id', 'Connectors');

  return {
    PsAgentRegistry: PsAgentRegistryModel,
    PsAgentClass: PsAgentClassModel,
    PsAgentConnectorClass: PsAgentConnectorClassModel,
    AgentRegistryAgents: AgentRegistryAgentsModel,
    AgentRegistryConnectors: AgentRegistryConnectorsModel,
  };
}
