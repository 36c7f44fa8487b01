import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { orgOf } from '../../../plugins/auth.js';
import { auditEventSchema, auditQuery } from '../../../schemas/audit.js';
import { authProblems, listOf, problems } from '../../../schemas/problem.js';
import type { AuditFilter } from '../../../services/audit-service.js';

const filterOf = ({ since, until, ...filter }: z.infer<typeof auditQuery>): AuditFilter => ({
  ...filter,
  since: since ? new Date(since) : undefined,
  until: until ? new Date(until) : undefined,
});

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
    async (request) => app.services.audit.list(orgOf(request).organization.id, filterOf(request.query)),
  );
};

/**
 * The events that belong to no organisation, for operators: API keys created or revoked (over HTTP or with
 * `patchbay api-keys`), and whatever else concerns the installation rather than one organisation.
 */
export const installationAuditEvents: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/',
    {
      config: { access: { scope: 'operator' } },
      schema: {
        tags: ['audit'],
        summary: 'Audit events that belong to no organisation, newest first (operators)',
        querystring: auditQuery,
        response: { 200: listOf(auditEventSchema), ...authProblems, ...problems(422) },
      },
    },
    async (request) => app.services.audit.list(null, filterOf(request.query)),
  );
};

export default routes;
