import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Sequelize } from 'sequelize';
import type { Config } from './config.js';
import type { KeyRing } from './crypto/key-ring.js';
import { createSequelize } from './db/sequelize.js';
import { createLogger } from './logger.js';
import auth from './plugins/auth.js';
import webConsole from './plugins/console.js';
import db from './plugins/db.js';
import errorHandler, { frameworkErrors } from './plugins/error-handler.js';
import limits from './plugins/limits.js';
import metrics from './plugins/metrics.js';
import openapi from './plugins/openapi.js';
import requestGuard from './plugins/request-guard.js';
import services from './plugins/services.js';
import apiV1 from './routes/api/v1/index.js';
import { MAX_PARAM_LENGTH } from './schemas/strings.js';
import health from './routes/health.js';
import metricsRoute from './routes/metrics.js';
import { packageVersion } from './version.js';

export interface BuildOptions {
  config: Readonly<Config>;
  keyRing: KeyRing;
  /** An existing (migrated) database; otherwise one is opened from config and closed with the app. */
  sequelize?: Sequelize;
  logger?: Logger;
  /** The web console's build; @default packages/console/dist (not served when it does not exist) */
  consoleDir?: string;
}

// Request ids are cut from a pool of random bytes refilled 512 ids at a time: one randomBytes call per request was a
// system call on every request of the run-time path.
const ID_BYTES = 6;
let idPool = Buffer.alloc(0);
let idOffset = 0;
const requestId = () => {
  if (idOffset === idPool.length) {
    idPool = randomBytes(ID_BYTES * 512);
    idOffset = 0;
  }
  idOffset += ID_BYTES;
  return `req-${idPool.toString('base64url', idOffset - ID_BYTES, idOffset)}`;
};

/** The whole app, not listening: server.ts listens, tests call inject(). */
export async function buildApp(options: BuildOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify({
    loggerInstance: options.logger ?? createLogger(config),
    bodyLimit: config.bodyLimitBytes,
    genReqId: requestId,
    return503OnClosing: true,
    // Fastify's two lines per request ("incoming request", "request completed") would be the run-time path's
    // largest fixed cost at the default level; the access line below is written at debug only.
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // A malformed URL or an over-long path parameter is refused by the router itself: as problem+json too.
    frameworkErrors,
  }).withTypeProvider<ZodTypeProvider>();

  app.addHook('onResponse', async (request, reply) => {
    if ((request.log as Logger).isLevelEnabled('debug')) {
      request.log.debug({ method: request.method, url: request.routeOptions.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request completed');
    }
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // A POST whose fields are all optional (issue a token, create an API key) may come without a body at all, as
  // `curl -X POST` sends it; treat that as `{}` so it validates like an empty object.
  app.addHook('preValidation', async (request) => {
    if (request.body == null && (request.method === 'POST' || request.method === 'PUT' || request.method === 'PATCH')) {
      request.body = {};
    }
  });

  const sequelize = options.sequelize ?? createSequelize(config.database);
  await app.register(errorHandler);
  await app.register(requestGuard);
  await app.register(limits, { config });
  await app.register(db, { sequelize, closeOnShutdown: !options.sequelize });
  await app.register(services, { config, keyRing: options.keyRing });
  await app.register(metrics);
  await app.register(auth, {
    authenticators: {
      apiKey: (key) => app.services.accounts.authenticate(key),
      agentToken: (token) => app.services.agents.authenticateToken(token),
      session: (token) => app.services.sessions.authenticate(token),
    },
  });
  await app.register(openapi, { version: packageVersion });
  await app.register(health);
  await app.register(metricsRoute);
  await app.register(apiV1, { prefix: '/api/v1' });
  await app.register(webConsole, { dir: options.consoleDir });
  // The zod type provider is a compile-time view of the same instance.
  return app as unknown as FastifyInstance;
}
