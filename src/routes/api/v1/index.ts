import type { FastifyPluginAsync } from 'fastify';
import agents from './agents.js';
import apiKeys from './api-keys.js';
import auditEvents, { installationAuditEvents } from './audit-events.js';
import connectorViews from './connector-views.js';
import connectors from './connectors.js';
import invitations from './invitations.js';
import mcp from './mcp.js';
import me from './me.js';
import members from './members.js';
import provisioning from './provisioning.js';
import registry from './registry.js';
import sessions from './sessions.js';
import webhooks from './webhooks.js';
import whoami from './whoami.js';

/** Every /api/v1 resource; the prefix of each register() is its URL. */
const v1: FastifyPluginAsync = async (app) => {
  // Bodies are JSON only: Fastify's default text/plain parser would hand a string to the schemas (422), where a
  // wrong content type is a malformed request (400 bad_request).
  app.removeContentTypeParser('text/plain');
  await app.register(apiKeys, { prefix: '/api-keys' });
  await app.register(connectors, { prefix: '/connectors' });
  await app.register(connectorViews, { prefix: '/connectors' });
  await app.register(agents, { prefix: '/agents' });
  // The MCP endpoint of each agent: /agents/{id}/mcp.
  await app.register(mcp, { prefix: '/agents' });
  await app.register(members, { prefix: '/members' });
  await app.register(invitations, { prefix: '/invitations' });
  await app.register(auditEvents, { prefix: '/audit-events' });
  await app.register(installationAuditEvents, { prefix: '/installation/audit-events' });
  await app.register(webhooks, { prefix: '/webhooks' });
  await app.register(provisioning, { prefix: '/provisioning' });
  await app.register(whoami, { prefix: '/whoami' });
  await app.register(sessions, { prefix: '/sessions' });
  await app.register(me, { prefix: '/me' });
  // Installation-wide: serves /registry… and /agent-classes.
  await app.register(registry);
};

export default v1;
