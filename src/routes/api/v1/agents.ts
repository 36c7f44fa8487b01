import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgOf } from '../../../plugins/auth.js';
import {
  agentParams,
  agentSchema,
  agentTokenSchema,
  createAgentBody,
  createAgentTokenBody,
  createdAgentTokenSchema,
  pageQuery,
  runtimeExecuteParams,
  toolSchema,
  toolsQuery,
} from '../../../schemas/agents.js';
import { executeBody, executeResultSchema, instanceSchema } from '../../../schemas/connectors.js';
import { executeSerializerCompiler } from '../../../schemas/execute-result.js';
import { authProblems, listOf, problems } from '../../../schemas/problem.js';
import { agentView } from '../../../services/accounts/agent-service.js';
import type { RuntimeAttachment } from '../../../services/runtime/principal-cache.js';
import { organizationContext, requestContext, runtimeContext } from './context.js';

/** Agents, their tokens, and the run-time endpoints an agent's own token may call (DESIGN.md section 5). */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['agents'];
  const { agents, attachments, execution, tools } = app.services;
  const developer = { scope: 'org', role: 'developer' } as const;

  const agentOf = (request: FastifyRequest) => agents.require(orgOf(request).organization.id, (request.params as { id: string }).id);
  // 404 before 422: the agent named in the path must exist in the caller's organisation.
  const agentExists = async (request: FastifyRequest) => {
    await agentOf(request);
  };
  // ...and on the run-time path, the attachment its alias names.
  const resolvedAttachments = new WeakMap<FastifyRequest, RuntimeAttachment>();
  const attachmentExists = async (request: FastifyRequest) => {
    const { id, alias } = request.params as { id: string; alias: string };
    // Kept for the handler, so the hot path looks the attachment up once.
    resolvedAttachments.set(request, await execution.attachment(orgOf(request).organization.id, id, alias));
  };

  app.post(
    '/',
    {
      config: { access: developer },
      schema: { tags, summary: 'Create an agent (choose its id, or get an agt_… one)', body: createAgentBody, response: { 201: agentSchema, ...authProblems, ...problems(409, 413, 422) } },
    },
    async (request, reply) => reply.code(201).send(agentView(await agents.create(requestContext(request), request.body))),
  );

  app.get(
    '/',
    {
      config: { access: { scope: 'org', role: 'member' } },
      schema: { tags, summary: 'List agents', querystring: pageQuery, response: { 200: listOf(agentSchema), ...authProblems, ...problems(422) } },
    },
    async (request) => agents.list(orgOf(request).organization.id, request.query),
  );

  app.get(
    '/:id',
    {
      config: { access: { scope: 'org', role: 'member' } },
      schema: { tags, summary: 'Get an agent', params: agentParams, response: { 200: agentSchema, ...authProblems } },
    },
    async (request) => agentView(await agentOf(request)),
  );

  app.delete(
    '/:id',
    {
      config: { access: developer },
      schema: { tags, summary: 'Delete an agent, with its attachments and tokens', params: agentParams, response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      await agents.delete(requestContext(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/:id/tokens',
    {
      config: { access: developer, resource: agentExists },
      schema: {
        tags,
        summary: 'Issue a token that acts as this agent only (shown once)',
        params: agentParams,
        body: createAgentTokenBody,
        response: { 201: createdAgentTokenSchema, ...authProblems, ...problems(413, 422) },
      },
    },
    async (request, reply) => reply.code(201).send(await agents.issueToken(requestContext(request), await agentOf(request), request.body)),
  );

  app.get(
    '/:id/tokens',
    {
      config: { access: developer },
      schema: {
        tags,
        summary: "List the agent's tokens (never the token itself)",
        params: agentParams,
        response: { 200: z.object({ data: z.array(agentTokenSchema), next_cursor: z.null() }), ...authProblems },
      },
    },
    async (request) => ({ data: await agents.listTokens(await agentOf(request)), next_cursor: null }),
  );

  app.delete(
    '/:id/tokens/:token_id',
    {
      config: { access: developer },
      schema: { tags, summary: 'Revoke an agent token', params: agentParams.extend({ token_id: z.string() }), response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      await agents.revokeToken(organizationContext(request), await agentOf(request), request.params.token_id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/:id/connectors',
    {
      config: { access: { scope: 'org', role: 'member', agent: true } },
      schema: {
        tags,
        summary: "The agent's attachments (members, or the agent's own token)",
        params: agentParams,
        response: { 200: z.object({ data: z.array(instanceSchema), next_cursor: z.null() }), ...authProblems },
      },
    },
    async (request) => ({ data: await attachments.listForAgent(orgOf(request).organization.id, request.params.id), next_cursor: null }),
  );

  app.post(
    '/:id/connectors/:alias/execute',
    {
      // No log line per call at the default level (the audit log has every call); failures still log as warnings.
      logLevel: 'warn',
      config: { access: { scope: 'org', role: 'developer', agent: true }, resource: attachmentExists },
      schema: {
        tags,
        summary: "Run an operation through one of the agent's attachments: its override, mode, limits and bound parameters apply",
        params: runtimeExecuteParams,
        body: executeBody,
        response: { 200: executeResultSchema, ...authProblems, ...problems(409, 413, 422, 502, 504) },
      },
      serializerCompiler: executeSerializerCompiler,
    },
    async (request) =>
      execution.executeRuntime(runtimeContext(request), request.params.id, request.params.alias, request.body, resolvedAttachments.get(request)),
  );

  app.get(
    '/:id/tools',
    {
      config: { access: { scope: 'org', role: 'member', agent: true }, resource: agentExists },
      schema: {
        tags,
        summary: "The agent's attachments as tools, as its MCP endpoint lists them (members, or the agent's own token)",
        params: agentParams,
        querystring: toolsQuery,
        response: { 200: z.object({ data: z.array(toolSchema), next_cursor: z.null() }), ...authProblems, ...problems(422) },
      },
    },
    async (request) => ({ data: await tools.list(orgOf(request).organization.id, request.params.id, request.query.aliases), next_cursor: null }),
  );
};

export default routes;
