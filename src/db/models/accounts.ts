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

  MembershipModel.belongsTo(UserModel, { foreignKey: 'user_id', as: 'user' });
  MembershipModel.belongsTo(OrganizationModel, { foreignKey: 'organization_id', as: 'organization' });
  UserModel.hasMany(MembershipModel, { foreignKey: 'user_id', as: 'memberships' });
  OrganizationModel.hasMany(MembershipModel, { foreignKey: 'organization_id', as: 'memberships' });
  ApiKeyModel.belongsTo(UserModel, { foreignKey: 'user_id', as: 'user' });

  return {
    Organization: OrganizationModel as typeof Organization,
    User: UserModel as typeof User,
    Membership: MembershipModel as typeof Membership,
    ApiKey: ApiKeyModel as typeof ApiKey,
  };
}
