import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authProblems, problems } from '../../../schemas/problem.js';
import { classParams, createAgentClassBody, registryClassSchema, registrySchema } from '../../../schemas/registry.js';
import { actorContext } from './context.js';

/**
 * The installation-wide PolicySynth registry (no organisation): any user reads it, operators change it.
 * Registered at /api/v1 itself, as it serves /registry… and /agent-classes.
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['registry'];
  const installation = { scope: 'installation' } as const;
  const operator = { scope: 'operator' } as const;
  const { registry } = app.services;

  app.get(
    '/registry',
    { config: { access: installation }, schema: { tags, summary: 'The registry with its agent and connector classes', response: { 200: registrySchema, ...authProblems } } },
    async () => registry.getRegistry(),
  );

  app.get(
    '/agent-classes',
    {
      config: { access: installation },
      schema: { tags, summary: 'Every agent class, in the registry or not', response: { 200: z.object({ data: z.array(registryClassSchema), next_cursor: z.null() }), ...authProblems } },
    },
    async () => ({ data: await registry.listAgentClasses(), next_cursor: null }),
  );

  app.post(
    '/agent-classes',
    {
      config: { access: operator },
      schema: { tags, summary: 'Create an agent class (operators)', body: createAgentClassBody, response: { 201: registryClassSchema, ...authProblems, ...problems(413, 422) } },
    },
    async (request, reply) => reply.code(201).send(await registry.createAgentClass(actorContext(request), request.body)),
  );

  // Adding and removing are idempotent: a class already in (or already out of) the registry answers the same.
  app.post(
    '/registry/agent-classes/:uuid',
    {
      config: { access: operator },
      schema: { tags, summary: 'Add an agent class to the registry (operators)', params: classParams, response: { 200: registryClassSchema, ...authProblems } },
    },
    async (request) => registry.addAgentClass(actorContext(request), request.params.uuid),
  );

  app.delete(
    '/registry/agent-classes/:uuid',
    {
      config: { access: operator },
      schema: { tags, summary: 'Remove an agent class from the registry (operators)', params: classParams, response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      await registry.removeAgentClass(actorContext(request), request.params.uuid);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/registry/connector-classes/:uuid',
    {
      config: { access: operator },
      schema: { tags, summary: 'Add a connector class to the registry (operators)', params: classParams, response: { 200: registryClassSchema, ...authProblems } },
    },
    async (request) => registry.addConnectorClass(actorContext(request), request.params.uuid),
  );

  app.delete(
    '/registry/connector-classes/:uuid',
    {
      config: { access: operator },
      schema: {
        tags,
        summary: "Remove a connector class from the registry (operators; 409 for a Patchbay provider's class)",
        params: classParams,
        response: { 204: z.null(), ...authProblems, ...problems(409) },
      },
    },
    async (request, reply) => {
      await registry.removeConnectorClass(actorContext(request), request.params.uuid);
      return reply.code(204).send(null);
    },
  );
};

export default routes;
