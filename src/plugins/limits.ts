import { createHash } from 'node:crypto';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { PatchbayError } from '../errors.js';

const WINDOW_MS = 60_000;
/** How long a credential that authenticated stays "known" to the failed-authentication bucket. */
const KNOWN_MS = 60 * 60_000;
/** Bounds the memory of both tables below: the oldest entries go first. */
const MAX_ENTRIES = 10_000;

/**
 * What the auth hook asks of the limits (DESIGN.md section 11, "Limits"). An authenticated request counts in
 * its principal's bucket (API key id, agent token id), however the header was spelled. A failed authentication
 * counts in its client address's stricter bucket; once that is spent, the address's further attempts answer
 * 429 before any lookup, except with a credential that authenticated lately, so that a client sharing an
 * address (a NAT, a proxy) with someone guessing keys keeps working.
 */
export interface CredentialLimits {
  /** Before the credential is looked up: 429 while the address's failed-authentication bucket is spent. */
  beforeLookup(request: FastifyRequest, credential: string | undefined): void;
  failed(request: FastifyRequest, credential: string | undefined): void;
  succeeded(credential: string): void;
  /** After authentication: one request from the principal in `request.caller`, 429 past the limit. */
  principal(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    credentialLimits: CredentialLimits;
  }
}

// Hashes, so that no credential sits in memory as a map key.
const digest = (credential: string) => createHash('sha256').update(credential).digest('base64url');

function remember<V>(map: Map<string, V>, key: string, value: V) {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_ENTRIES) map.delete(map.keys().next().value as string);
}

const rateLimited = (max: number, what: string, retryMs: number) => {
  const seconds = Math.max(1, Math.ceil(retryMs / 1000));
  return new PatchbayError('rate_limited', `more than ${max} ${what} a minute; retry in ${seconds} s`, {
    headers: { 'Retry-After': String(seconds) },
    extra: { retry_after_ms: retryMs },
  });
};

/** A fixed one-minute window of failed authentications per client address. */
function failedAuthLimits(max: number): Omit<CredentialLimits, 'principal'> {
  const failures = new Map<string, { count: number; start: number }>();
  const known = new Map<string, number>();
  const windowOf = (ip: string, now: number) => {
    const entry = failures.get(ip);
    return entry && now - entry.start < WINDOW_MS ? entry : undefined;
  };
  return {
    beforeLookup(request, credential) {
      const now = Date.now();
      const entry = windowOf(request.ip, now);
      if (!entry || entry.count < max) return;
      const knownUntil = credential === undefined ? undefined : known.get(digest(credential));
      if (knownUntil !== undefined && knownUntil > now) return;
      throw rateLimited(max, 'failed authentications from this address', entry.start + WINDOW_MS - now);
    },
    failed(request, credential) {
      if (credential !== undefined) known.delete(digest(credential));
      const now = Date.now();
      const entry = windowOf(request.ip, now) ?? { count: 0, start: now };
      entry.count += 1;
      remember(failures, request.ip, entry);
    },
    succeeded(credential) {
      remember(known, digest(credential), Date.now() + KNOWN_MS);
    },
  };
}

/** The principal whose bucket a request counts in: its credential's id once authenticated, else its address. */
function bucketKey(request: FastifyRequest): string {
  const caller = request.caller;
  if (caller?.kind === 'user') return `key:${caller.apiKeyId}`;
  if (caller?.kind === 'agent') return `token:${caller.agent.tokenId}`;
  return `ip:${request.ip}`;
}

const unlimited = new Set(['/healthz', '/readyz']);

/**
 * The rate limits and CORS of DESIGN.md sections 3 and 11. Routes that authenticate are counted by the auth
 * hook through `credentialLimits` (after the credential is known); every other request except the health
 * probes counts per client address here, before anything else runs.
 */
export default fp(
  async function limits(app: FastifyInstance, options: { config: Readonly<Config> }) {
    const { config } = options;
    await app.register(rateLimit, {
      global: false,
      max: config.rateLimitPerKey,
      timeWindow: WINDOW_MS,
      keyGenerator: bucketKey,
      errorResponseBuilder: (_request, context) =>
        new PatchbayError('rate_limited', `more than ${context.max} requests a minute; retry in ${context.after}`, {
          extra: { retry_after_ms: context.ttl },
        }),
    });
    const handler = app.rateLimit();
    const count = async (request: FastifyRequest, reply: FastifyReply) => {
      await handler.call(app, request, reply);
    };
    app.decorate('credentialLimits', { ...failedAuthLimits(config.rateLimitFailedAuth), principal: count });

    app.addHook('onRequest', async (request, reply) => {
      const access = request.routeOptions.config.access;
      if (access && access.scope !== 'public') return;
      if (request.routeOptions.url !== undefined && unlimited.has(request.routeOptions.url)) return;
      await count(request, reply);
    });

    await app.register(cors, {
      // No origin is allowed unless configured: the API is for servers and agents, not arbitrary pages.
      origin: config.allowedOrigins.length ? config.allowedOrigins : false,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'If-Match', 'X-Organization-Id', 'Mcp-Protocol-Version', 'Mcp-Session-Id'],
      exposedHeaders: ['ETag', 'Retry-After'],
      maxAge: 600,
    });
  },
  { name: 'limits' },
);
