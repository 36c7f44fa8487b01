import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { idColumn, modelOptions, timestampColumns } from './columns.js';

export type Role = 'admin' | 'developer' | 'member';
export const roles: readonly Role[] = ['admin', 'developer', 'member'];


export class Organization extends Model<InferAttributes<Organization>, InferCreationAttributes<Organization>> {
  declare id: CreationOptional<string>;
  declare slug: string;
  declare name: string;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class User extends Model<InferAttributes<User>, InferCreationAttributes<User>> {
  declare id: CreationOptional<string>;
  declare email: string;
  declare name: string | null;
  declare is_operator: CreationOptional<boolean>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class Membership extends Model<InferAttributes<Membership>, InferCreationAttributes<Membership>> {
  declare id: CreationOptional<string>;
  declare user_id: string;
  declare organization_id: string;
  declare role: Role;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export class ApiKey extends Model<InferAttributes<ApiKey>, InferCreationAttributes<ApiKey>> {
  declare id: CreationOptional<string>;
  declare user_id: string;
  declare name: string | null;
  declare prefix: string;
  declare key_hash: string;
  declare last_used_at: Date | null;
  declare expires_at: Date | null;
  declare revoked_at: Date | null;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

/** `expired` is stored only when a new invitation to the same email replaces an expired one. */
export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'revoked' | 'expired';

export class Invitation extends Model<InferAttributes<Invitation>, InferCreationAttributes<Invitation>> {
  declare id: CreationOptional<string>;
  declare organization_id: string;
  declare email: string;
  declare role: Role;
  declare name: string | null;
  /** SHA-256 of the one-time token; the token itself is shown once, to the inviting admin. */
  declare token_hash: string;
  declare status: CreationOptional<InvitationStatus>;
  declare invited_by: string | null;
  declare user_id: CreationOptional<string | null>;
  declare expires_at: Date;
  declare responded_at: CreationOptional<Date | null>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

/**
 * Each call binds fresh subclasses to the given Sequelize instance, so one process can hold models for
 * several databases (tests run SQLite and PostgreSQL side by side).
 */
export function initAccountModels(sequelize: Sequelize) {
  class OrganizationModel extends Organization {}
  OrganizationModel.init(
    {
      id: idColumn,
      slug: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      name: { type: DataTypes.STRING(200), allowNull: false },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_organizations', modelName: 'Organization', ...modelOptions },
  );

  class UserModel extends User {}
  UserModel.init(
    {
      id: idColumn,
      email: { type: DataTypes.STRING(320), allowNull: false, unique: true },
      name: { type: DataTypes.STRING(200), allowNull: true },
      is_operator: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_users', modelName: 'User', ...modelOptions },
  );

  class MembershipModel extends Membership {}
  MembershipModel.init(
    {
      id: idColumn,
      user_id: { type: DataTypes.STRING(64), allowNull: false },
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      role: { type: DataTypes.STRING(16), allowNull: false },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_memberships', modelName: 'Membership', ...modelOptions },
  );

  class ApiKeyModel extends ApiKey {}
  ApiKeyModel.init(
    {
      id: idColumn,
      user_id: { type: DataTypes.STRING(64), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: true },
      prefix: { type: DataTypes.STRING(32), allowNull: false },
      key_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      last_used_at: { type: DataTypes.DATE, allowNull: true },
      expires_at: { type: DataTypes.DATE, allowNull: true },
      revoked_at: { type: DataTypes.DATE, allowNull: true },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_api_keys', modelName: 'ApiKey', ...modelOptions },
  );

  class InvitationModel extends Invitation {}
  InvitationModel.init(
    {
      id: idColumn,
      organization_id: { type: DataTypes.STRING(64), allowNull: false },
      email: { type: DataTypes.STRING(320), allowNull: false },
      role: { type: DataTypes.STRING(16), allowNull: false },
      name: { type: DataTypes.STRING(200), allowNull: true },
      token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
      invited_by: { type: DataTypes.STRING(64), allowNull: true },
      user_id: { type: DataTypes.STRING(64), allowNull: true },
      expires_at: { type: DataTypes.DATE, allowNull: false },
      responded_at: { type: DataTypes.DATE, allowNull: true },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_invitations', modelName: 'Invitation', ...modelOptions },
  );

  MembershipModel.belongsTo(UserModel, { foreignKey: 'user_id', as: 'user' });
  MembershipModel.belongsTo(OrganizationModel, { foreignKey: 'organization_id', as: 'organization' });
  UserModel.hasMany(MembershipModel, { foreignKey: 'user_id', as: 'memberships' });
  OrganizationModel.hasMany(MembershipModel, { foreignKey: 'organization_id', as: 'memberships' });
  ApiKeyModel.belongsTo(UserModel, { foreignKey: 'user_id', as: 'user' });
  InvitationModel.belongsTo(OrganizationModel, { foreignKey: 'organization_id', as: 'organization' });

  return {
    Organization: OrganizationModel as typeof Organization,
    User: UserModel as typeof User,
    Membership: MembershipModel as typeof Membership,
    ApiKey: ApiKeyModel as typeof ApiKey,
    Invitation: InvitationModel as typeof Invitation,
  };
}
