import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PatchbayError } from '../../../errors.js';
import type { Caller } from '../../../plugins/auth.js';
import { assertConsoleRequest, assertSameOrigin, clearSessionCookie, readSessionCookie, setSessionCookie } from '../../../plugins/console-session.js';
import { createSessionBody, type meSchema, sessionSchema } from '../../../schemas/console.js';
import { problems } from '../../../schemas/problem.js';
import type { AuditInput } from '../../../services/audit-service.js';

type UserCaller = Omit<Extract<Caller, { kind: 'user' }>, 'kind'>;

/** The signed-in user as the console sees it: organisations with names and roles, the operator flag. */
export function meView(caller: UserCaller, session: { expiresAt: Date } | null): z.infer<typeof meSchema> {
  return {
    user: { id: caller.user.id, email: caller.user.email, name: caller.user.name },
    operator: caller.user.is_operator,
    organizations: caller.memberships.map(({ organization, role }) => ({ id: organization.id, slug: organization.slug, name: organization.name, role })),
    session: session ? { expires_at: session.expiresAt.toISOString() } : null,
  };
}

/**
 * Web console sign-in and sign-out (plugins/console-session.ts has the cookie and the CSRF rule). Signing in and
 * out are audit events in each of the user's organisations, so their admins see them; a failed sign-in has no
 * organisation.
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['sessions'];
  const { accounts, sessions, audit } = app.services;

  const recordInOrgs = async (request: FastifyRequest, caller: UserCaller, event: Omit<AuditInput, 'organization_id' | 'actor' | 'outcome' | 'request_id'>) => {
    const organizations = caller.memberships.length ? caller.memberships.map((m) => m.organization.id) : [null];
    for (const organizationId of organizations) {
      await audit.record({ organization_id: organizationId, actor: { type: 'user', id: caller.user.id }, outcome: 'success', request_id: request.id, ...event });
    }
  };

  app.post(
    '/',
    {
      config: { access: { scope: 'public' } },
      schema: {
        tags,
        summary: 'Sign in to the web console: trade an API key for an HttpOnly session cookie',
        body: createSessionBody,
        response: { 201: sessionSchema, ...problems(400, 401, 403, 413, 422, 429, 500, 503) },
      },
    },
    async (request, reply) => {
      assertSameOrigin(request);
      // A sign-in is an authentication like a bearer header: it spends the same per-address failure budget.
      const limits = app.credentialLimits;
      limits.beforeLookup(request, request.body.api_key);
      const principal = await accounts.authenticate(request.body.api_key);
      if (!principal) {
        limits.failed(request, request.body.api_key);
        await audit.record({
          organization_id: null,
          actor: { type: 'user', id: null },
          action: 'session.login_failed',
          target_type: 'session',
          outcome: 'failure',
          detail: { reason: 'unknown, revoked or expired API key' },
          request_id: request.id,
        });
        throw new PatchbayError('unauthenticated', 'unknown, revoked or expired API key');
      }
      limits.succeeded(request.body.api_key);
      const session = await sessions.start(principal);
      await recordInOrgs(request, principal, { action: 'session.login', target_type: 'session', target_id: session.id, detail: { api_key_id: principal.apiKeyId } });
      setSessionCookie(request, reply, session.token, session.absoluteExpiresAt);
      return reply.code(201).send(meView(principal, { expiresAt: session.absoluteExpiresAt }));
    },
  );

  app.delete(
    '/current',
    {
      config: { access: { scope: 'public' } },
      schema: {
        tags,
        summary: 'Sign out: end the console session of this cookie (idempotent: no session is a 204 too)',
        response: { 204: z.null(), ...problems(403, 429, 500, 503) },
      },
    },
    async (request, reply) => {
      const token = readSessionCookie(request);
      if (token !== undefined) {
        assertConsoleRequest(request);
        const principal = await sessions.authenticate(token);
        const ended = await sessions.end(token);
        if (principal && ended) {
          await recordInOrgs(request, principal, { action: 'session.logout', target_type: 'session', target_id: ended.sessionId });
        }
      }
      clearSessionCookie(request, reply);
      return reply.code(204).send(null);
    },
  );
};

export default routes;
