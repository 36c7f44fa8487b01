import { DataTypes } from 'sequelize';
import type { Migration } from './types.js';

/**
 * Membership by invitation (DESIGN.md section 11): an admin invites an email with a role; the invitee accepts
 * with their own API key, or, without an account, redeems the one-time token. Only the token's SHA-256 is kept.
 *
 * A user's default organisation needs no column: it is their earliest membership (the first they joined), which
 * stays well defined when they join or leave others.
 */
export const migration: Migration = {
  name: '0005-invitations',
  async up({ queryInterface: q }) {
    await q.createTable('pb_invitations', {
      id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
      organization_id: {
        type: DataTypes.STRING(64),
        allowNull: false,
        references: { model: 'pb_organizations', key: 'id' },
        onDelete: 'CASCADE',
      },
      email: { type: DataTypes.STRING(320), allowNull: false },
      role: { type: DataTypes.STRING(16), allowNull: false },
      // A display name the admin suggested for a new account; the redeemer's own choice wins.
      name: { type: DataTypes.STRING(200), allowNull: true },
      token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      // pending, accepted, declined, revoked; "expired" is a pending one past expires_at, computed on read.
      status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
      invited_by: { type: DataTypes.STRING(64), allowNull: true },
      // The account that accepted or redeemed it.
      user_id: { type: DataTypes.STRING(64), allowNull: true },
      expires_at: { type: DataTypes.DATE, allowNull: false },
      responded_at: { type: DataTypes.DATE, allowNull: true },
      created_at: { type: DataTypes.DATE, allowNull: false },
      updated_at: { type: DataTypes.DATE, allowNull: false },
    });
    // One open invitation per email and organisation, also between processes on PostgreSQL.
    await q.addIndex('pb_invitations', ['organization_id', 'email'], {
      name: 'pb_invitations_one_pending',
      unique: true,
      where: { status: 'pending' },
    });
    // An account's own pending invitations (GET /api/v1/invitations).
    await q.addIndex('pb_invitations', ['email', 'status'], { name: 'pb_invitations_email' });
  },

  async down({ queryInterface: q }) {
    await q.dropTable('pb_invitations');
  },
};
