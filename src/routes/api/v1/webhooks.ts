import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgOf } from '../../../plugins/auth.js';
import { pageQuery } from '../../../schemas/agents.js';
import { authProblems, listOf, problems } from '../../../schemas/problem.js';
import { createWebhookBody, deliverySchema, updateWebhookBody, webhookSchema } from '../../../schemas/webhooks.js';
import { requestContext } from './context.js';

const idParams = z.object({ id: z.string() });

/** The organisation's webhooks and their deliveries (DESIGN.md section 9); admins only, as they see URLs. */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['webhooks'];
  const admin = { scope: 'org', role: 'admin' } as const;
  const { webhooks } = app.services;

  // 404 before 422: the webhook in the path must exist in the caller's organisation.
  const webhookExists = async (request: FastifyRequest) => {
    await webhooks.require(orgOf(request).organization.id, (request.params as { id: string }).id);
  };

  app.get(
    '/',
    {
      config: { access: admin },
      schema: { tags, summary: "List the organisation's webhooks", querystring: pageQuery, response: { 200: listOf(webhookSchema), ...authProblems, ...problems(422) } },
    },
    async (request) => webhooks.list(orgOf(request).organization.id, request.query),
  );

  app.post(
    '/',
    {
      config: { access: admin },
      schema: {
        tags,
        summary: 'Register a webhook (its secret is encrypted at rest and never returned)',
        body: createWebhookBody,
        response: { 201: webhookSchema, ...authProblems, ...problems(413, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(webhooks.view(await webhooks.create(requestContext(request), request.body))),
  );

  app.get(
    '/:id',
    {
      config: { access: admin },
      schema: { tags, summary: 'Get a webhook', params: idParams, response: { 200: webhookSchema, ...authProblems } },
    },
    async (request) => webhooks.view(await webhooks.require(orgOf(request).organization.id, request.params.id)),
  );

  app.patch(
    '/:id',
    {
      config: { access: admin, resource: webhookExists },
      schema: {
        tags,
        summary: 'Change a webhook; re-enabling one that Patchbay disabled clears its failure count',
        params: idParams,
        body: updateWebhookBody,
        response: { 200: webhookSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request) => webhooks.view(await webhooks.update(requestContext(request), request.params.id, request.body)),
  );

  app.delete(
    '/:id',
    {
      config: { access: admin },
      schema: { tags, summary: 'Delete a webhook and its delivery history', params: idParams, response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      await webhooks.delete(requestContext(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/:id/deliveries',
    {
      config: { access: admin, resource: webhookExists },
      schema: {
        tags,
        summary: "The webhook's deliveries, newest first: status, attempts, the last answer or error",
        params: idParams,
        querystring: pageQuery,
        response: { 200: listOf(deliverySchema), ...authProblems, ...problems(422) },
      },
    },
    async (request) => webhooks.deliveries(orgOf(request).organization.id, request.params.id, request.query),
  );
};

export default routes;
