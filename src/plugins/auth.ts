import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Organization, Role, User } from '../db/models/index.js';
import { PatchbayError } from '../errors.js';
import { assertConsoleRequest, readSessionCookie } from './console-session.js';
import type { CredentialLimits } from './limits.js';
import type { AgentPrincipal } from '../services/runtime-types.js';

/**
 * Who may call a route, declared on the route as `config: { access }`:
 * - `public`: no credential (health, docs);
 * - `user`: any user's API key, no organisation (their own API keys);
 * - `installation`: any user, installation-wide reads (registry);
 * - `operator`: installation operators only;
 * - `any`: any valid credential, agent tokens included, no organisation (`/whoami`: the credential's own identity);
 * - `org`: a member of the chosen organisation with at least `role`; `agent: true` also admits that
 *   agent's own token on its run-time paths (the `:id` path parameter names the agent).
 */
export type Access =
  | { scope: 'public' }
  | { scope: 'user' }
  | { scope: 'installation' }
  | { scope: 'operator' }
  | { scope: 'any' }
  | { scope: 'org'; role: Role; agent?: boolean };

export type { AgentPrincipal } from '../services/runtime-types.js';

export type Caller =
  /** `memberships` in the order joined: the first is the user's default organisation. */
  | { kind: 'user'; user: User; apiKeyId: string; memberships: { organization: Organization; role: Role }[] }
  | { kind: 'agent'; agent: AgentPrincipal };

export interface OrgContext {
  organization: Organization;
  /** The caller's role; an agent token acts with no role of its own. */
  role: Role | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
    org: OrgContext | null;
  }
  interface FastifyContextConfig {
    access?: Access;
    /** Runs after authorisation and before the body is read or validated: 404 before 400, 413 and 422. */
    resource?: (request: FastifyRequest) => Promise<void>;
  }
}

export interface Authenticators {
  apiKey(key: string): Promise<Omit<Extract<Caller, { kind: 'user' }>, 'kind'> | null>;
  agentToken(token: string): Promise<AgentPrincipal | null>;
  /** The web console's session cookie (plugins/console-session.ts). */
  session?(token: string): Promise<Omit<Extract<Caller, { kind: 'user' }>, 'kind'> | null>;
}

const rank: Record<Role, number> = { member: 1, developer: 2, admin: 3 };
export const roleAtLeast = (role: Role | null, needed: Role) => role !== null && rank[role] >= rank[needed];

const unauthenticated = (detail: string) =>
  new PatchbayError('unauthenticated', detail, { headers: { 'WWW-Authenticate': 'Bearer realm="patchbay"' } });

/** The credential of `Authorization: Bearer <credential>`, any case of `Bearer`, any whitespace around it. */
function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) throw unauthenticated('missing Authorization: Bearer header');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthenticated('malformed Authorization header: expected "Bearer <key>"');
  return match[1];
}

async function lookUp(credential: string, authenticators: Authenticators): Promise<Caller | null> {
  if (credential.startsWith('pbt_')) {
    const agent = await authenticators.agentToken(credential);
    return agent ? { kind: 'agent', agent } : null;
  }
  const user = await authenticators.apiKey(credential);
  return user ? { kind: 'user', ...user } : null;
}

/**
 * Every failure counts in the client address's failed-authentication bucket; once that is spent, attempts
 * answer 429 before the database is asked (DESIGN.md section 11, "Limits").
 */
async function authenticate(request: FastifyRequest, authenticators: Authenticators, limits: CredentialLimits): Promise<Caller> {
  // A console session cookie counts only without an Authorization header, which always wins.
  const sessionToken = request.headers.authorization === undefined ? readSessionCookie(request) : undefined;
  if (sessionToken !== undefined && authenticators.session) {
    limits.beforeLookup(request, sessionToken);
    const user = await authenticators.session(sessionToken);
    if (!user) {
      limits.failed(request, sessionToken);
      throw unauthenticated('the console session ended or expired: sign in again');
    }
    limits.succeeded(sessionToken);
    assertConsoleRequest(request);
    return { kind: 'user', ...user };
  }
  let credential: string | undefined;
  try {
    credential = bearer(request);
  } catch (error) {
    limits.beforeLookup(request, undefined);
    limits.failed(request, undefined);
    throw error;
  }
  limits.beforeLookup(request, credential);
  const caller = await lookUp(credential, authenticators);
  if (!caller) {
    limits.failed(request, credential);
    throw unauthenticated('unknown, revoked or expired credential');
  }
  limits.succeeded(credential);
  return caller;
}

function chooseOrganization(request: FastifyRequest, caller: Caller): OrgContext {
  const header = request.headers['x-organization-id'];
  const wanted = Array.isArray(header) ? header[0] : header;
  if (caller.kind === 'agent') {
    const org = caller.agent.organization;
    if (wanted && wanted !== org.id && wanted !== org.slug) throw new PatchbayError('not_found', 'no such organization');
    return { organization: org, role: null };
  }
  if (wanted) {
    const membership = caller.memberships.find((m) => m.organization.id === wanted || m.organization.slug === wanted);
    if (!membership) throw new PatchbayError('not_found', 'no such organization');
    return membership;
  }
  // Without the header, a user acts in their default organisation: the first they joined (memberships come in
  // the order joined), so accepting an invitation elsewhere never breaks the clients they already have.
  const [first] = caller.memberships;
  if (!first) throw new PatchbayError('not_found', 'you are not a member of any organization');
  return first;
}

function authorize(request: FastifyRequest, access: Access, caller: Caller): OrgContext | null {
  if (access.scope === 'any') return null;
  if (access.scope !== 'org') {
    if (caller.kind === 'agent') throw new PatchbayError('forbidden', 'agent tokens may call only their agent run-time endpoints');
    if (access.scope === 'operator' && !caller.user.is_operator) {
      throw new PatchbayError('forbidden', 'only installation operators may do this');
    }
    return null;
  }
  const org = chooseOrganization(request, caller);
  if (caller.kind === 'agent') {
    if (!access.agent) throw new PatchbayError('forbidden', 'agent tokens may call only their agent run-time endpoints');
    const pathAgent = (request.params as { id?: string }).id;
    if (pathAgent !== caller.agent.agentId) throw new PatchbayError('not_found', 'no such agent');
    return org;
  }
  if (!roleAtLeast(org.role, access.role)) {
    throw new PatchbayError('forbidden', `this needs the ${access.role} role or higher`);
  }
  return org;
}

export default fp(
  async function auth(app: FastifyInstance, options: { authenticators: Authenticators }) {
    app.decorateRequest('caller', null);
    app.decorateRequest('org', null);

    // Every route validates late (attachValidation): authentication, authorisation and the resource's existence
    // answer first, in the order DESIGN.md section 5 fixes, and only then a validation error.
    app.addHook('onRoute', (route) => {
      route.attachValidation = true;
    });

    // Before the body is read (path parameters are all they need), so that a malformed, mistyped or oversized
    // body (400, 413) answers only after the credential, the role and the resource's existence, and nobody
    // unauthenticated makes us parse anything.
    app.addHook('onRequest', async (request, reply) => {
      const access = request.routeOptions.config.access;
      if (access && access.scope !== 'public') {
        request.caller = await authenticate(request, options.authenticators, app.credentialLimits);
        // Counted by principal, so that re-spelling the header buys no fresh bucket.
        await app.credentialLimits.principal(request, reply);
        request.org = authorize(request, access, request.caller);
      }
      const resource = request.routeOptions.config.resource;
      if (resource) await resource(request);
    });

    app.addHook('preHandler', async (request) => {
      if (request.validationError) throw request.validationError;
    });
  },
  { name: 'auth', dependencies: ['limits'] },
);

/** For handlers behind `scope: 'org'`: the organisation the request acts in. */
export function orgOf(request: FastifyRequest): OrgContext {
  if (!request.org) throw new PatchbayError('internal_error', 'route without organisation access read the organisation');
  return request.org;
}

export function userOf(request: FastifyRequest): Extract<Caller, { kind: 'user' }> {
  if (request.caller?.kind !== 'user') throw new PatchbayError('forbidden', 'this needs a user API key');
  return request.caller;
}
