import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { userOf } from '../../../plugins/auth.js';
import { apiKeySchema, createApiKeyBody, createdApiKeySchema } from '../../../schemas/accounts.js';
import { authProblems, problems } from '../../../schemas/problem.js';
import { userContext } from './context.js';

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
      const ctx = userContext(request);
      const { name, expires_at } = request.body;
      return reply.code(201).send(await app.services.accounts.issueApiKey(ctx, ctx.user.id, { name: name ?? null, expiresAt: expires_at ? new Date(expires_at) : null }));
    },
  );

  app.delete(
    '/:key_id',
    {
      config: { access },
      schema: { tags, summary: 'Revoke one of your API keys', params: z.object({ key_id: z.string() }), response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      const ctx = userContext(request);
      await app.services.accounts.revokeApiKey(ctx, request.params.key_id, ctx.user.id);
      return reply.code(204).send(null);
    },
  );
};

export default routes;
