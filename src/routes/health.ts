import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

const routes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/healthz',
    {
      config: { access: { scope: 'public' } },
      schema: { tags: ['health'], summary: 'The process is up', security: [], response: { 200: z.object({ status: z.literal('ok') }) } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { access: { scope: 'public' } },
      schema: {
        tags: ['health'],
        summary: 'The database is reachable',
        security: [],
        response: {
          200: z.object({ status: z.literal('ready'), database: z.string() }),
          503: z.object({ status: z.literal('unavailable') }),
        },
      },
    },
    async (_request, reply) => {
      try {
        await app.db.sequelize.authenticate();
      } catch (error) {
        app.log.warn({ err: error }, 'readiness check failed: database not reachable');
        return reply.code(503).send({ status: 'unavailable' as const });
      }
      return { status: 'ready' as const, database: app.db.sequelize.getDialect() };
    },
  );
};

export default routes;
