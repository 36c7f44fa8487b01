import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { idColumn, managedByColumn, modelOptions, timestampColumns } from './columns.js';

export type ConnectorStatus = 'untested' | 'healthy' | 'failing' | 'disabled';
export type AttachmentMode = 'read' | 'read_write';
/** "file": created or last changed by `patchbay apply` (docs/provisioning.md); the API then refuses hand edits. */
export type ManagedBy = 'file' | null;


export class Agent extends Model<InferAttributes<Agent>, InferCreationAttributes<Agent>> {
  declare id: CreationOptional<string>;
  declare organization_id: string;
  /** The public id: the client's choice (e.g. agent-123) or a generated agt_… */
  declare agent_id: string;
  declare name: string | null;
  declare description: string | null;
  declare created_by: string | null;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare managed_by: CreationOptional<ManagedBy>;
}

export class AgentToken extends Model<InferAttributes<AgentToken>, InferCreationAttributes<AgentToken>> {
  declare id: CreationOptional<string>;
  /** Surrogate id of the agent (pb_agents.id). */
  declare agent_id: string;
  declare organization_id: string;
  declare name: string | null;
  declare prefix: string;
  declare token_hash: string;
  declare created_by: string | null;
  declare last_used_at: Date | null;
  declare expires_at: Date | null;
  declare revoked_at: Date | null;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class Connector extends Model<InferAttributes<Connector>, InferCreationAttributes<Connector>> {
  declare id: CreationOptional<string>;
  declare organization_id: string;
  declare name: string;
  declare connector_type: string;
  declare provider: string;
  /** One Fernet token: the whole config, bound to this organisation and connector. */
  declare config_encrypted: string;
  declare status: CreationOptional<ConnectorStatus>;
  declare last_tested_at: Date | null;
  declare last_test_result: 'success' | 'failure' | null;
  declare last_error: string | null;
  declare created_by: string | null;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare key_id: string;
  declare version: CreationOptional<number>;
  declare enabled: CreationOptional<boolean>;
  declare description: string | null;
  declare health_check_interval_s: CreationOptional<number>;
  /** When the scheduler checks it next; null while not scheduled (disabled, interval 0, or not yet spread). */
  declare next_check_at: CreationOptional<Date | null>;
  /** Results of the same kind in a row (one of the two is always 0): the flap guard of scheduled checks. */
  declare consecutive_successes: CreationOptional<number>;
  declare consecutive_failures: CreationOptional<number>;
  declare managed_by: CreationOptional<ManagedBy>;
}

export class ConnectorInstance extends Model<InferAttributes<ConnectorInstance>, InferCreationAttributes<ConnectorInstance>> {
  declare id: CreationOptional<string>;
  declare connector_id: string;
  /** Surrogate id of the agent (pb_agents.id); the API shows the agent's public id. */
  declare agent_id: string;
  declare alias: string;
  /** JSON text of the override; never holds a secret (secrets are not overridable). */
  declare config_override: string | null;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare mode: CreationOptional<AttachmentMode>;
  declare limits: Record<string, number> | null;
  declare bound_params: Record<string, unknown> | null;
  declare managed_by: CreationOptional<ManagedBy>;
}

export class ConnectorHealthCheck extends Model<InferAttributes<ConnectorHealthCheck>, InferCreationAttributes<ConnectorHealthCheck>> {
  declare id: CreationOptional<number>;
  declare connector_id: string;
  declare organization_id: string;
  declare checked_at: Date;
  declare success: boolean;
  declare latency_ms: number;
  declare error_code: string | null;
  declare message: string | null;
  declare source: 'manual' | 'scheduled';
}

export class AuditEvent extends Model<InferAttributes<AuditEvent>, InferCreationAttributes<AuditEvent>> {
  declare id: CreationOptional<string>;
  declare organization_id: string | null;
  declare actor_type: 'user' | 'agent' | 'system';
  declare actor_id: string | null;
  declare action: string;
  declare target_type: string | null;
  declare target_id: string | null;
  declare outcome: 'success' | 'failure' | 'denied';
  declare detail: Record<string, unknown> | null;
  declare request_id: string | null;
  declare created_at: CreationOptional<Date>;
}

export function initConnectorModels(sequelize: Sequelize) {
  const json = sequelize.getDialect() === 'postgres' ? DataTypes.JSONB : DataTypes.JSON;

  class AgentModel extends Agent {}
  AgentModel.init(
    {
      id: idColumn,
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      agent_id: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: true },
      description: { type: DataTypes.TEXT, allowNull: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      ...timestampColumns,
      managed_by: managedByColumn,
    },
    { sequelize, tableName: 'pb_agents', modelName: 'Agent', ...modelOptions },
  );

  class AgentTokenModel extends AgentToken {}
  AgentTokenModel.init(
    {
      id: idColumn,
      agent_id: { type: DataTypes.STRING(64), allowNull: false },
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: true },
      prefix: { type: DataTypes.STRING(32), allowNull: false },
      token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      last_used_at: { type: DataTypes.DATE, allowNull: true },
      expires_at: { type: DataTypes.DATE, allowNull: true },
      revoked_at: { type: DataTypes.DATE, allowNull: true },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_agent_tokens', modelName: 'AgentToken', ...modelOptions },
  );

  class ConnectorModel extends Connector {}
  ConnectorModel.init(
    {
      id: idColumn,
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: false },
      connector_type: { type: DataTypes.STRING(32), allowNull: false },
      provider: { type: DataTypes.STRING(32), allowNull: false },
      config_encrypted: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'untested' },
      last_tested_at: { type: DataTypes.DATE, allowNull: true },
      last_test_result: { type: DataTypes.STRING(16), allowNull: true },
      last_error: { type: DataTypes.TEXT, allowNull: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      ...timestampColumns,
      key_id: { type: DataTypes.STRING(8), allowNull: false },
      version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
      description: { type: DataTypes.TEXT, allowNull: true },
      health_check_interval_s: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 300 },
      next_check_at: { type: DataTypes.DATE, allowNull: true, defaultValue: null },
      consecutive_successes: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      consecutive_failures: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      managed_by: managedByColumn,
    },
    // Sequelize's optimistic locking: every save checks and bumps `version`, a stale one throws.
    { sequelize, tableName: 'pb_connectors', modelName: 'Connector', version: 'version', ...modelOptions },
  );

  class ConnectorInstanceModel extends ConnectorInstance {}
  ConnectorInstanceModel.init(
    {
      id: idColumn,
      connector_id: { type: DataTypes.STRING(64), allowNull: false },
      agent_id: { type: DataTypes.STRING(64), allowNull: false },
      alias: { type: DataTypes.STRING(40), allowNull: false },
      config_override: { type: DataTypes.TEXT, allowNull: true },
      ...timestampColumns,
      mode: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'read' },
      limits: { type: json, allowNull: true },
      bound_params: { type: json, allowNull: true },
      managed_by: managedByColumn,
    },
    { sequelize, tableName: 'pb_connector_instances', modelName: 'ConnectorInstance', ...modelOptions },
  );

  class ConnectorHealthCheckModel extends ConnectorHealthCheck {}
  ConnectorHealthCheckModel.init(
    {
      id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
      connector_id: { type: DataTypes.STRING(64), allowNull: false },
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      checked_at: { type: DataTypes.DATE, allowNull: false },
      success: { type: DataTypes.BOOLEAN, allowNull: false },
      latency_ms: { type: DataTypes.INTEGER, allowNull: false },
      error_code: { type: DataTypes.STRING(32), allowNull: true },
      message: { type: DataTypes.TEXT, allowNull: true },
      source: { type: DataTypes.STRING(16), allowNull: false },
    },
    { sequelize, tableName: 'pb_connector_health_checks', modelName: 'ConnectorHealthCheck', timestamps: false, underscored: true },
  );

  class AuditEventModel extends AuditEvent {}
  AuditEventModel.init(
    {
      id: idColumn,
      organization_id: { type: DataTypes.STRING(64), allowNull: true },
      actor_type: { type: DataTypes.STRING(16), allowNull: false },
      actor_id: { type: DataTypes.STRING(64), allowNull: true },
      action: { type: DataTypes.STRING(64), allowNull: false },
      target_type: { type: DataTypes.STRING(32), allowNull: true },
      target_id: { type: DataTypes.STRING(128), allowNull: true },
      outcome: { type: DataTypes.STRING(16), allowNull: false },
      detail: { type: json, allowNull: true },
      request_id: { type: DataTypes.STRING(64), allowNull: true },
      created_at: { type: DataTypes.DATE, allowNull: false },
    },
    { sequelize, tableName: 'pb_audit_events', modelName: 'AuditEvent', timestamps: true, createdAt: 'created_at', updatedAt: false, underscored: true },
  );

  ConnectorInstanceModel.belongsTo(ConnectorModel, { foreignKey: 'connector_id', as: 'connector' });
  ConnectorInstanceModel.belongsTo(AgentModel, { foreignKey: 'agent_id', as: 'agent' });
  ConnectorModel.hasMany(ConnectorInstanceModel, { foreignKey: 'connector_id', as: 'instances' });
  AgentModel.hasMany(ConnectorInstanceModel, { foreignKey: 'agent_id', as: 'instances' });
  AgentTokenModel.belongsTo(AgentModel, { foreignKey: 'agent_id', as: 'agent' });

  return {
    Agent: AgentModel as typeof Agent,
    AgentToken: AgentTokenModel as typeof AgentToken,
    Connector: ConnectorModel as typeof Connector,
    ConnectorInstance: ConnectorInstanceModel as typeof ConnectorInstance,
    ConnectorHealthCheck: ConnectorHealthCheckModel as typeof ConnectorHealthCheck,
    AuditEvent: AuditEventModel as typeof AuditEvent,
  };
}
