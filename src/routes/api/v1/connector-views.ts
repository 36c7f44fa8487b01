import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { orgOf } from '../../../plugins/auth.js';
import { connectorAttachmentsSchema, testDraftBody } from '../../../schemas/console.js';
import { testResultSchema } from '../../../schemas/connectors.js';
import { authProblems, problems } from '../../../schemas/problem.js';
import { requestContext } from './context.js';

const idParams = z.object({ id: z.string() });

/** Connector endpoints the web console needs beside the reference ones: its attachments, a draft's test. */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['connectors'];
  const { attachments, connectors, consoleViews } = app.services;
  const connectorExists = async (request: FastifyRequest) => {
    await connectors.require(orgOf(request).organization.id, (request.params as { id: string }).id);
  };

  app.get(
    '/:id/attachments',
    {
      config: { access: { scope: 'org', role: 'member' }, resource: connectorExists },
      schema: { tags, summary: 'The agents this connector is attached to, and under which alias', params: idParams, response: { 200: connectorAttachmentsSchema, ...authProblems } },
    },
    async (request) => ({ data: await attachments.listForConnector(orgOf(request).organization.id, request.params.id), next_cursor: null }),
  );

  app.post(
    '/:id/test-draft',
    {
      config: { access: { scope: 'org', role: 'admin' }, resource: connectorExists },
      schema: {
        tags,
        summary: 'Test an edited, unsaved draft of a saved connector (admins only: it takes raw addresses; records no health)',
        params: idParams,
        body: testDraftBody,
        response: { 200: testResultSchema, ...authProblems, ...problems(413, 422) },
      },
    },
    async (request) => consoleViews.testDraft(requestContext(request), request.params.id, request.body.config),
  );
};

export default routes;
