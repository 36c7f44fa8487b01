import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userOf } from '../../../plugins/auth.js';
import { PatchbayError } from '../../../errors.js';
import { apiKeySchema, createApiKeyBody, createdApiKeySchema } from '../../../schemas/accounts.js';
import { authProblems, problems } from '../../../schemas/problem.js';

/** Every user manages their own API keys; no organisation is involved. */
const routes: FastifyPluginAsyncZod = async (app) => {
  const access = { scope: 'user' } as const;
  const tags = ['api-keys'];

  app.get(
    '/',
    { config: { access }, schema: { tags, summary: "List the caller's API keys", response: { 200: z.object({ data: z.array(apiKeySchema), next_cursor: z.null() }), ...authProblems } } },
    async (request) => ({ data: await app.services.accounts.listApiKeys(userOf(request).user.id), next_cursor: null }),
  );

  app.post(
    '/',
    {
      config: { access },
      schema: { tags, summary: 'Create an API key (shown once)', body: createApiKeyBody, response: { 201: createdApiKeySchema, ...authProblems, ...problems(422) } },
    },
    async (request, reply) => {
      const caller = userOf(request);
      const expiresAt = request.body.expires_at ? new Date(request.body.expires_at) : null;
      if (expiresAt && expiresAt <= new Date()) {
        throw new PatchbayError('validation_failed', 'expires_at must be in the future', { errors: [{ path: 'expires_at', message: 'must be in the future' }] });
      }
      const key = await app.services.accounts.issueApiKey(caller.user.id, { name: request.body.name ?? null, expiresAt });
      await app.services.audit.record({
        organization_id: null,
        actor: { type: 'user', id: caller.user.id },
        action: 'api_key.create',
        target_type: 'api_key',
        target_id: key.id,
        outcome: 'success',
        request_id: request.id,
      });
      return reply.code(201).send(key);
    },
  );

  app.delete(
    '/:key_id',
    {
      config: { access },
      schema: { tags, summary: 'Revoke one of your API keys', params: z.object({ key_id: z.string() }), response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      const caller = userOf(request);
      await app.services.accounts.revokeApiKey(request.params.key_id, caller.user.id);
      await app.services.audit.record({
        organization_id: null,
        actor: { type: 'user', id: caller.user.id },
        action: 'api_key.revoke',
        target_type: 'api_key',
        target_id: request.params.key_id,
        outcome: 'success',
        request_id: request.id,
      });
      return reply.code(204).send(null);
    },
  );
};

export default routes;
