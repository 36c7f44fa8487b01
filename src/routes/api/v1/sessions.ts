import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PatchbayError } from '../../../errors.js';
import type { Caller } from '../../../plugins/auth.js';
import { assertConsoleRequest, assertSameOrigin, clearSessionCookie, readSessionCookie, setSessionCookie } from '../../../plugins/console-session.js';
import { createSessionBody, type meSchema, sessionSchema } from '../../../schemas/console.js';
import { problems } from '../../../schemas/problem.js';

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
 * Web console sign-in and sign-out (plugins/console-session.ts has the cookie and the CSRF rule; SessionService
 * audits both, and a failed sign-in).
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['sessions'];
  const { accounts, sessions } = app.services;

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
        await sessions.refuseSignIn({ requestId: request.id });
        throw new PatchbayError('unauthenticated', 'unknown, revoked or expired API key');
      }
      limits.succeeded(request.body.api_key);
      const session = await sessions.start({ requestId: request.id }, principal);
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
        await sessions.end({ requestId: request.id }, token);
      }
      clearSessionCookie(request, reply);
      return reply.code(204).send(null);
    },
  );
};

export default routes;
