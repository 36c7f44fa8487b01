import type { FastifyPluginAsync } from 'fastify';
import apiKeys from './api-keys.js';
import connectors from './connectors.js';

/** Every /api/v1 resource; the prefix of each register() is its URL. */
const v1: FastifyPluginAsync = async (app) => {
  await app.register(apiKeys, { prefix: '/api-keys' });
  await app.register(connectors, { prefix: '/connectors' });
};

export default v1;
