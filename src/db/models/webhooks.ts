import { DataTypes, type CreationOptional, type Sequelize } from 'sequelize';
import { define, jsonColumnType, lockedModelOptions, optional, ownedRowColumns, required, Row, rowColumns, rowId, SealedRow, sealedColumns } from './columns.js';

/** The events an organisation webhook can subscribe to (DESIGN.md section 9). */
export const webhookEvents = ['connector.failing', 'connector.recovered', 'connector.deleted', 'connector.credentials_rotated'] as const;
export type WebhookEvent = (typeof webhookEvents)[number];

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** `secret_encrypted` holds one Fernet token: the signing secret, bound to this organisation and webhook. */
export class Webhook extends SealedRow<Webhook> {
  declare url: string;
  declare events: WebhookEvent[];
  declare secret_encrypted: string;
  /** Why Patchbay disabled it ('failing'); null when enabled or disabled by an admin. */
  declare disabled_reason: string | null;
}

export class WebhookDelivery extends Row<WebhookDelivery> {
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
}

export function initWebhookModels(sequelize: Sequelize) {
  const json = jsonColumnType(sequelize);

  const WebhookModel = define(
    sequelize,
    Webhook,
    'pb_webhooks',
    {
      ...ownedRowColumns(),
      ...sealedColumns(),
      url: required(DataTypes.STRING(2048)),
      events: required(json),
      secret_encrypted: required(DataTypes.TEXT),
      disabled_reason: optional(DataTypes.STRING(32)),
    },
    lockedModelOptions,
  );

  const WebhookDeliveryModel = define(sequelize, WebhookDelivery, 'pb_webhook_deliveries', {
    ...rowColumns(),
    webhook_id: rowId(),
    organization_id: rowId(),
    event_id: rowId(),
    event: required(DataTypes.STRING(64)),
    payload: required(DataTypes.TEXT),
    status: required(DataTypes.STRING(16), { defaultValue: 'pending' }),
    attempts: required(DataTypes.INTEGER, { defaultValue: 0 }),
    next_attempt_at: optional(DataTypes.DATE),
    last_attempt_at: optional(DataTypes.DATE),
    last_status_code: optional(DataTypes.INTEGER),
    last_error: optional(DataTypes.TEXT),
  });

  WebhookDeliveryModel.belongsTo(WebhookModel, { foreignKey: 'webhook_id', as: 'webhook' });
  WebhookModel.hasMany(WebhookDeliveryModel, { foreignKey: 'webhook_id', as: 'deliveries' });

  return { Webhook: WebhookModel, WebhookDelivery: WebhookDeliveryModel };
}
