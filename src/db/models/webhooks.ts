import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { idColumn, managedByColumn, modelOptions, timestampColumns } from './columns.js';
import type { ManagedBy } from './connectors.js';

/** The events an organisation webhook can subscribe to (DESIGN.md section 9). */
export const webhookEvents = ['connector.failing', 'connector.recovered', 'connector.deleted', 'connector.credentials_rotated'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';


export class Webhook extends Model<InferAttributes<Webhook>, InferCreationAttributes<Webhook>> {
  declare id: CreationOptional<string>;
  declare organization_id: string;
  declare url: string;
  declare events: WebhookEvent[];
  declare description: string | null;
  /** One Fernet token: the signing secret, bound to this organisation and webhook. */
  declare secret_encrypted: string;
  declare key_id: string;
  declare version: CreationOptional<number>;
  declare enabled: CreationOptional<boolean>;
  declare consecutive_failures: CreationOptional<number>;
  /** Why Patchbay disabled it ('failing'); null when enabled or disabled by an admin. */
  declare disabled_reason: string | null;
  declare created_by: string | null;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
  declare managed_by: CreationOptional<ManagedBy>;
}

export class WebhookDelivery extends Model<InferAttributes<WebhookDelivery>, InferCreationAttributes<WebhookDelivery>> {
  declare id: CreationOptional<string>;
  declare webhook_id: string;
  declare organization_id: string;
  /** The event's id, the same in every webhook's delivery of it: receivers deduplicate on it. */
  declare event_id: string;
  declare event: WebhookEvent;
  /** The JSON body exactly as signed and sent. */
  declare payload: string;
  declare status: CreationOptional<DeliveryStatus>;
  declare attempts: CreationOptional<number>;
  declare next_attempt_at: Date | null;
  declare last_attempt_at: Date | null;
  declare last_status_code: number | null;
  /** Scrubbed: never the secret, never a response body. */
  declare last_error: string | null;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export function initWebhookModels(sequelize: Sequelize) {
  const json = sequelize.getDialect() === 'postgres' ? DataTypes.JSONB : DataTypes.JSON;

  class WebhookModel extends Webhook {}
  WebhookModel.init(
    {
      id: idColumn,
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      url: { type: DataTypes.STRING(2048), allowNull: false },
      events: { type: json, allowNull: false },
      description: { type: DataTypes.TEXT, allowNull: true },
      secret_encrypted: { type: DataTypes.TEXT, allowNull: false },
      key_id: { type: DataTypes.STRING(8), allowNull: false },
      version: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 1 },
      enabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
      consecutive_failures: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      disabled_reason: { type: DataTypes.STRING(32), allowNull: true },
      created_by: { type: DataTypes.STRING(64), allowNull: true },
      ...timestampColumns,
      managed_by: managedByColumn,
    },
    { sequelize, tableName: 'pb_webhooks', modelName: 'Webhook', version: 'version', ...modelOptions },
  );

  class WebhookDeliveryModel extends WebhookDelivery {}
  WebhookDeliveryModel.init(
    {
      id: idColumn,
      webhook_id: { type: DataTypes.STRING(64), allowNull: false },
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      event_id: { type: DataTypes.STRING(64), allowNull: false },
      event: { type: DataTypes.STRING(64), allowNull: false },
      payload: { type: DataTypes.TEXT, allowNull: false },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
      attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
      next_attempt_at: { type: DataTypes.DATE, allowNull: true },
      last_attempt_at: { type: DataTypes.DATE, allowNull: true },
      last_status_code: { type: DataTypes.INTEGER, allowNull: true },
      last_error: { type: DataTypes.TEXT, allowNull: true },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_webhook_deliveries', modelName: 'WebhookDelivery', ...modelOptions },
  );

  WebhookDeliveryModel.belongsTo(WebhookModel, { foreignKey: 'webhook_id', as: 'webhook' });
  WebhookModel.hasMany(WebhookDeliveryModel, { foreignKey: 'webhook_id', as: 'deliveries' });

  return {
    Webhook: WebhookModel as typeof Webhook,
    WebhookDelivery: WebhookDeliveryModel as typeof WebhookDelivery,
  };
}
