import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { orgOf } from '../../../plugins/auth.js';
import { PatchbayError } from '../../../errors.js';
import { desiredState } from '../../../provisioning/desired.js';
import { exportState } from '../../../provisioning/export.js';
import { authProblems, problems } from '../../../schemas/problem.js';
import { exportResultSchema, planResultSchema, provisioningBody } from '../../../schemas/provisioning.js';
import { requestContext } from './context.js';

/**
 * What `patchbay plan|apply|export --api-key … --url …` call (docs/provisioning.md): the same provisioning service
 * as the local CLI, so secrets are compared server-side and an apply is one transaction here too. Admins only:
 * a file creates connectors and webhooks, and sets read_write modes and bound parameters.
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['provisioning'];
  const admin = { scope: 'org', role: 'admin' } as const;
  const { provisioning } = app.services;

  // The file names its organization; it must be the one the request acts in.
  const desiredFor = (request: Parameters<typeof orgOf>[0], file: Record<string, unknown>) => {
    const desired = desiredState(file);
    const org = orgOf(request).organization;
    if (desired.organization !== org.slug && desired.organization !== org.id) {
      throw new PatchbayError('validation_failed', `organization: the file declares ${desired.organization}, the request acts in ${org.slug}`, {
        errors: [{ path: 'organization', message: `the request acts in organization ${org.slug}` }],
      });
    }
    return desired;
  };

  app.post(
    '/plan',
    {
      config: { access: admin },
      schema: {
        tags,
        summary: 'What applying a provisioning file would change (nothing is written)',
        body: provisioningBody,
        response: { 200: planResultSchema, ...authProblems, ...problems(413, 422) },
      },
    },
    async (request) => provisioning.plan(desiredFor(request, request.body.file), { prune: request.body.prune ?? false }),
  );

  app.post(
    '/apply',
    {
      config: { access: admin },
      schema: {
        tags,
        summary: 'Apply a provisioning file in one transaction: all of it, or nothing',
        body: provisioningBody,
        response: { 200: planResultSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request) => {
      const { actor, role, requestId } = requestContext(request);
      return provisioning.apply({ actor, role, requestId }, desiredFor(request, request.body.file), { prune: request.body.prune ?? false });
    },
  );

  app.get(
    '/export',
    {
      config: { access: admin },
      schema: { tags, summary: "The organization's state as a provisioning file, every secret an ${env:…} reference", response: { 200: exportResultSchema, ...authProblems } },
    },
    async (request) => {
      const org = orgOf(request).organization;
      return exportState(org.slug, await provisioning.read(org.id));
    },
  );
};

export default routes;
