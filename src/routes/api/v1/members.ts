import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgOf } from '../../../plugins/auth.js';
import { createdInvitationSchema, displayNameSchema, invitationSchema, memberSchema, roleSchema } from '../../../schemas/accounts.js';
import { authProblems, problems } from '../../../schemas/problem.js';
import { organizationContext } from './context.js';

const userParams = z.object({ user_id: z.string() });

const inviteBody = z.strictObject({
  email: z.email().max(320),
  role: roleSchema,
  name: displayNameSchema.optional().describe('A suggested display name, used if the invitee creates an account'),
});

/**
 * The organisation's members: anyone may list them; admins invite people (who join only by accepting), re-role
 * and remove members, and see and revoke open invitations.
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['members'];
  const admin = { scope: 'org', role: 'admin' } as const;
  const { accounts } = app.services;

  // 404 before 422: the user in the path must be a member of the caller's organisation.
  const memberExists = async (request: FastifyRequest) => {
    await accounts.requireMember(orgOf(request).organization.id, (request.params as { user_id: string }).user_id);
  };

  app.get(
    '/',
    {
      config: { access: { scope: 'org', role: 'member' } },
      schema: { tags, summary: "List the organisation's members", response: { 200: z.object({ data: z.array(memberSchema), next_cursor: z.null() }), ...authProblems } },
    },
    async (request) => ({ data: await accounts.listMembers(orgOf(request).organization.id), next_cursor: null }),
  );

  app.post(
    '/',
    {
      config: { access: admin },
      schema: {
        tags,
        summary: 'Invite someone by email with a role',
        description:
          'Creates an invitation and answers the same for every email, whether it has an account or not: the invitation and a one-time ' +
          'token (shown once) to pass on. A person without an account redeems the token (POST /api/v1/invitations/redeem); an existing ' +
          'account accepts with its own API key (POST /api/v1/invitations/{id}/accept). Until then the invitee is not a member. ' +
          'Invitations expire after 7 days. 409 when the email is already a member or has an open invitation here.',
        body: inviteBody,
        response: { 201: createdInvitationSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await accounts.invite(organizationContext(request), request.body)),
  );

  app.get(
    '/invitations',
    {
      config: { access: admin },
      schema: {
        tags,
        summary: "The organisation's unanswered invitations (expired ones marked so); never their tokens",
        response: { 200: z.object({ data: z.array(invitationSchema), next_cursor: z.null() }), ...authProblems },
      },
    },
    async (request) => ({ data: await accounts.listOrganizationInvitations(orgOf(request).organization.id), next_cursor: null }),
  );

  app.delete(
    '/invitations/:invitation_id',
    {
      config: { access: admin },
      schema: {
        tags,
        summary: 'Revoke an unanswered invitation: its token stops working (409 once answered)',
        params: z.object({ invitation_id: z.string() }),
        response: { 204: z.null(), ...authProblems, ...problems(409) },
      },
    },
    async (request, reply) => {
      await accounts.revokeInvitation(organizationContext(request), request.params.invitation_id);
      return reply.code(204).send(null);
    },
  );

  app.patch(
    '/:user_id',
    {
      config: { access: admin, resource: memberExists },
      schema: {
        tags,
        summary: "Change a member's role (409 for the organisation's last admin)",
        params: userParams,
        body: z.strictObject({ role: roleSchema }),
        response: { 200: memberSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request) => accounts.updateMembership(organizationContext(request), request.params.user_id, request.body.role),
  );

  app.delete(
    '/:user_id',
    {
      config: { access: admin },
      schema: { tags, summary: 'Remove a member (409 for the last admin)', params: userParams, response: { 204: z.null(), ...authProblems, ...problems(409) } },
    },
    async (request, reply) => {
      await accounts.removeMembership(organizationContext(request), request.params.user_id);
      return reply.code(204).send(null);
    },
  );
};

export default routes;
