import { DataTypes, type CreationOptional, type Sequelize } from 'sequelize';
import { credentialColumns, define, optional, required, Row, rowColumns, rowId } from './columns.js';

export type Role = 'admin' | 'developer' | 'member';
export const roles: readonly Role[] = ['admin', 'developer', 'member'];

export class Organization extends Row<Organization> {
  declare slug: string;
  declare name: string;
}

export class User extends Row<User> {
  declare email: string;
  declare name: string | null;
  declare is_operator: CreationOptional<boolean>;
}

export class Membership extends Row<Membership> {
  declare user_id: string;
  declare organization_id: string;
  declare role: Role;
}

export class ApiKey extends Row<ApiKey> {
  declare user_id: string;
  declare name: string | null;
  declare prefix: string;
  declare key_hash: string;
  declare last_used_at: Date | null;
  declare expires_at: Date | null;
  declare revoked_at: Date | null;
}

/** `expired` is stored only when a new invitation to the same email replaces an expired one. */
export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'revoked' | 'expired';

export class Invitation extends Row<Invitation> {
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
}

export function initAccountModels(sequelize: Sequelize) {
  const OrganizationModel = define(sequelize, Organization, 'pb_organizations', {
    ...rowColumns(),
    slug: required(DataTypes.STRING(64), { unique: true }),
    name: required(DataTypes.STRING(200)),
  });
  const UserModel = define(sequelize, User, 'pb_users', {
    ...rowColumns(),
    email: required(DataTypes.STRING(320), { unique: true }),
    name: optional(DataTypes.STRING(200)),
    is_operator: required(DataTypes.BOOLEAN, { defaultValue: false }),
  });
  const MembershipModel = define(sequelize, Membership, 'pb_memberships', {
    ...rowColumns(),
    user_id: rowId(),
    organization_id: rowId(),
    role: required(DataTypes.STRING(16)),
  });
  const ApiKeyModel = define(sequelize, ApiKey, 'pb_api_keys', {
    ...rowColumns(),
    user_id: rowId(),
    ...credentialColumns('key_hash'),
  });
  const InvitationModel = define(sequelize, Invitation, 'pb_invitations', {
    ...rowColumns(),
    organization_id: rowId(),
    email: required(DataTypes.STRING(320)),
    role: required(DataTypes.STRING(16)),
    name: optional(DataTypes.STRING(200)),
    token_hash: required(DataTypes.STRING(64), { unique: true }),
    status: required(DataTypes.STRING(16), { defaultValue: 'pending' }),
    invited_by: optional(DataTypes.STRING(64)),
    user_id: optional(DataTypes.STRING(64)),
    expires_at: required(DataTypes.DATE),
    responded_at: optional(DataTypes.DATE),
  });

  MembershipModel.belongsTo(UserModel, { foreignKey: 'user_id', as: 'user' });
  MembershipModel.belongsTo(OrganizationModel, { foreignKey: 'organization_id', as: 'organization' });
  UserModel.hasMany(MembershipModel, { foreignKey: 'user_id', as: 'memberships' });
  OrganizationModel.hasMany(MembershipModel, { foreignKey: 'organization_id', as: 'memberships' });
  ApiKeyModel.belongsTo(UserModel, { foreignKey: 'user_id', as: 'user' });
  InvitationModel.belongsTo(OrganizationModel, { foreignKey: 'organization_id', as: 'organization' });

  return { Organization: OrganizationModel, User: UserModel, Membership: MembershipModel, ApiKey: ApiKeyModel, Invitation: InvitationModel };
}
