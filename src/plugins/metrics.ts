import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Counts and times every HTTP response for /metrics. The route label is the registered pattern
 * (/api/v1/connectors/:id), never the raw URL, so ids and probes of unknown paths ("unmatched") stay bounded.
 */
export default fp(
  async function metrics(app: FastifyInstance) {
    app.addHook('onResponse', async (request, reply) => {
      app.services.metrics.observeHttp(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    });
  },
  { name: 'metrics', dependencies: ['services'] },
);
