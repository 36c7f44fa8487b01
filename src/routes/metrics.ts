import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { PatchbayError } from '../errors.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * GET /metrics in the Prometheus text format. Open when PATCHBAY_METRICS_TOKEN is unset (and then without
 * connector ids); with the token set, only `Authorization: Bearer <token>` reads it, and connector ids appear.
 */
const routes: FastifyPluginAsync = async (app) => {
  const token = app.config.metricsToken;
  const expected = token === undefined ? undefined : digest(token);

  // Digests of equal length, compared in constant time: the comparison reveals nothing about the token.
  const authorized = (request: FastifyRequest) => {
    if (!expected) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    return match?.[1] !== undefined && timingSafeEqual(digest(match[1]), expected);
  };

  app.get(
    '/metrics',
    { config: { access: { scope: 'public' } }, schema: { hide: true } },
    async (request, reply) => {
      if (!authorized(request)) {
        throw new PatchbayError('unauthenticated', '/metrics needs the PATCHBAY_METRICS_TOKEN as a bearer token', {
          headers: { 'WWW-Authenticate': 'Bearer realm="patchbay-metrics"' },
        });
      }
      const { metrics } = app.services;
      return reply.type(metrics.contentType).send(await metrics.render());
    },
  );
};

export default routes;
