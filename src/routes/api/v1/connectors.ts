import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PatchbayError } from '../../../errors.js';
import { orgOf } from '../../../plugins/auth.js';
import { catalogueForRegistry } from '../../../providers/catalogue.js';
import {
  attachBody,
  connectorSchema,
  createConnectorBody,
  executeBody,
  executeResultSchema,
  healthQuery,
  healthSchema,
  instanceSchema,
  listConnectorsQuery,
  patchInstanceBody,
  testResultSchema,
  testUnsavedBody,
  typesSchema,
  updateConnectorBody,
} from '../../../schemas/connectors.js';
import { connectorListItemSchema } from '../../../schemas/console.js';
import { executeSerializerCompiler } from '../../../schemas/execute-result.js';
import { authProblems, listOf, problems } from '../../../schemas/problem.js';
import { connectorTypes } from '../../../schemas/vocabulary.js';
import { requestContext } from './context.js';

const idParams = z.object({ id: z.string() });
const instanceParams = z.object({ instance_id: z.string() });

/** Connectors and their attachments: the reference's endpoints (DESIGN.md section 5). */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['connectors'];
  const { connectors, attachments, execution } = app.services;

  // 404 before 422: the connector (or instance) named in the path must exist in the caller's organisation.
  const connectorExists = async (request: FastifyRequest) => {
    await connectors.require(orgOf(request).organization.id, (request.params as { id: string }).id);
  };
  const instanceExists = async (request: FastifyRequest) => {
    await attachments.require(orgOf(request).organization.id, (request.params as { instance_id: string }).instance_id);
  };

  const types = connectorTypes.map((type) => ({
    type,
    providers: catalogueForRegistry()
      .filter((provider) => provider.type === type)
      .map(({ id, description, operations, fields }) => ({ provider: id, description, operations, fields })),
  }));

  app.get(
    '/types',
    {
      config: { access: { scope: 'org', role: 'member' } },
      schema: { tags, summary: 'Connector types, their providers and config fields', response: { 200: typesSchema, ...authProblems } },
    },
    async () => ({ data: types }),
  );

  app.post(
    '/',
    {
      config: { access: { scope: 'org', role: 'admin' } },
      schema: {
        tags,
        summary: 'Create a connector (config encrypted at rest)',
        body: createConnectorBody,
        response: { 201: connectorSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request, reply) => {
      const connector = await connectors.create(requestContext(request), request.body);
      return reply.code(201).header('etag', `"${connector.version}"`).send(connectors.view(connector));
    },
  );

  app.get(
    '/',
    {
      config: { access: { scope: 'org', role: 'member' } },
      schema: { tags, summary: 'List connectors', querystring: listConnectorsQuery, response: { 200: listOf(connectorListItemSchema), ...authProblems, ...problems(422) } },
    },
    async (request) => app.services.consoleViews.withRecentHealth(await connectors.list(orgOf(request).organization.id, request.query)),
  );

  app.post(
    '/test',
    {
      config: { access: { scope: 'org', role: 'admin' } },
      schema: {
        tags,
        summary: 'Test an unsaved config (admins only: it takes raw addresses)',
        body: testUnsavedBody,
        response: { 200: testResultSchema, ...authProblems, ...problems(413, 422) },
      },
    },
    async (request) => connectors.testUnsaved(requestContext(request), request.body),
  );

  app.get(
    '/:id',
    {
      config: { access: { scope: 'org', role: 'member' } },
      schema: { tags, summary: 'Get a connector (secrets masked; ETag carries its version)', params: idParams, response: { 200: connectorSchema, ...authProblems } },
    },
    async (request, reply) => {
      const connector = await connectors.require(orgOf(request).organization.id, request.params.id);
      return reply.header('etag', `"${connector.version}"`).send(connectors.view(connector));
    },
  );

  app.put(
    '/:id',
    {
      config: { access: { scope: 'org', role: 'admin' }, resource: connectorExists },
      schema: {
        tags,
        summary: 'Update a connector: config merged key by key; If-Match with a stale version answers 409',
        params: idParams,
        body: updateConnectorBody,
        response: { 200: connectorSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request, reply) => {
      const connector = await connectors.update(requestContext(request), request.params.id, request.body, ifMatchVersion(request));
      return reply.header('etag', `"${connector.version}"`).send(connectors.view(connector));
    },
  );

  app.delete(
    '/:id',
    {
      config: { access: { scope: 'org', role: 'admin' }, resource: connectorExists },
      schema: {
        tags,
        summary: 'Delete a connector (409 connector_in_use while attached, unless force=true)',
        params: idParams,
        querystring: z.strictObject({ force: z.enum(['true', 'false']).optional() }),
        response: { 204: z.null(), ...authProblems, ...problems(409, 422) },
      },
    },
    async (request, reply) => {
      await connectors.delete(requestContext(request), request.params.id, request.query.force === 'true');
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/:id/test',
    {
      config: { access: { scope: 'org', role: 'developer' } },
      schema: { tags, summary: 'Test the connection (always 200 with the outcome)', params: idParams, response: { 200: testResultSchema, ...authProblems } },
    },
    async (request) => connectors.test(requestContext(request), request.params.id),
  );

  app.get(
    '/:id/health',
    {
      config: { access: { scope: 'org', role: 'member' }, resource: connectorExists },
      schema: { tags, summary: 'Health history, newest first', params: idParams, querystring: healthQuery, response: { 200: healthSchema, ...authProblems, ...problems(422) } },
    },
    async (request) => connectors.health(orgOf(request).organization.id, request.params.id, request.query),
  );

  app.post(
    '/:id/attach',
    {
      config: { access: { scope: 'org', role: 'developer' }, resource: connectorExists },
      schema: {
        tags,
        summary: 'Attach the connector to an agent under an alias',
        params: idParams,
        body: attachBody,
        response: { 201: instanceSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request, reply) => {
      const ctx = requestContext(request);
      const instance = await attachments.attach(ctx, request.params.id, request.body);
      const { connector, agent } = await attachments.require(ctx.organizationId, instance.id);
      return reply.code(201).send(attachments.view(instance, connector, agent));
    },
  );

  app.patch(
    '/instances/:instance_id',
    {
      config: { access: { scope: 'org', role: 'developer' }, resource: instanceExists },
      schema: {
        tags,
        summary: 'Change an attachment (read_write and bound_params need an admin)',
        params: instanceParams,
        body: patchInstanceBody,
        response: { 200: instanceSchema, ...authProblems, ...problems(409, 413, 422) },
      },
    },
    async (request) => {
      const ctx = requestContext(request);
      const instance = await attachments.patch(ctx, request.params.instance_id, request.body);
      const { connector, agent } = await attachments.require(ctx.organizationId, instance.id);
      return attachments.view(instance, connector, agent);
    },
  );

  app.delete(
    '/instances/:instance_id',
    {
      config: { access: { scope: 'org', role: 'developer' } },
      schema: { tags, summary: 'Detach', params: instanceParams, response: { 204: z.null(), ...authProblems } },
    },
    async (request, reply) => {
      await attachments.detach(requestContext(request), request.params.instance_id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/:id/execute',
    {
      config: { access: { scope: 'org', role: 'developer' }, resource: connectorExists },
      schema: {
        tags,
        summary: 'Run a query or operation directly (read mode and default limits unless an admin asks for read_write)',
        params: idParams,
        body: executeBody,
        response: { 200: executeResultSchema, ...authProblems, ...problems(409, 413, 422, 502, 504) },
      },
      serializerCompiler: executeSerializerCompiler,
    },
    async (request) => execution.executeDirect(requestContext(request), request.params.id, request.body),
  );
};

/** `If-Match: "3"` (or W/"3", or 3) → 3; absent → undefined; anything else is a malformed request. */
function ifMatchVersion(request: FastifyRequest): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(String(header));
  if (!match?.[1]) throw new PatchbayError('bad_request', 'If-Match must carry the version from the ETag, e.g. "3"');
  return Number(match[1]);
}

export default routes;
