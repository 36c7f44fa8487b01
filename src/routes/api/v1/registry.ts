import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authProblems, problems } from '../../../schemas/problem.js';
import { classParams, createAgentClassBody, registryClassSchema, registrySchema } from '../../../schemas/registry.js';
import { auditEvent } from './context.js';

/**
 * The installation-wide PolicySynth registry (no organisation): any user reads it, operators change it.
 * Registered at /api/v1 itself, as it serves /registry… and /agent-classes.
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['registry'];
  const installation = { scope: 'installation' } as const;
  const operator = { scope: 'operator' } as const;
  const { registry, audit } = app.services;

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
    async (request, reply) => {
      const created = await registry.createAgentClass(request.body);
      await audit.record(auditEvent(request, { action: 'agent_class.create', target_type: 'agent_class', target_id: created.uuid }));
      return reply.code(201).send(created);
    },
  );

  // Adding and removing are idempotent: a class already in (or already out of) the registry answers the same.
  app.post(
    '/registry/agent-classes/:uuid',
    {
      config: { access: operator },
      schema: { tags, summary: 'Add an agent class to the registry (operators)', params: classParams, response: { 200: registryClassSchema, ...authProblems } },
    },
    async (request) => {
      const added = await registry.addAgentClass(request.params.uuid);
      await audit.record(auditEvent(request, { action: 'registry.agent_class.add', target_type: 'agent_class', target_id: added.uuid }));
      return added;
    },
  );

  app.delete(
    '/registry/agent-classes/:uuid',
    {
      config: { access: operator },
      schema: { tags, summary: 'Remove an agent class from the registry (operators)', params: classParams, response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      await registry.removeAgentClass(request.params.uuid);
      await audit.record(auditEvent(request, { action: 'registry.agent_class.remove', target_type: 'agent_class', target_id: request.params.uuid }));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/registry/connector-classes/:uuid',
    {
      config: { access: operator },
      schema: { tags, summary: 'Add a connector class to the registry (operators)', params: classParams, response: { 200: registryClassSchema, ...authProblems } },
    },
    async (request) => {
      const added = await registry.addConnectorClass(request.params.uuid);
      await audit.record(auditEvent(request, { action: 'registry.connector_class.add', target_type: 'connector_class', target_id: added.uuid }));
      return added;
    },
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
      await registry.removeConnectorClass(request.params.uuid);
      await audit.record(auditEvent(request, { action: 'registry.connector_class.remove', target_type: 'connector_class', target_id: request.params.uuid }));
      return reply.code(204).send(null);
    },
  );
};

export default routes;
