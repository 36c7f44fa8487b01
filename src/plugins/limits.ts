import { createHash } from 'node:crypto';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { PatchbayError } from '../errors.js';

/**
 * The per-key rate limit and CORS of DESIGN.md section 3. The limit counts per presented credential (its hash,
 * so no key sits in memory as a map key), or per address for requests without one.
 */
export default fp(
  async function limits(app: FastifyInstance, options: { config: Readonly<Config> }) {
    await app.register(rateLimit, {
      max: options.config.rateLimitPerKey,
      timeWindow: 60_000,
      keyGenerator: (request) => {
        const header = request.headers.authorization;
        return header ? `key:${createHash('sha256').update(header).digest('base64url')}` : `ip:${request.ip}`;
      },
      allowList: (request) => request.url === '/healthz' || request.url === '/readyz',
      errorResponseBuilder: (_request, context) =>
        new PatchbayError('rate_limited', `more than ${context.max} requests a minute; retry in ${context.after}`, {
          extra: { retry_after_ms: context.ttl },
        }),
    });
    await app.register(cors, {
      // No origin is allowed unless configured: the API is for servers and agents, not arbitrary pages.
      origin: options.config.allowedOrigins.length ? options.config.allowedOrigins : false,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'X-Organization-Id', 'Mcp-Protocol-Version', 'Mcp-Session-Id'],
      exposedHeaders: ['ETag', 'Retry-After'],
      maxAge: 600,
    });
  },
  { name: 'limits' },
);
