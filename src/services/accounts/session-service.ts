import { randomBytes } from 'node:crypto';
import { Op } from 'sequelize';
import type { Membership, Models, Organization } from '../../db/models/index.js';
import { hashSecret } from '../connectors/secrets.js';
import type { Principal } from './account-service.js';
import { AuditService } from '../audit-service.js';
import { auditEvent, type ActorContext, type AuditedAction } from '../context.js';

/** A session lives this long without a request… */
export const SESSION_IDLE_MS = 30 * 60_000;
/** …and never longer than this, however busy. */
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60_000;
/** Don't write the idle expiry on every request: a minute's precision is plenty. */
const IDLE_RESOLUTION_MS = 60_000;

const TOKEN_PATTERN = /^pbs_[A-Za-z0-9_-]{43}$/;

export interface StartedSession {
  /** The cookie's value: handed to the browser once, stored only as its hash. */
  token: string;
  id: string;
  absoluteExpiresAt: Date;
}

/** The request a sign-in or sign-out came with; the actor is the user whose session it is. */
type SessionRequest = Pick<ActorContext, 'requestId'>;

/**
 * Web console sessions (DESIGN.md section 3, issue 13): an API key is traded once for a random cookie value. Every
 * request re-checks the API key the session came from, so revoking or expiring the key ends its sessions. Signing
 * in and out are audit events in each of the user's organisations, so their admins see them; a failed sign-in
 * has no organisation.
 */
export class SessionService {
  constructor(
    private readonly models: Pick<Models, 'ConsoleSession' | 'ApiKey' | 'User' | 'Membership' | 'Organization' | 'AuditEvent'>,
    private readonly clock: () => Date = () => new Date(),
    /** Without one (a service used alone), each event is its own INSERT. */
    private readonly audit = new AuditService(models),
  ) {}

  /** A key that is not live was offered to sign in with. */
  async refuseSignIn(ctx: SessionRequest): Promise<void> {
    await this.audit.record(
      auditEvent(
        { ...ctx, actor: { type: 'user', id: null } },
        { action: 'session.login_failed', target_type: 'session', outcome: 'failure', detail: { reason: 'unknown, revoked or expired API key' } },
      ),
    );
  }

  async start(ctx: SessionRequest, principal: Pick<Principal, 'user' | 'apiKeyId' | 'memberships'>): Promise<StartedSession> {
    // Sign-ins are rare: a good moment to drop the rows that expired meanwhile.
    await this.prune();
    const now = this.clock();
    const token = `pbs_${randomBytes(32).toString('base64url')}`;
    const absoluteExpiresAt = new Date(now.getTime() + SESSION_ABSOLUTE_MS);
    const row = await this.models.ConsoleSession.create({
      token_hash: hashSecret(token),
      user_id: principal.user.id,
      api_key_id: principal.apiKeyId,
      idle_expires_at: new Date(Math.min(now.getTime() + SESSION_IDLE_MS, absoluteExpiresAt.getTime())),
      absolute_expires_at: absoluteExpiresAt,
    });
    await this.recordInOrganizations(ctx, principal, { action: 'session.login', target_type: 'session', target_id: row.id, detail: { api_key_id: principal.apiKeyId } });
    return { token, id: row.id, absoluteExpiresAt };
  }

  /** The session's user, as an API key would resolve; null for anything that is not a live session of a live key. */
  async authenticate(token: string): Promise<(Principal & { sessionId: string }) | null> {
    if (!TOKEN_PATTERN.test(token)) return null;
    const session = await this.models.ConsoleSession.findOne({ where: { token_hash: hashSecret(token) } });
    const now = this.clock();
    if (!session || session.idle_expires_at <= now || session.absolute_expires_at <= now) return null;
    const key = await this.models.ApiKey.findByPk(session.api_key_id);
    if (!key || key.revoked_at || (key.expires_at && key.expires_at <= now)) return null;
    const user = await this.models.User.findByPk(session.user_id);
    if (!user) return null;
    const idle = new Date(Math.min(now.getTime() + SESSION_IDLE_MS, session.absolute_expires_at.getTime()));
    if (idle.getTime() - session.idle_expires_at.getTime() > IDLE_RESOLUTION_MS) await session.update({ idle_expires_at: idle });
    const memberships = await this.models.Membership.findAll({
      where: { user_id: user.id },
      include: [{ model: this.models.Organization, as: 'organization' }],
    });
    return {
      user,
      apiKeyId: key.id,
      sessionId: session.id,
      memberships: memberships.map((m) => ({ organization: (m as Membership & { organization: Organization }).organization, role: m.role })),
    };
  }

  /** When the session of this cookie value ends at the latest (for GET /me); null when it is not live. */
  async expiry(token: string): Promise<{ expiresAt: Date } | null> {
    if (!TOKEN_PATTERN.test(token)) return null;
    const session = await this.models.ConsoleSession.findOne({ where: { token_hash: hashSecret(token) } });
    return session ? { expiresAt: session.absolute_expires_at } : null;
  }

  /** Ends the session this cookie value names, if there is one; a live one's end is audited. */
  async end(ctx: SessionRequest, token: string): Promise<void> {
    if (!TOKEN_PATTERN.test(token)) return;
    const principal = await this.authenticate(token);
    const session = await this.models.ConsoleSession.findOne({ where: { token_hash: hashSecret(token) } });
    if (!session) return;
    await session.destroy();
    if (principal) await this.recordInOrganizations(ctx, principal, { action: 'session.logout', target_type: 'session', target_id: session.id });
  }

  private async recordInOrganizations(ctx: SessionRequest, principal: Pick<Principal, 'user' | 'memberships'>, action: AuditedAction): Promise<void> {
    const organizations = principal.memberships.length ? principal.memberships.map((m) => m.organization.id) : [undefined];
    for (const organizationId of organizations) {
      await this.audit.record(auditEvent({ ...ctx, actor: { type: 'user', id: principal.user.id }, organizationId }, action));
    }
  }

  /** Deletes expired sessions (they would never authenticate again). */
  async prune(): Promise<number> {
    const now = this.clock();
    return this.models.ConsoleSession.destroy({ where: { [Op.or]: [{ idle_expires_at: { [Op.lte]: now } }, { absolute_expires_at: { [Op.lte]: now } }] } });
  }
}
