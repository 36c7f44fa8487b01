import { DataTypes, Model, type CreationOptional, type InferAttributes, type InferCreationAttributes, type Sequelize } from 'sequelize';
import {
  credentialColumns,
  define,
  managedBy,
  jsonColumnType,
  lockedModelOptions,
  optional,
  OwnedRow,
  ownedRowColumns,
  required,
  Row,
  rowColumns,
  rowId,
  SealedRow,
  sealedColumns,
  type ManagedBy,
} from './columns.js';

export type { ManagedBy } from './columns.js';
export type ConnectorStatus = 'untested' | 'healthy' | 'failing' | 'disabled';
export type AttachmentMode = 'read' | 'read_write';

export class Agent extends OwnedRow<Agent> {
  /** The public id: the client's choice (e.g. agent-123) or a generated agt_… */
  declare agent_id: string;
  declare name: string | null;
  declare description: string | null;
}

export class AgentToken extends Row<AgentToken> {
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
}

/** `config_encrypted` holds one Fernet token: the whole config, bound to this organisation and connector. */
export class Connector extends SealedRow<Connector> {
  declare name: string;
  declare connector_type: string;
  declare provider: string;
  declare config_encrypted: string;
  declare status: CreationOptional<ConnectorStatus>;
  declare last_tested_at: Date | null;
  declare last_test_result: 'success' | 'failure' | null;
  declare last_error: string | null;
  declare health_check_interval_s: CreationOptional<number>;
  /** When the scheduler checks it next; null while not scheduled (disabled, interval 0, or not yet spread). */
  declare next_check_at: CreationOptional<Date | null>;
  /** Results of the same kind in a row (one of the two is always 0): the flap guard of scheduled checks. */
  declare consecutive_successes: CreationOptional<number>;
}

export class ConnectorInstance extends Row<ConnectorInstance> {
  declare connector_id: string;
  /** Surrogate id of the agent (pb_agents.id); the API shows the agent's public id. */
  declare agent_id: string;
  declare alias: string;
  /** JSON text of the override; never holds a secret (secrets are not overridable). */
  declare config_override: string | null;
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
  const json = jsonColumnType(sequelize);

  const AgentModel = define(sequelize, Agent, 'pb_agents', {
    ...ownedRowColumns(),
    agent_id: rowId(),
    name: optional(DataTypes.STRING(200)),
    description: optional(DataTypes.TEXT),
  });

  const AgentTokenModel = define(sequelize, AgentToken, 'pb_agent_tokens', {
    ...rowColumns(),
    agent_id: rowId(),
    organization_id: rowId(),
    created_by: optional(DataTypes.STRING(64)),
    ...credentialColumns('token_hash'),
  });

  const ConnectorModel = define(
    sequelize,
    Connector,
    'pb_connectors',
    {
      ...ownedRowColumns(),
      ...sealedColumns(),
      name: required(DataTypes.STRING(200)),
      connector_type: required(DataTypes.STRING(32)),
      provider: required(DataTypes.STRING(32)),
      config_encrypted: required(DataTypes.TEXT),
      status: required(DataTypes.STRING(16), { defaultValue: 'untested' }),
      last_tested_at: optional(DataTypes.DATE),
      last_test_result: optional(DataTypes.STRING(16)),
      last_error: optional(DataTypes.TEXT),
      health_check_interval_s: required(DataTypes.INTEGER, { defaultValue: 300 }),
      next_check_at: optional(DataTypes.DATE, { defaultValue: null }),
      consecutive_successes: required(DataTypes.INTEGER, { defaultValue: 0 }),
    },
    lockedModelOptions,
  );

  const ConnectorInstanceModel = define(sequelize, ConnectorInstance, 'pb_connector_instances', {
    ...rowColumns(),
    connector_id: rowId(),
    agent_id: rowId(),
    alias: required(DataTypes.STRING(40)),
    config_override: optional(DataTypes.TEXT),
    mode: required(DataTypes.STRING(16), { defaultValue: 'read' }),
    limits: optional(json),
    bound_params: optional(json),
    managed_by: managedBy(),
  });

  const ConnectorHealthCheckModel = define(
    sequelize,
    ConnectorHealthCheck,
    'pb_connector_health_checks',
    {
      id: { type: DataTypes.BIGINT, primaryKey: true, autoIncrement: true },
      connector_id: rowId(),
      organization_id: rowId(),
      checked_at: required(DataTypes.DATE),
      success: required(DataTypes.BOOLEAN),
      latency_ms: required(DataTypes.INTEGER),
      error_code: optional(DataTypes.STRING(32)),
      message: optional(DataTypes.TEXT),
      source: required(DataTypes.STRING(16)),
    },
    { timestamps: false, underscored: true },
  );

  const AuditEventModel = define(
    sequelize,
    AuditEvent,
    'pb_audit_events',
    {
      id: rowColumns().id,
      organization_id: optional(DataTypes.STRING(64)),
      actor_type: required(DataTypes.STRING(16)),
      actor_id: optional(DataTypes.STRING(64)),
      action: required(DataTypes.STRING(64)),
      target_type: optional(DataTypes.STRING(32)),
      target_id: optional(DataTypes.STRING(128)),
      outcome: required(DataTypes.STRING(16)),
      detail: optional(json),
      request_id: optional(DataTypes.STRING(64)),
      created_at: required(DataTypes.DATE),
    },
    { timestamps: true, createdAt: 'created_at', updatedAt: false, underscored: true },
  );

  ConnectorInstanceModel.belongsTo(ConnectorModel, { foreignKey: 'connector_id', as: 'connector' });
  ConnectorInstanceModel.belongsTo(AgentModel, { foreignKey: 'agent_id', as: 'agent' });
  ConnectorModel.hasMany(ConnectorInstanceModel, { foreignKey: 'connector_id', as: 'instances' });
  AgentModel.hasMany(ConnectorInstanceModel, { foreignKey: 'agent_id', as: 'instances' });
  AgentTokenModel.belongsTo(AgentModel, { foreignKey: 'agent_id', as: 'agent' });

  return {
    Agent: AgentModel,
    AgentToken: AgentTokenModel,
    Connector: ConnectorModel,
    ConnectorInstance: ConnectorInstanceModel,
    ConnectorHealthCheck: ConnectorHealthCheckModel,
    AuditEvent: AuditEventModel,
  };
}
