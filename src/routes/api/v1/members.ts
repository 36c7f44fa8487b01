import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgOf } from '../../../plugins/auth.js';
import { createdApiKeySchema, memberSchema } from '../../../schemas/accounts.js';
import { authProblems, problems } from '../../../schemas/problem.js';
import { memberView, roleSchema } from '../../../services/account-service.js';
import { auditEvent } from './context.js';

const userParams = z.object({ user_id: z.string() });

const addMemberBody = z.strictObject({
  email: z.email().max(320),
  role: roleSchema,
  name: z.string().trim().min(1).max(200).optional().describe('Used only when the user is new'),
});

const addedMemberSchema = z.object({
  member: memberSchema,
  api_key: createdApiKeySchema.optional().describe("A new user's first API key, shown once; absent when the user already existed"),
});

/** The organisation's members: anyone may list them, admins add, re-role and remove them. */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['members'];
  const admin = { scope: 'org', role: 'admin' } as const;
  const { accounts, audit } = app.services;

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
        summary: 'Add a user by email with a role (a new user gets a first API key, shown once)',
        body: addMemberBody,
        response: { 201: addedMemberSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request, reply) => {
      const added = await accounts.addMember({ organization: orgOf(request).organization.id, ...request.body }, { keyFor: 'new_user' });
      await audit.record(
        auditEvent(request, { action: 'membership.create', target_type: 'user', target_id: added.user.id, detail: { role: added.membership.role, new_user: added.created } }),
      );
      return reply.code(201).send({ member: memberView(added.membership, added.user), ...(added.apiKey ? { api_key: added.apiKey } : {}) });
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
    async (request) => {
      const member = await accounts.updateMembership(orgOf(request).organization.id, request.params.user_id, request.body.role);
      await audit.record(auditEvent(request, { action: 'membership.update', target_type: 'user', target_id: member.user_id, detail: { role: member.role } }));
      return member;
    },
  );

  app.delete(
    '/:user_id',
    {
      config: { access: admin },
      schema: { tags, summary: 'Remove a member (409 for the last admin)', params: userParams, response: { 204: z.null(), ...authProblems, ...problems(409) } },
    },
    async (request, reply) => {
      await accounts.removeMembership(orgOf(request).organization.id, request.params.user_id);
      await audit.record(auditEvent(request, { action: 'membership.delete', target_type: 'user', target_id: request.params.user_id }));
      return reply.code(204).send(null);
    },
  );
};

export default routes;
