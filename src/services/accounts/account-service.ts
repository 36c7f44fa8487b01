import { Op, UniqueConstraintError, type Sequelize, type Transaction } from 'sequelize';
import type { z } from 'zod';
import type { Invitation, InvitationStatus, Membership, Models, Organization, Role, User } from '../../db/models/index.js';
import { isPostgres } from '../../db/sequelize.js';
import { writeTransaction } from '../../db/write-transaction.js';
import { isOwnId, newId } from '../../db/ids.js';
import { PatchbayError } from '../../errors.js';
import { emailSchema, roleSchema, slugSchema } from '../../schemas/accounts.js';
import { AuditService } from '../audit-service.js';
import { auditEvent, type ActorContext, type RequestContext } from '../context.js';
import { credentialRow, PrincipalCache } from '../runtime/principal-cache.js';
import { credentialView, hashSecret, issueSecret, looksLikeSecret, type CredentialView } from '../connectors/secrets.js';
import type { Principal } from '../runtime-types.js';

export interface CreatedApiKey extends CredentialView {
  /** Shown once; only its hash is stored. */
  key: string;
}

export interface AddMemberInput {
  /** Id or slug. */
  organization: string;
  email: string;
  role: string;
  operator?: boolean;
  name?: string;
}

export interface AddedMember {
  user: User;
  membership: Membership;
  organization: Organization;
  /** True when the user did not exist before. */
  created: boolean;
}

export interface MemberView {
  user_id: string;
  email: string;
  name: string | null;
  role: Role;
  created_at: string;
}

export const memberView = (membership: Membership, user: User): MemberView => ({
  user_id: user.id,
  email: user.email,
  name: user.name,
  role: membership.role,
  created_at: membership.created_at.toISOString(),
});

export type { Principal };

/** How long an invitation's token can be redeemed or the invitation accepted. */
export const INVITATION_TTL_MS = 7 * 24 * 60 * 60 * 1000;

export interface InvitationView {
  id: string;
  email: string;
  role: Role;
  organization: { id: string; slug: string; name: string };
  /** `expired`: unanswered and past `expires_at`. */
  status: InvitationStatus;
  expires_at: string;
  created_at: string;
  responded_at: string | null;
}

export interface CreatedInvitation extends InvitationView {
  /** Shown once, to the inviting admin to pass on; only its hash is stored. */
  token: string;
}

type InvitationRow = Invitation & { organization: Organization };

export const invitationView = (invitation: InvitationRow, now = new Date()): InvitationView => ({
  id: invitation.id,
  email: invitation.email,
  role: invitation.role,
  organization: { id: invitation.organization.id, slug: invitation.organization.slug, name: invitation.organization.name },
  status: invitation.status === 'pending' && invitation.expires_at <= now ? 'expired' : invitation.status,
  expires_at: invitation.expires_at.toISOString(),
  created_at: invitation.created_at.toISOString(),
  responded_at: invitation.responded_at?.toISOString() ?? null,
});

export interface RedeemedInvitation {
  invitation: InvitationView;
  member: MemberView;
  apiKey: CreatedApiKey;
}

/** What redeeming a token led to; an email that already has an account is not joined by the token alone. */
type RedeemOutcome = ({ kind: 'redeemed' } & RedeemedInvitation) | { kind: 'existing_account'; invitation: InvitationView };

// Expired, used, revoked and unknown tokens answer alike.
const invalidToken = () => new PatchbayError('not_found', 'no such invitation: the token is unknown, used, revoked or expired');
const noSuchInvitation = () => new PatchbayError('not_found', 'no such invitation');
const answered = () => new PatchbayError('conflict', 'the invitation was answered at the same moment');


/** The installation acting on its own (first start). */
const INSTALLATION: ActorContext = { actor: { type: 'system', id: null } };

/** A key made or revoked for a user by the installation (`patchbay api-keys`): its event names the user and the way in. */
const ownerDetail = (ctx: ActorContext, userId: string) => (ctx.via ? { user_id: userId, via: ctx.via } : undefined);

function parse<T>(schema: z.ZodType<T>, value: unknown, path: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const message = result.error.issues[0]?.message ?? 'invalid';
  throw new PatchbayError('validation_failed', `${path}: ${message}`, { errors: [{ path, message }] });
}

/** Organisations, users, memberships and API keys. Used alike by the CLI and the HTTP routes. */
export class AccountService {
  constructor(
    private readonly models: Models,
    private readonly sequelize: Sequelize,
    /** Without one (a service used alone), every authentication reads the database. */
    private readonly principals = new PrincipalCache({
      ttlMs: 0,
      touchDirect: async (_kind, id, at) => void (await models.ApiKey.update({ last_used_at: at }, { where: { id } })),
    }),
    /** Without one (a service used alone), each event is its own INSERT. */
    private readonly audit = new AuditService(models),
  ) {}

  async createOrganization(input: { slug: string; name?: string }): Promise<Organization> {
    const slug = parse(slugSchema, input.slug, 'slug');
    return this.conflictOnDuplicate(`organization ${slug} already exists`, () =>
      writeTransaction(this.sequelize, (transaction) => this.models.Organization.create({ slug, name: input.name?.trim() || slug }, { transaction })),
    );
  }

  async listOrganizations(): Promise<Organization[]> {
    return this.models.Organization.findAll({ order: [['created_at', 'ASC']] });
  }

  async findOrganization(idOrSlug: string): Promise<Organization | null> {
    return this.models.Organization.findOne({ where: { [Op.or]: [{ id: idOrSlug }, { slug: idOrSlug }] } });
  }

  async requireOrganization(idOrSlug: string): Promise<Organization> {
    const org = await this.findOrganization(idOrSlug);
    if (!org) throw new PatchbayError('not_found', `organization ${idOrSlug} does not exist`);
    return org;
  }

  async findUserByEmail(email: string): Promise<User | null> {
    return this.models.User.findOne({ where: { email: parse(emailSchema, email, 'email') } });
  }

  async requireUserByEmail(email: string): Promise<User> {
    const user = await this.findUserByEmail(email);
    if (!user) throw new PatchbayError('not_found', `no user with email ${email}`);
    return user;
  }

  /**
   * The operator's direct path (`patchbay users create`, first start): creates the user if new, adds the
   * membership at once and issues a new API key. An existing membership is a conflict (change roles with
   * updateMembership). Over HTTP, admins invite instead (invite()).
   */
  async addMember(input: AddMemberInput): Promise<AddedMember & { apiKey: CreatedApiKey }> {
    const role = parse(roleSchema, input.role, 'role');
    const email = parse(emailSchema, input.email, 'email');
    const organization = await this.requireOrganization(input.organization);
    // Another process added the same person at the same moment (PostgreSQL: a unique index).
    return this.conflictOnDuplicate(`${email} was added to ${organization.slug} at the same moment`, () => this.addMemberInTransaction(organization, email, role, input));
  }

  private addMemberInTransaction(organization: Organization, email: string, role: Role, input: AddMemberInput): Promise<AddedMember & { apiKey: CreatedApiKey }> {
    return writeTransaction(this.sequelize, async (transaction) => {
      let user = await this.models.User.findOne({ where: { email }, transaction });
      const created = !user;
      if (!user) {
        user = await this.models.User.create({ email, name: input.name ?? null, is_operator: input.operator ?? false }, { transaction });
      } else if (input.operator && !user.is_operator) {
        await user.update({ is_operator: true }, { transaction });
      }
      const existing = await this.models.Membership.findOne({
        where: { user_id: user.id, organization_id: organization.id },
        transaction,
      });
      if (existing) throw new PatchbayError('conflict', `${email} is already a member of ${organization.slug}`);
      const membership = await this.models.Membership.create(
        { user_id: user.id, organization_id: organization.id, role },
        { transaction },
      );
      const apiKey = await this.createApiKey(user.id, { name: `${organization.slug} ${role}` }, transaction);
      return { user, membership, organization, apiKey, created };
    });
  }

  async listMembers(organizationId: string): Promise<MemberView[]> {
    const rows = await this.models.Membership.findAll({
      where: { organization_id: organizationId },
      include: [{ model: this.models.User, as: 'user' }],
      order: [['created_at', 'ASC']],
    });
    return rows.map((m) => memberView(m, (m as Membership & { user: User }).user));
  }

  /** One member of the organisation; anyone else (another organisation's member included) is not_found. */
  async requireMember(organizationId: string, userId: string): Promise<MemberView> {
    const membership = await this.requireMembership(organizationId, userId);
    return memberView(membership, membership.user);
  }

  async updateMembership(ctx: RequestContext, userId: string, role: string): Promise<MemberView> {
    const parsedRole = parse(roleSchema, role, 'role');
    const member = await writeTransaction(this.sequelize, async (transaction) => {
      const membership = await this.requireMembership(ctx.organizationId, userId, transaction);
      if (membership.role === 'admin' && parsedRole !== 'admin') await this.assertNotLastAdmin(ctx.organizationId, transaction);
      await membership.update({ role: parsedRole }, { transaction });
      return memberView(membership, membership.user);
    });
    await this.audit.record(auditEvent(ctx, { action: 'membership.update', target_type: 'user', target_id: member.user_id, detail: { role: member.role } }));
    return member;
  }

  async removeMembership(ctx: RequestContext, userId: string): Promise<void> {
    await writeTransaction(this.sequelize, async (transaction) => {
      const membership = await this.requireMembership(ctx.organizationId, userId, transaction);
      if (membership.role === 'admin') await this.assertNotLastAdmin(ctx.organizationId, transaction);
      await membership.destroy({ transaction });
    });
    await this.audit.record(auditEvent(ctx, { action: 'membership.delete', target_type: 'user', target_id: userId }));
  }

  private async requireMembership(organizationId: string, userId: string, transaction?: Transaction): Promise<Membership & { user: User }> {
    if (!isOwnId(userId)) throw new PatchbayError('not_found', 'no such member');
    const membership = await this.models.Membership.findOne({
      where: { organization_id: organizationId, user_id: userId },
      include: [{ model: this.models.User, as: 'user' }],
      transaction,
    });
    if (!membership) throw new PatchbayError('not_found', 'no such member');
    return membership as Membership & { user: User };
  }

  /**
   * An organisation without an admin could never be managed again. The admin rows are locked (PostgreSQL), so
   * two admins removing each other at once cannot both pass.
   */
  private async assertNotLastAdmin(organizationId: string, transaction: Transaction): Promise<void> {
    const admins = await this.models.Membership.findAll({
      where: { organization_id: organizationId, role: 'admin' },
      transaction,
      ...(isPostgres(this.sequelize) ? { lock: transaction.LOCK.UPDATE } : {}),
    });
    if (admins.length <= 1) throw new PatchbayError('conflict', 'an organization needs at least one admin');
  }

  /**
   * Invites an email into the organisation. The answer is the same for every email, whether an account has it
   * or not: nothing here looks at accounts outside the organisation. A member of the organisation, or an email
   * with an open invitation, is a conflict (the admin sees both already).
   */
  async invite(ctx: RequestContext, input: { email: string; role: string; name?: string }): Promise<CreatedInvitation> {
    const { organizationId } = ctx;
    const role = parse(roleSchema, input.role, 'role');
    const email = parse(emailSchema, input.email, 'email');
    const secret = issueSecret('pbi');
    // Another process invited the same email at the same moment (PostgreSQL: the partial unique index).
    const invitation = await this.conflictOnDuplicate(`${email} already has an open invitation`, () =>
      writeTransaction(this.sequelize, async (transaction) => {
        const now = new Date();
        const organization = await this.models.Organization.findByPk(organizationId, { transaction });
        if (!organization) throw new PatchbayError('not_found', 'no such organization');
        const member = await this.models.Membership.findOne({
          where: { organization_id: organizationId },
          include: [{ model: this.models.User, as: 'user', where: { email }, required: true }],
          transaction,
        });
        if (member) throw new PatchbayError('conflict', `${email} is already a member of ${organization.slug}`);
        const open = await this.models.Invitation.findOne({ where: { organization_id: organizationId, email, status: 'pending' }, transaction });
        if (open && open.expires_at > now) {
          throw new PatchbayError('conflict', `${email} already has an open invitation to ${organization.slug}: revoke it to invite again`);
        }
        // An expired invitation no longer blocks a new one (one pending row per email and organisation).
        if (open) await open.update({ status: 'expired', responded_at: now }, { transaction });
        const invitation = await this.models.Invitation.create(
          {
            organization_id: organizationId,
            email,
            role,
            name: input.name?.trim() || null,
            token_hash: secret.hash,
            invited_by: ctx.actor.id,
            expires_at: new Date(now.getTime() + INVITATION_TTL_MS),
          },
          { transaction },
        );
        return { ...invitationView(Object.assign(invitation, { organization }), now), token: secret.value };
      }),
    );
    await this.audit.record(auditEvent(ctx, { action: 'invitation.create', target_type: 'invitation', target_id: invitation.id, detail: { role: invitation.role } }));
    return invitation;
  }

  /** The organisation's unanswered invitations (expired ones included, marked so), oldest first. */
  async listOrganizationInvitations(organizationId: string): Promise<InvitationView[]> {
    const rows = await this.models.Invitation.findAll({
      where: { organization_id: organizationId, status: 'pending' },
      include: [{ model: this.models.Organization, as: 'organization' }],
      order: [['created_at', 'ASC'], ['id', 'ASC']],
    });
    const now = new Date();
    return rows.map((row) => invitationView(row as InvitationRow, now));
  }

  /** An admin takes back an unanswered invitation: its token stops working. */
  async revokeInvitation(ctx: RequestContext, invitationId: string): Promise<InvitationView> {
    const revoked = await writeTransaction(this.sequelize, async (transaction) => {
      const invitation = isOwnId(invitationId) ? await this.findInvitation({ id: invitationId, organization_id: ctx.organizationId }, transaction) : null;
      if (!invitation) throw noSuchInvitation();
      if (invitation.status !== 'pending') throw new PatchbayError('conflict', `the invitation is already ${invitation.status}`);
      await invitation.update({ status: 'revoked', responded_at: new Date() }, { transaction });
      return invitationView(invitation);
    });
    await this.audit.record(auditEvent(ctx, { action: 'invitation.revoke', target_type: 'invitation', target_id: revoked.id }));
    return revoked;
  }

  /** The invitations open to this account (by its email): what its owner may accept or decline. */
  async listInvitationsFor(user: Pick<User, 'email'>): Promise<InvitationView[]> {
    const now = new Date();
    const rows = await this.models.Invitation.findAll({
      where: { email: user.email, status: 'pending', expires_at: { [Op.gt]: now } },
      include: [{ model: this.models.Organization, as: 'organization' }],
      order: [['created_at', 'ASC'], ['id', 'ASC']],
    });
    return rows.map((row) => invitationView(row as InvitationRow, now));
  }

  /** The account joins the organisation with the invitation's role; only the invited email's own key may. */
  async acceptInvitation(ctx: ActorContext, user: Pick<User, 'id' | 'email'>, invitationId: string): Promise<{ invitation: InvitationView; member: MemberView }> {
    const accepted = await this.conflictOnDuplicate('you are already a member of this organization', () => this.acceptInTransaction(user, invitationId));
    const { invitation } = accepted;
    await this.audit.record(
      auditEvent(ctx, { organization_id: invitation.organization.id, action: 'invitation.accept', target_type: 'invitation', target_id: invitation.id, detail: { role: invitation.role } }),
    );
    return accepted;
  }

  private acceptInTransaction(user: Pick<User, 'id' | 'email'>, invitationId: string): Promise<{ invitation: InvitationView; member: MemberView }> {
    return writeTransaction(this.sequelize, async (transaction) => {
      const invitation = await this.requireOpenInvitationFor(user, invitationId, transaction);
      const account = await this.models.User.findByPk(user.id, { transaction });
      if (!account) throw noSuchInvitation();
      const existing = await this.models.Membership.findOne({
        where: { user_id: user.id, organization_id: invitation.organization_id },
        transaction,
      });
      if (existing) throw new PatchbayError('conflict', `you are already a member of ${invitation.organization.slug}`);
      const now = new Date();
      await this.claimInvitation(invitation, { status: 'accepted', user_id: user.id, responded_at: now }, transaction, answered);
      const membership = await this.models.Membership.create(
        { user_id: user.id, organization_id: invitation.organization_id, role: invitation.role },
        { transaction },
      );
      return { invitation: invitationView(invitation, now), member: memberView(membership, account) };
    });
  }

  async declineInvitation(ctx: ActorContext, user: Pick<User, 'id' | 'email'>, invitationId: string): Promise<InvitationView> {
    const declined = await writeTransaction(this.sequelize, async (transaction) => {
      const invitation = await this.requireOpenInvitationFor(user, invitationId, transaction);
      const now = new Date();
      await this.claimInvitation(invitation, { status: 'declined', user_id: user.id, responded_at: now }, transaction, answered);
      return invitationView(invitation, now);
    });
    await this.audit.record(auditEvent(ctx, { organization_id: declined.organization.id, action: 'invitation.decline', target_type: 'invitation', target_id: declined.id }));
    return declined;
  }

  /**
   * A new person, without a key, turns the one-time token into their account, membership and first API key.
   * The token works once, until it expires or is revoked. An email that already has an account is not joined by
   * the token alone (409): its owner accepts with their own key. The token's holder learns that the account
   * exists, which the inviting admin (who also holds the token) can learn only by trying, recorded as denied.
   */
  async redeemInvitation(ctx: Pick<ActorContext, 'requestId'>, input: { token: string; name?: string }): Promise<RedeemedInvitation> {
    if (!looksLikeSecret(input.token, 'pbi')) throw invalidToken();
    const tokenHash = hashSecret(input.token);
    const outcome = await this.redeemInTransaction(tokenHash, input);
    const { invitation } = outcome;
    const audited = { organization_id: invitation.organization.id, action: 'invitation.redeem', target_type: 'invitation', target_id: invitation.id };
    if (outcome.kind === 'existing_account') {
      await this.audit.record(
        auditEvent({ ...ctx, actor: { type: 'user', id: null } }, { ...audited, outcome: 'denied', detail: { reason: 'existing_account' } }),
      );
      throw new PatchbayError('conflict', 'this email already has an account: sign in with its API key and accept the invitation (GET /api/v1/invitations)');
    }
    const { member, apiKey } = outcome;
    await this.audit.record(
      auditEvent({ ...ctx, actor: { type: 'user', id: member.user_id } }, { ...audited, detail: { role: invitation.role, user_id: member.user_id, api_key_id: apiKey.id } }),
    );
    return { invitation, member, apiKey };
  }

  private redeemInTransaction(tokenHash: string, input: { name?: string }): Promise<RedeemOutcome> {
    // The email got an account between the check and the insert (an operator's `users create`, on PostgreSQL).
    return this.conflictOnDuplicate('an account with this email exists: accept the invitation with its API key', () =>
      writeTransaction(this.sequelize, async (transaction) => {
        const invitation = await this.findInvitation({ token_hash: tokenHash }, transaction);
        const now = new Date();
        if (!invitation || invitation.status !== 'pending' || invitation.expires_at <= now) throw invalidToken();
        if (await this.models.User.findOne({ where: { email: invitation.email }, transaction })) {
          return { kind: 'existing_account' as const, invitation: invitationView(invitation, now) };
        }
        // Claimed before anything is created: a second redeemer of the same token waits here and then finds it used.
        const userId = newId();
        await this.claimInvitation(invitation, { status: 'accepted', user_id: userId, responded_at: now }, transaction, invalidToken);
        const user = await this.models.User.create(
          { id: userId, email: invitation.email, name: input.name?.trim() || invitation.name },
          { transaction },
        );
        const membership = await this.models.Membership.create(
          { user_id: user.id, organization_id: invitation.organization_id, role: invitation.role },
          { transaction },
        );
        const apiKey = await this.createApiKey(user.id, { name: `${invitation.organization.slug} ${invitation.role}` }, transaction);
        return { kind: 'redeemed' as const, invitation: invitationView(invitation, now), member: memberView(membership, user), apiKey };
      }),
    );
  }

  /** A unique index that caught a concurrent writer (PostgreSQL) is a conflict, not a failure. */
  private async conflictOnDuplicate<T>(message: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', message);
      throw error;
    }
  }

  private async findInvitation(where: Record<string, unknown>, transaction: Transaction): Promise<InvitationRow | null> {
    const row = await this.models.Invitation.findOne({
      where,
      include: [{ model: this.models.Organization, as: 'organization' }],
      transaction,
    });
    return row as InvitationRow | null;
  }

  /** Another account's invitation is "no such invitation", like one that does not exist. */
  private async requireOpenInvitationFor(user: Pick<User, 'email'>, invitationId: string, transaction: Transaction): Promise<InvitationRow> {
    const invitation = isOwnId(invitationId) ? await this.findInvitation({ id: invitationId, email: user.email }, transaction) : null;
    if (!invitation) throw noSuchInvitation();
    if (invitation.status !== 'pending') throw new PatchbayError('conflict', `the invitation is already ${invitation.status}`);
    if (invitation.expires_at <= new Date()) throw new PatchbayError('conflict', 'the invitation has expired: ask for a new one');
    return invitation;
  }

  /**
   * Moves a pending invitation on, once: the update names the status it expects, so of two processes answering
   * the same invitation (or redeeming one token) at once only the first succeeds.
   */
  private async claimInvitation(
    invitation: Invitation,
    change: { status: InvitationStatus; user_id: string; responded_at: Date },
    transaction: Transaction,
    refusal: () => PatchbayError,
  ): Promise<void> {
    const [count] = await this.models.Invitation.update(change, { where: { id: invitation.id, status: 'pending' }, transaction });
    if (count !== 1) throw refusal();
    Object.assign(invitation, change);
  }

  /**
   * A new API key for a user: by the user (over HTTP), or by the installation (`patchbay api-keys`, whose audit
   * event names the user). 422 for an expiry that is not in the future.
   */
  async issueApiKey(ctx: ActorContext, userId: string, options: { name?: string | null; expiresAt?: Date | null } = {}): Promise<CreatedApiKey> {
    if (options.expiresAt && options.expiresAt <= new Date()) {
      throw new PatchbayError('validation_failed', 'expires_at must be in the future', { errors: [{ path: 'expires_at', message: 'must be in the future' }] });
    }
    const key = await writeTransaction(this.sequelize, (transaction) => this.createApiKey(userId, options, transaction));
    await this.audit.record(auditEvent(ctx, { action: 'api_key.create', target_type: 'api_key', target_id: key.id, detail: ownerDetail(ctx, userId) }));
    return key;
  }

  private async createApiKey(userId: string, options: { name?: string | null; expiresAt?: Date | null }, transaction: Transaction): Promise<CreatedApiKey> {
    const secret = issueSecret('pbk');
    const record = await this.models.ApiKey.create(
      {
        user_id: userId,
        name: options.name ?? null,
        prefix: secret.prefix,
        key_hash: secret.hash,
        last_used_at: null,
        expires_at: options.expiresAt ?? null,
        revoked_at: null,
      },
      { transaction },
    );
    return { ...credentialView(record), key: secret.value };
  }

  async listApiKeys(userId: string): Promise<CredentialView[]> {
    const keys = await this.models.ApiKey.findAll({ where: { user_id: userId }, order: [['created_at', 'ASC']] });
    return keys.map(credentialView);
  }

  /** Revokes one key; with ownerId, only a key of that user (a user manages only their own keys). */
  async revokeApiKey(ctx: ActorContext, keyId: string, ownerId?: string): Promise<CredentialView & { user_id: string }> {
    const revoked = await writeTransaction(this.sequelize, async (transaction) => {
      const key = isOwnId(keyId) ? await this.models.ApiKey.findOne({ where: ownerId ? { id: keyId, user_id: ownerId } : { id: keyId }, transaction }) : null;
      if (!key) throw new PatchbayError('not_found', `no API key ${keyId}`);
      if (!key.revoked_at) await key.update({ revoked_at: new Date() }, { transaction });
      return { ...credentialView(key), user_id: key.user_id };
    });
    await this.audit.record(auditEvent(ctx, { action: 'api_key.revoke', target_type: 'api_key', target_id: revoked.id, detail: ownerDetail(ctx, revoked.user_id) }));
    return revoked;
  }

  /** Resolves an API key to its user and memberships; null for anything that is not a live key. From memory when cached. */
  async authenticate(presented: string): Promise<Principal | null> {
    if (!looksLikeSecret(presented, 'pbk')) return null;
    return this.principals.apiKey(hashSecret(presented), async (hash) => {
      const key = await this.models.ApiKey.findOne({ where: { key_hash: hash } });
      const user = key ? await this.models.User.findByPk(key.user_id) : null;
      if (!key || !user) return null;
      const memberships = await this.models.Membership.findAll({
        where: { user_id: user.id },
        include: [{ model: this.models.Organization, as: 'organization' }],
        // In the order joined: the first is the default organisation (plugins/auth.ts chooseOrganization).
        order: [
          ['created_at', 'ASC'],
          ['id', 'ASC'],
        ],
      });
      return {
        key: credentialRow(key),
        principal: {
          user,
          apiKeyId: key.id,
          memberships: memberships.map((m) => ({ organization: (m as Membership & { organization: Organization }).organization, role: m.role })),
        },
      };
    });
  }

  /**
   * First start on an empty database: organisation `default` with an admin who is also an operator.
   * Returns the admin's key (to print once), or undefined when the database already had an organisation.
   */
  async bootstrap(): Promise<{ organization: Organization; email: string; userId: string; apiKey: CreatedApiKey } | undefined> {
    if ((await this.models.Organization.count()) > 0) return undefined;
    try {
      const organization = await this.createOrganization({ slug: 'default', name: 'Default organization' });
      const { apiKey, user } = await this.addMember({ organization: 'default', email: 'admin@patchbay.local', role: 'admin', operator: true });
      // The installation's first key, on the operators' record (GET /api/v1/installation/audit-events).
      await this.audit.record(
        auditEvent(INSTALLATION, { action: 'api_key.create', target_type: 'api_key', target_id: apiKey.id, detail: { user_id: user.id, via: 'bootstrap' } }),
      );
      return { organization, email: user.email, userId: user.id, apiKey };
    } catch (error) {
      // Another process bootstrapped at the same moment: its admin key is the one printed.
      if (error instanceof PatchbayError && error.code === 'conflict') return undefined;
      throw error;
    }
  }
}
