import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Sequelize } from 'sequelize';
import { initModels, type Models } from '../db/models/index.js';

declare module 'fastify' {
  interface FastifyInstance {
    db: { sequelize: Sequelize; models: Models };
  }
}

/** Decorates the app with the database. The caller owns the Sequelize instance unless `closeOnShutdown`. */
export default fp(
  async function db(app: FastifyInstance, options: { sequelize: Sequelize; closeOnShutdown: boolean }) {
    app.decorate('db', { sequelize: options.sequelize, models: initModels(options.sequelize) });
    if (options.closeOnShutdown) app.addHook('onClose', async () => options.sequelize.close());
  },
  { name: 'db' },
);
