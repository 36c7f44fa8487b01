import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userOf } from '../../../plugins/auth.js';
import { acceptedInvitationSchema, invitationSchema, redeemBody, redeemedInvitationSchema } from '../../../schemas/accounts.js';
import { authProblems, problems } from '../../../schemas/problem.js';
import { userContext } from './context.js';

/**
 * The invitee's side of membership (docs/invitations.md). An account sees the invitations sent to its email and
 * accepts or declines them with its own API key; a person without an account redeems the one-time token, with no
 * key, and receives the account and its first API key once.
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['invitations'];
  const user = { scope: 'user' } as const;
  const { accounts } = app.services;
  const invitationParams = z.object({ id: z.string() });

  app.get(
    '/',
    {
      config: { access: user },
      schema: {
        tags,
        summary: 'The open invitations to your email',
        response: { 200: z.object({ data: z.array(invitationSchema), next_cursor: z.null() }), ...authProblems },
      },
    },
    async (request) => ({ data: await accounts.listInvitationsFor(userOf(request).user), next_cursor: null }),
  );

  app.post(
    '/:id/accept',
    {
      config: { access: user },
      schema: {
        tags,
        summary: 'Join the organisation with the invitation’s role (409 once answered or expired)',
        params: invitationParams,
        response: { 200: acceptedInvitationSchema, ...authProblems, ...problems(409) },
      },
    },
    async (request) => {
      const ctx = userContext(request);
      return accounts.acceptInvitation(ctx, ctx.user, request.params.id);
    },
  );

  app.post(
    '/:id/decline',
    {
      config: { access: user },
      schema: {
        tags,
        summary: 'Decline the invitation (409 once answered or expired)',
        params: invitationParams,
        response: { 200: invitationSchema, ...authProblems, ...problems(409) },
      },
    },
    async (request) => {
      const ctx = userContext(request);
      return accounts.declineInvitation(ctx, ctx.user, request.params.id);
    },
  );

  app.post(
    '/redeem',
    {
      // Limited per client address like every unauthenticated request, whatever Authorization header comes along
      // (it is not read here).
      config: { access: { scope: 'public' }, rateLimit: { keyGenerator: (request) => `ip:${request.ip}` } },
      schema: {
        tags,
        summary: 'Create your account from an invitation token (no API key needed); your first API key is shown once',
        description:
          'The token works once, until it expires or is revoked; any other token answers 404. If the invited email already has an ' +
          'account, nothing changes and the answer is 409: sign in with that account’s API key and accept the invitation instead.',
        // No credential: the token in the body is the proof.
        security: [],
        body: redeemBody,
        response: { 201: redeemedInvitationSchema, ...problems(400, 404, 409, 413, 422, 429, 500, 503) },
      },
    },
    async (request, reply) => {
      // An email that already has an account answers 409, recorded as denied: an admin trying their own token to
      // learn whether an account exists leaves a trace.
      const { invitation, member, apiKey } = await accounts.redeemInvitation({ requestId: request.id }, request.body);
      return reply.code(201).send({ invitation, member, api_key: apiKey });
    },
  );
};

export default routes;
