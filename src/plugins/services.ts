import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { KeyRing } from '../crypto/key-ring.js';
import { createServices, type Services } from '../services/index.js';

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
    config: Readonly<Config>;
  }
}

export default fp(
  async function services(app: FastifyInstance, options: { config: Readonly<Config>; keyRing: KeyRing }) {
    app.decorate('config', options.config);
    const services = createServices({
      config: options.config,
      sequelize: app.db.sequelize,
      models: app.db.models,
      keyRing: options.keyRing,
      log: app.log as Logger,
    });
    app.decorate('services', services);
    // Other processes' changes reach the run-time caches from here on (LISTEN, or PRAGMA data_version).
    await services.changes.start();
    // Pooled connector sessions close with the app (SIGTERM included), before the database does; so do the change
    // listener and the writer (its last flush).
    app.addHook('preClose', async () => {
      await services.changes.close();
      await services.writer.close();
      await services.harness.close();
    });
  },
  { name: 'services', dependencies: ['db'] },
);
