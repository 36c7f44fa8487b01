import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { orgOf } from '../../../plugins/auth.js';
import { auditEventSchema, auditQuery } from '../../../schemas/audit.js';
import { authProblems, listOf, problems } from '../../../schemas/problem.js';

/** The organisation's audit log, newest first, for its admins. */
const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/',
    {
      config: { access: { scope: 'org', role: 'admin' } },
      schema: {
        tags: ['audit'],
        summary: "The organisation's audit events, newest first",
        querystring: auditQuery,
        response: { 200: listOf(auditEventSchema), ...authProblems, ...problems(422) },
      },
    },
    async (request) => {
      const { since, until, ...filter } = request.query;
      return app.services.audit.list(orgOf(request).organization.id, {
        ...filter,
        since: since ? new Date(since) : undefined,
        until: until ? new Date(until) : undefined,
      });
    },
  );
};

export default routes;
