import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { errorCodes } from '../errors.js';
import { shownSchema } from '../schemas/documented.js';

/** OpenAPI 3.1 generated from the routes' zod schemas, served at /api/v1/openapi.json with a UI at /docs. */
export default fp(
  async function openapi(app: FastifyInstance, options: { version: string }) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Patchbay API',
          version: options.version,
          description:
            'Connector registry and gateway for AI agents. Every error is application/problem+json with a stable `code`: ' +
            Object.keys(errorCodes).join(', ') +
            '.',
        },
        components: {
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API key (pbk_…) or agent token (pbt_…)' } },
        },
        security: [{ bearer: [] }],
      },
      // A body validated loosely but documented exactly (schemas/documented.ts) is shown as documented.
      transform: (input) =>
        jsonSchemaTransform(input.schema?.body ? { ...input, schema: { ...input.schema, body: shownSchema(input.schema.body) } } : input),
    });
    await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
    app.get('/api/v1/openapi.json', { schema: { hide: true }, config: { access: { scope: 'public' } } }, async () => app.swagger());
  },
  { name: 'openapi' },
);
