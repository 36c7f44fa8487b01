import { Op, UniqueConstraintError, type Sequelize, type Transaction } from 'sequelize';
import { z } from 'zod';
import type { Membership, Models, Organization, Role, User } from '../db/models/index.js';
import { roles } from '../db/models/index.js';
import { PatchbayError } from '../errors.js';
import { credentialRow, PrincipalCache } from './principal-cache.js';
import { credentialView, hashSecret, issueSecret, looksLikeSecret, type CredentialView } from './secrets.js';

export const slugSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, starting with a letter or digit')
  // X-Organization-Id takes an id or a slug: a slug shaped like an id would make that ambiguous.
  .refine((slug) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(slug), 'must not look like an organization id');
export const emailSchema = z.string().trim().toLowerCase().pipe(z.email('not a valid email address'));
export const roleSchema = z.enum(roles as [Role, ...Role[]], { error: `one of ${roles.join(', ')}` });

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

export interface Principal {
  user: User;
  apiKeyId: string;
  memberships: { organization: Organization; role: Role }[];
}


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
  ) {}

  async createOrganization(input: { slug: string; name?: string }): Promise<Organization> {
    const slug = parse(slugSchema, input.slug, 'slug');
    try {
      return await this.models.Organization.create({ slug, name: input.name?.trim() || slug });
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', `organization ${slug} already exists`);
      throw error;
    }
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
   * Creates the user if new, adds the membership and issues a new API key. An existing user gains the
   * membership; an existing membership is a conflict (change roles with updateMembership).
   * With `keyFor: 'new_user'` an existing user gets no key (apiKey is null): an organisation admin adding
   * someone over HTTP must not receive a key to that person's account, which reaches their other organisations.
   */
  async addMember(input: AddMemberInput): Promise<AddedMember & { apiKey: CreatedApiKey }>;
  async addMember(input: AddMemberInput, options: { keyFor: 'new_user' }): Promise<AddedMember & { apiKey: CreatedApiKey | null }>;
  async addMember(input: AddMemberInput, options: { keyFor: 'any_user' | 'new_user' } = { keyFor: 'any_user' }) {
    const role = parse(roleSchema, input.role, 'role');
    const email = parse(emailSchema, input.email, 'email');
    const organization = await this.requireOrganization(input.organization);
    return this.sequelize.transaction(async (transaction) => {
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
      const apiKey =
        created || options.keyFor === 'any_user'
          ? await this.issueApiKey(user.id, { name: `${organization.slug} ${role}` }, transaction)
          : null;
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

  async updateMembership(organizationId: string, userId: string, role: string): Promise<MemberView> {
    const parsedRole = parse(roleSchema, role, 'role');
    const membership = await this.requireMembership(organizationId, userId);
    if (membership.role === 'admin' && parsedRole !== 'admin') await this.assertNotLastAdmin(organizationId);
    await membership.update({ role: parsedRole });
    return memberView(membership, membership.user);
  }

  async removeMembership(organizationId: string, userId: string): Promise<void> {
    const membership = await this.requireMembership(organizationId, userId);
    if (membership.role === 'admin') await this.assertNotLastAdmin(organizationId);
    await membership.destroy();
  }

  private async requireMembership(organizationId: string, userId: string): Promise<Membership & { user: User }> {
    const membership = await this.models.Membership.findOne({
      where: { organization_id: organizationId, user_id: userId },
      include: [{ model: this.models.User, as: 'user' }],
    });
    if (!membership) throw new PatchbayError('not_found', 'no such member');
    return membership as Membership & { user: User };
  }

  /** An organisation without an admin could never be managed again. */
  private async assertNotLastAdmin(organizationId: string): Promise<void> {
    const admins = await this.models.Membership.count({ where: { organization_id: organizationId, role: 'admin' } });
    if (admins <= 1) throw new PatchbayError('conflict', 'an organization needs at least one admin');
  }

  async issueApiKey(
    userId: string,
    options: { name?: string | null; expiresAt?: Date | null } = {},
    transaction?: Transaction,
  ): Promise<CreatedApiKey> {
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

  /** Revokes one key; with userId, only a key of that user (a user manages only their own keys). */
  async revokeApiKey(keyId: string, userId?: string): Promise<CredentialView> {
    const key = await this.models.ApiKey.findOne({ where: userId ? { id: keyId, user_id: userId } : { id: keyId } });
    if (!key) throw new PatchbayError('not_found', `no API key ${keyId}`);
    if (!key.revoked_at) await key.update({ revoked_at: new Date() });
    return credentialView(key);
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
  async bootstrap(): Promise<{ organization: Organization; email: string; apiKey: CreatedApiKey } | undefined> {
    if ((await this.models.Organization.count()) > 0) return undefined;
    try {
      const organization = await this.createOrganization({ slug: 'default', name: 'Default organization' });
      const { apiKey, user } = await this.addMember({ organization: 'default', email: 'admin@patchbay.local', role: 'admin', operator: true });
      return { organization, email: user.email, apiKey };
    } catch (error) {
      // Another process bootstrapped at the same moment: its admin key is the one printed.
      if (error instanceof PatchbayError && error.code === 'conflict') return undefined;
      throw error;
    }
  }
}
