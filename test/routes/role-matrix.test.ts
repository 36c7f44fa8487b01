import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { build, type TestApp } from '../support/app.js';
import { client, registeredRoutes, type Call, type Method } from '../support/http.js';
import { requireServer } from '../support/servers.js';
import { asUser, inOrganization, installation } from '../support/contexts.js';

/**
 * Every endpoint of the API × every kind of caller, in the order of DESIGN.md section 5: 401 for a missing or
 * revoked credential, 404 for an organisation that is not the caller's, an agent token's 404 (another agent's
 * run-time path) or 403 (not a run-time path), 403 by role, 404 by existence, then validation. Allowed calls
 * act on real resources and answer their real status.
 */

const callers = ['admin', 'developer', 'member', 'agent', 'otherAgent', 'otherOrg', 'none', 'revoked', 'revokedToken'] as const;
type Caller = (typeof callers)[number];

interface Fixture {
  ctx: TestApp;
  call: Record<Caller, Call>;
  userIds: Partial<Record<Caller, string>>;
  connectorId: string;
  instanceId: string;
  agentClassUuid: string;
  connectorClassUuid: string;
  /** A spare member whose role the PATCH row sets. */
  spareMemberId: string;
  webhookId: string;
  fresh: {
    webhook(): Promise<string>;
    connector(): Promise<string>;
    agent(): Promise<string>;
    instance(): Promise<string>;
    token(): Promise<string>;
    member(): Promise<string>;
    apiKey(caller: Caller): Promise<string>;
    /** An open invitation into this organisation, to a new email: its id and token. */
    invitation(): Promise<{ id: string; token: string }>;
    /** An open invitation to the caller's own email (the admin's for callers without a user), from a new organisation. */
    invitationFor(caller: Caller): Promise<string>;
  };
  seq(): number;
}

interface Row {
  /** As Fastify registers it: `METHOD /api/v1/…` with `:param` names. */
  route: string;
  /** The status each caller gets, in the order of `callers`. */
  expect: string;
  /** The concrete request (url under /api/v1); destructive rows make a fresh resource per call. */
  request(f: Fixture, caller: Caller): Promise<{ url: string; body?: unknown }> | { url: string; body?: unknown };
  /** The request naming resources that do not exist (with the invalid body): where the caller would succeed, 404. */
  missing?: string;
  /** A query or body that fails validation: where the caller would succeed, 422 instead. */
  invalid?: { query?: string; body?: unknown };
}

const MISSING_UUID = '00000000-0000-4000-8000-000000000000';
const pgConfig = { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' };
const strictJunk = { surprise: true };
// Subscribed to an event the matrix never causes, so that nothing is delivered.
const webhookBody = { url: 'http://127.0.0.1:9/hook', events: ['connector.recovered'], secret: 'matrix-signing-secret' };

// `expect` columns, in the order of `callers`: admin (an operator too), developer, member, agent-1's token (the
// agent in the paths), agent-2's token, another organisation's admin naming this one, no key, a revoked API key,
// a revoked agent token.
const rows: Row[] = [
  { route: 'GET /api/v1/openapi.json', expect: '200 200 200 200 200 200 200 200 200', request: () => ({ url: '/openapi.json' }) },

  // User-level: the caller's own API keys; no organisation involved.
  { route: 'GET /api/v1/api-keys', expect: '200 200 200 403 403 200 401 401 401', request: () => ({ url: '/api-keys' }) },
  {
    route: 'POST /api/v1/api-keys',
    expect: '201 201 201 403 403 201 401 401 401',
    request: () => ({ url: '/api-keys', body: { name: 'matrix' } }),
    invalid: { body: { name: 42 } },
  },
  {
    route: 'DELETE /api/v1/api-keys/:key_id',
    expect: '204 204 204 403 403 204 401 401 401',
    request: async (f, caller) => ({ url: `/api-keys/${await f.fresh.apiKey(caller)}` }),
    missing: '/api-keys/no-such-key',
  },

  // Installation-wide: any user reads, operators (here: the admin) change.
  { route: 'GET /api/v1/registry', expect: '200 200 200 403 403 200 401 401 401', request: () => ({ url: '/registry' }) },
  {
    route: 'GET /api/v1/agent-classes',
    expect: '200 200 200 403 403 200 401 401 401',
    request: () => ({ url: '/agent-classes' }),
  },
  {
    route: 'POST /api/v1/agent-classes',
    expect: '201 403 403 403 403 403 401 401 401',
    request: () => ({ url: '/agent-classes', body: { name: 'Matrix', version: 1, configuration: {}, available: true } }),
    invalid: { body: { name: 'x' } },
  },
  {
    route: 'POST /api/v1/registry/agent-classes/:uuid',
    expect: '200 403 403 403 403 403 401 401 401',
    request: (f) => ({ url: `/registry/agent-classes/${f.agentClassUuid}` }),
    missing: `/registry/agent-classes/${MISSING_UUID}`,
  },
  {
    route: 'DELETE /api/v1/registry/agent-classes/:uuid',
    expect: '204 403 403 403 403 403 401 401 401',
    request: (f) => ({ url: `/registry/agent-classes/${f.agentClassUuid}` }),
    missing: `/registry/agent-classes/${MISSING_UUID}`,
  },
  {
    route: 'POST /api/v1/registry/connector-classes/:uuid',
    expect: '200 403 403 403 403 403 401 401 401',
    request: (f) => ({ url: `/registry/connector-classes/${f.connectorClassUuid}` }),
    missing: `/registry/connector-classes/${MISSING_UUID}`,
  },
  {
    route: 'DELETE /api/v1/registry/connector-classes/:uuid',
    expect: '204 403 403 403 403 403 401 401 401',
    request: (f) => ({ url: `/registry/connector-classes/${f.connectorClassUuid}` }),
    missing: `/registry/connector-classes/${MISSING_UUID}`,
  },

  // Connectors and attachments.
  {
    route: 'GET /api/v1/connectors/types',
    expect: '200 200 200 403 403 404 401 401 401',
    request: () => ({ url: '/connectors/types' }),
  },
  {
    route: 'POST /api/v1/connectors',
    expect: '201 403 403 403 403 404 401 401 401',
    request: (f) => ({
      url: '/connectors',
      body: { name: `matrix-${f.seq()}`, connector_type: 'database', provider: 'postgresql', config: pgConfig },
    }),
    invalid: { body: strictJunk },
  },
  {
    route: 'GET /api/v1/connectors',
    expect: '200 200 200 403 403 404 401 401 401',
    request: () => ({ url: '/connectors' }),
    invalid: { query: '?limit=500' },
  },
  {
    route: 'POST /api/v1/connectors/test',
    expect: '200 403 403 403 403 404 401 401 401',
    request: () => ({ url: '/connectors/test', body: { connector_type: 'database', provider: 'postgresql', config: pgConfig } }),
    invalid: { body: strictJunk },
  },
  {
    route: 'GET /api/v1/connectors/:id',
    expect: '200 200 200 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}` }),
    missing: '/connectors/no-such-connector',
  },
  {
    route: 'PUT /api/v1/connectors/:id',
    expect: '200 403 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}`, body: { description: 'updated by the matrix' } }),
    missing: '/connectors/no-such-connector',
    invalid: { body: strictJunk },
  },
  {
    route: 'DELETE /api/v1/connectors/:id',
    expect: '204 403 403 403 403 404 401 401 401',
    request: async (f) => ({ url: `/connectors/${await f.fresh.connector()}` }),
    missing: '/connectors/no-such-connector',
    invalid: { query: '?force=maybe' },
  },
  {
    route: 'POST /api/v1/connectors/:id/test',
    expect: '200 200 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}/test` }),
    missing: '/connectors/no-such-connector/test',
  },
  {
    route: 'GET /api/v1/connectors/:id/attachments',
    expect: '200 200 200 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}/attachments` }),
    missing: '/connectors/no-such-connector/attachments',
  },
  {
    route: 'POST /api/v1/connectors/:id/test-draft',
    expect: '200 403 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}/test-draft`, body: { config: { port: 5432 } } }),
    missing: '/connectors/no-such-connector/test-draft',
    invalid: { body: strictJunk },
  },
  {
    route: 'GET /api/v1/connectors/:id/health',
    expect: '200 200 200 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}/health` }),
    missing: '/connectors/no-such-connector/health',
    invalid: { query: '?limit=0' },
  },
  {
    route: 'POST /api/v1/connectors/:id/attach',
    expect: '201 201 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}/attach`, body: { agent_id: 'agent-1', alias: `matrix_${f.seq()}` } }),
    missing: '/connectors/no-such-connector/attach',
    invalid: { body: { agent_id: 'agent-1', alias: 'Not An Alias' } },
  },
  {
    route: 'PATCH /api/v1/connectors/instances/:instance_id',
    expect: '200 200 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/instances/${f.instanceId}`, body: { limits: { max_rows: 10 } } }),
    missing: '/connectors/instances/no-such-instance',
    invalid: { body: { alias: 'Not An Alias' } },
  },
  {
    route: 'DELETE /api/v1/connectors/instances/:instance_id',
    expect: '204 204 403 403 403 404 401 401 401',
    request: async (f) => ({ url: `/connectors/instances/${await f.fresh.instance()}` }),
    missing: '/connectors/instances/no-such-instance',
  },
  {
    route: 'POST /api/v1/connectors/:id/execute',
    expect: '200 200 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/connectors/${f.connectorId}/execute`, body: { query: 'SELECT 1 AS one' } }),
    missing: '/connectors/no-such-connector/execute',
    invalid: { body: ['not', 'an', 'object'] },
  },

  // Agents, their tokens, and the run-time paths an agent's own token may call ("agent" holds agent-1's token).
  {
    route: 'POST /api/v1/agents',
    expect: '201 201 403 403 403 404 401 401 401',
    request: () => ({ url: '/agents', body: {} }),
    invalid: { body: { id: '-not an id' } },
  },
  {
    route: 'GET /api/v1/agents',
    expect: '200 200 200 403 403 404 401 401 401',
    request: () => ({ url: '/agents' }),
    invalid: { query: '?limit=0' },
  },
  {
    route: 'GET /api/v1/agents/:id',
    expect: '200 200 200 403 403 404 401 401 401',
    request: () => ({ url: '/agents/agent-1' }),
    missing: '/agents/no-such-agent',
  },
  {
    route: 'DELETE /api/v1/agents/:id',
    expect: '204 204 403 403 403 404 401 401 401',
    request: async (f) => ({ url: `/agents/${await f.fresh.agent()}` }),
    missing: '/agents/no-such-agent',
  },
  {
    route: 'POST /api/v1/agents/:id/tokens',
    expect: '201 201 403 403 403 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/tokens', body: {} }),
    missing: '/agents/no-such-agent/tokens',
    invalid: { body: { expires_at: 'tomorrow' } },
  },
  {
    route: 'GET /api/v1/agents/:id/tokens',
    expect: '200 200 403 403 403 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/tokens' }),
    missing: '/agents/no-such-agent/tokens',
  },
  {
    route: 'DELETE /api/v1/agents/:id/tokens/:token_id',
    expect: '204 204 403 403 403 404 401 401 401',
    request: async (f) => ({ url: `/agents/agent-1/tokens/${await f.fresh.token()}` }),
    missing: '/agents/agent-1/tokens/no-such-token',
  },
  {
    route: 'GET /api/v1/agents/:id/connectors',
    expect: '200 200 200 200 404 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/connectors' }),
    missing: '/agents/no-such-agent/connectors',
  },
  {
    route: 'POST /api/v1/agents/:id/connectors/:alias/execute',
    expect: '200 200 403 200 404 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/connectors/db/execute', body: { query: 'SELECT 1 AS one' } }),
    missing: '/agents/agent-1/connectors/no_such_alias/execute',
    invalid: { body: ['not', 'an', 'object'] },
  },

  // The agent's tools, and its MCP endpoint (stateless: only POST is offered, GET and DELETE answer 405).
  {
    route: 'GET /api/v1/agents/:id/tools',
    expect: '200 200 200 200 404 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/tools' }),
    missing: '/agents/no-such-agent/tools',
    invalid: { query: '?surprise=1' },
  },
  {
    route: 'POST /api/v1/agents/:id/mcp',
    expect: '200 200 403 200 404 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/mcp', body: { jsonrpc: '2.0', id: 1, method: 'tools/list' } }),
    missing: '/agents/no-such-agent/mcp',
    invalid: { body: strictJunk },
  },
  {
    route: 'GET /api/v1/agents/:id/mcp',
    expect: '405 405 403 405 404 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/mcp' }),
    missing: '/agents/no-such-agent/mcp',
  },
  {
    route: 'DELETE /api/v1/agents/:id/mcp',
    expect: '405 405 403 405 404 404 401 401 401',
    request: () => ({ url: '/agents/agent-1/mcp' }),
    missing: '/agents/no-such-agent/mcp',
  },

  // Any credential: who it is.
  { route: 'GET /api/v1/whoami', expect: '200 200 200 200 200 200 401 401 401', request: () => ({ url: '/whoami' }) },

  // The web console: signing in takes a key in the body, whatever the headers say; signing out is idempotent.
  {
    route: 'POST /api/v1/sessions',
    expect: '201 201 201 201 201 201 201 201 201',
    request: async (f) => ({ url: '/sessions', body: { api_key: (await f.ctx.accounts.issueApiKey(installation, f.userIds.admin as string)).key } }),
    invalid: { body: { api_key: 42 } },
  },
  { route: 'DELETE /api/v1/sessions/current', expect: '204 204 204 204 204 204 204 204 204', request: () => ({ url: '/sessions/current' }) },
  { route: 'GET /api/v1/me', expect: '200 200 200 403 403 200 401 401 401', request: () => ({ url: '/me' }) },

  // Members and the audit log.
  { route: 'GET /api/v1/members', expect: '200 200 200 403 403 404 401 401 401', request: () => ({ url: '/members' }) },
  {
    route: 'POST /api/v1/members',
    expect: '201 403 403 403 403 404 401 401 401',
    request: (f) => ({ url: '/members', body: { email: `matrix-${f.seq()}@example.test`, role: 'member' } }),
    invalid: { body: { email: 'not-an-email', role: 'member' } },
  },
  {
    route: 'PATCH /api/v1/members/:user_id',
    expect: '200 403 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/members/${f.spareMemberId}`, body: { role: 'member' } }),
    missing: '/members/no-such-user',
    invalid: { body: { role: 'owner' } },
  },
  {
    route: 'DELETE /api/v1/members/:user_id',
    expect: '204 403 403 403 403 404 401 401 401',
    request: async (f) => ({ url: `/members/${await f.fresh.member()}` }),
    missing: '/members/no-such-user',
  },

  // Invitations: admins see and revoke their organisation's; an account answers its own with its key; a token
  // is redeemed without one.
  {
    route: 'GET /api/v1/members/invitations',
    expect: '200 403 403 403 403 404 401 401 401',
    request: () => ({ url: '/members/invitations' }),
  },
  {
    route: 'DELETE /api/v1/members/invitations/:invitation_id',
    expect: '204 403 403 403 403 404 401 401 401',
    request: async (f) => ({ url: `/members/invitations/${(await f.fresh.invitation()).id}` }),
    missing: '/members/invitations/no-such-invitation',
  },
  { route: 'GET /api/v1/invitations', expect: '200 200 200 403 403 200 401 401 401', request: () => ({ url: '/invitations' }) },
  {
    route: 'POST /api/v1/invitations/:id/accept',
    expect: '200 200 200 403 403 200 401 401 401',
    request: async (f, caller) => ({ url: `/invitations/${await f.fresh.invitationFor(caller)}/accept` }),
    missing: '/invitations/no-such-invitation/accept',
  },
  {
    route: 'POST /api/v1/invitations/:id/decline',
    expect: '200 200 200 403 403 200 401 401 401',
    request: async (f, caller) => ({ url: `/invitations/${await f.fresh.invitationFor(caller)}/decline` }),
    missing: '/invitations/no-such-invitation/decline',
  },
  {
    route: 'POST /api/v1/invitations/redeem',
    expect: '201 201 201 201 201 201 201 201 201',
    request: async (f) => ({ url: '/invitations/redeem', body: { token: (await f.fresh.invitation()).token } }),
    invalid: { body: { token: 42 } },
  },

  // Webhooks: admins only, as they show URLs.
  {
    route: 'GET /api/v1/webhooks',
    expect: '200 403 403 403 403 404 401 401 401',
    request: () => ({ url: '/webhooks' }),
    invalid: { query: '?limit=0' },
  },
  {
    route: 'POST /api/v1/webhooks',
    expect: '201 403 403 403 403 404 401 401 401',
    request: () => ({ url: '/webhooks', body: webhookBody }),
    invalid: { body: strictJunk },
  },
  {
    route: 'GET /api/v1/webhooks/:id',
    expect: '200 403 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/webhooks/${f.webhookId}` }),
    missing: '/webhooks/no-such-webhook',
  },
  {
    route: 'PATCH /api/v1/webhooks/:id',
    expect: '200 403 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/webhooks/${f.webhookId}`, body: { description: 'patched by the matrix' } }),
    missing: '/webhooks/no-such-webhook',
    invalid: { body: strictJunk },
  },
  {
    route: 'DELETE /api/v1/webhooks/:id',
    expect: '204 403 403 403 403 404 401 401 401',
    request: async (f) => ({ url: `/webhooks/${await f.fresh.webhook()}` }),
    missing: '/webhooks/no-such-webhook',
  },
  // Provisioning: admins only, as a file creates connectors and webhooks.
  ...(['plan', 'apply'] as const).map(
    (action): Row => ({
      route: `POST /api/v1/provisioning/${action}`,
      expect: '200 403 403 403 403 404 401 401 401',
      request: async (f) => ({ url: `/provisioning/${action}`, body: { file: { organization: (await f.ctx.models.Connector.findByPk(f.connectorId))?.organization_id } } }),
      invalid: { body: strictJunk },
    }),
  ),
  {
    route: 'GET /api/v1/provisioning/export',
    expect: '200 403 403 403 403 404 401 401 401',
    request: () => ({ url: '/provisioning/export' }),
  },
  {
    route: 'GET /api/v1/webhooks/:id/deliveries',
    expect: '200 403 403 403 403 404 401 401 401',
    request: (f) => ({ url: `/webhooks/${f.webhookId}/deliveries` }),
    missing: '/webhooks/no-such-webhook/deliveries',
    invalid: { query: '?limit=0' },
  },
  {
    route: 'GET /api/v1/audit-events',
    expect: '200 403 403 403 403 404 401 401 401',
    request: () => ({ url: '/audit-events' }),
    invalid: { query: '?limit=0' },
  },
  // The events of no organisation: operators only (the admin is one; the other organisation's admin is not).
  {
    route: 'GET /api/v1/installation/audit-events',
    expect: '200 403 403 403 403 403 401 401 401',
    request: () => ({ url: '/installation/audit-events' }),
    invalid: { query: '?limit=0' },
  },
];

const codeOf: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  422: 'validation_failed',
};
// Answered by the handler itself, once the caller, the role and the resource have passed.
const HANDLER_REFUSALS = new Set([405]);

async function setup(t: TestContext): Promise<Fixture | undefined> {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  // The matrix sends a few hundred requests per credential: the rate limit is not what it tests.
  const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_PER_KEY: '100000', PATCHBAY_RATE_LIMIT_FAILED_AUTH: '100000' } });
  if (!ctx) return undefined;
  const { services } = ctx.app;
  const admin = await ctx.user('admin', { operator: true });
  const developer = await ctx.user('developer', { org: admin.orgSlug });
  const member = await ctx.user('member', { org: admin.orgSlug });
  const spare = await ctx.user('member', { org: admin.orgSlug });
  const stranger = await ctx.user('admin');
  const revokedKey = await ctx.accounts.issueApiKey(asUser(admin.userId), admin.userId);
  await ctx.accounts.revokeApiKey(installation, revokedKey.id);

  const context = { organizationId: admin.orgId, actor: { type: 'user' as const, id: admin.userId }, role: 'admin' as const };
  const agent1 = await services.agents.create(inOrganization(admin.orgId, admin.userId), { id: 'agent-1' });
  const agent2 = await services.agents.create(inOrganization(admin.orgId, admin.userId), { id: 'agent-2' });
  const token1 = await services.agents.issueToken(inOrganization(agent1.organization_id, admin.userId), agent1, {});
  const token2 = await services.agents.issueToken(inOrganization(agent2.organization_id, admin.userId), agent2, {});
  const revokedToken = await services.agents.issueToken(inOrganization(agent1.organization_id, admin.userId), agent1, {});
  await services.agents.revokeToken(inOrganization(agent1.organization_id), agent1, revokedToken.id);

  let counter = 0;
  const seq = () => ++counter;
  const newConnector = async () =>
    (
      await services.connectors.create(context, {
        name: `fixture-${seq()}`,
        connector_type: 'database',
        provider: 'postgresql',
        config: pgConfig,
      })
    ).id;
  const connectorId = await newConnector();
  const instance = await services.attachments.attach(context, connectorId, { agent_id: 'agent-1', alias: 'db' });
  const agentClass = await services.registry.createAgentClass(installation, {
    name: 'Fixture',
    version: 1,
    configuration: {},
    available: true,
  });
  const connectorClass = await ctx.models.PsAgentConnectorClass.create({
    user_id: 1,
    name: 'Theirs',
    version: 1,
    configuration: {},
    available: true,
  });

  const userIds: Partial<Record<Caller, string>> = {
    admin: admin.userId,
    developer: developer.userId,
    member: member.userId,
    otherOrg: stranger.userId,
  };
  const { app } = ctx;
  const newWebhook = async () => {
    const response = await client(app, admin.key)('POST', '/webhooks', webhookBody);
    assert.equal(response.statusCode, 201, response.body);
    return (response.json() as { id: string }).id;
  };
  const webhookId = await newWebhook();
  return {
    ctx,
    call: {
      admin: client(app, admin.key),
      developer: client(app, developer.key),
      member: client(app, member.key),
      agent: client(app, token1.token),
      otherAgent: client(app, token2.token),
      // Another organisation's admin, naming this organisation.
      otherOrg: client(app, stranger.key, admin.orgId),
      none: client(app, undefined),
      revoked: client(app, revokedKey.key),
      revokedToken: client(app, revokedToken.token),
    },
    userIds,
    connectorId,
    instanceId: instance.id,
    agentClassUuid: agentClass.uuid,
    connectorClassUuid: connectorClass.uuid,
    spareMemberId: spare.userId,
    webhookId,
    fresh: {
      webhook: newWebhook,
      connector: newConnector,
      agent: async () => (await services.agents.create(inOrganization(admin.orgId, admin.userId), {})).agent_id,
      instance: async () =>
        (await services.attachments.attach(context, connectorId, { agent_id: 'agent-1', alias: `fresh_${seq()}` })).id,
      token: async () => (await services.agents.issueToken(inOrganization(agent1.organization_id, admin.userId), agent1, {})).id,
      member: async () => (await ctx.user('member', { org: admin.orgSlug })).userId,
      // A user revokes their own key; callers without a user get one of the admin's.
      apiKey: async (caller) => (await ctx.accounts.issueApiKey(installation, userIds[caller] ?? admin.userId)).id,
      invitation: async () => services.accounts.invite(inOrganization(admin.orgId, admin.userId), { email: `invited-${seq()}@example.test`, role: 'member' }),
      invitationFor: async (caller) => {
        const user = await ctx.models.User.findByPk(userIds[caller] ?? admin.userId);
        const host = await ctx.accounts.createOrganization({ slug: `host-${process.pid}-${seq()}` });
        return (await services.accounts.invite(inOrganization(host.id), { email: user?.email ?? '', role: 'developer' })).id;
      },
    },
    seq,
  };
}

type Variant = 'allowed' | 'missing' | 'invalid' | 'malformed' | 'missing+malformed';

/**
 * What a variant of a row answers a caller: the caller's refusal (401, 403, 404 for the organisation or the
 * agent) always comes first; only where the plain request would reach its handler does the variant's own
 * failure show.
 */
function expectedStatus(row: Row, index: number, variant: Variant): number {
  const base = Number(row.expect.split(/\s+/)[index]);
  if ((base >= 300 && !HANDLER_REFUSALS.has(base)) || variant === 'allowed') return base;
  return { missing: 404, 'missing+malformed': 404, invalid: 422, malformed: 400 }[variant];
}

async function runVariant(f: Fixture, row: Row, variant: Variant): Promise<string[]> {
  const method = row.route.split(' ')[0] as Method;
  const mismatches: string[] = [];
  for (const [index, caller] of callers.entries()) {
    const request = await row.request(f, caller);
    let url = request.url;
    let body = request.body;
    let headers: Record<string, string> | undefined;
    // A missing resource with an invalid body or query too: existence is decided first.
    if (variant === 'missing') {
      url = (row.missing as string) + (row.invalid?.query ?? '');
      if (row.invalid && 'body' in row.invalid) body = row.invalid.body;
    }
    if (variant === 'missing+malformed') url = row.missing as string;
    if (variant === 'invalid') {
      url += row.invalid?.query ?? '';
      if (row.invalid && 'body' in row.invalid) body = row.invalid.body;
    }
    if (variant === 'malformed' || variant === 'missing+malformed') {
      body = '{"truncated": ';
      headers = { 'content-type': 'application/json' };
    }
    const response = await f.call[caller](method, url, body, headers);
    const status = expectedStatus(row, index, variant);
    const code = response.statusCode >= 400 ? (response.json() as { code?: string }).code : undefined;
    const wantedCode = status >= 400 ? codeOf[status] : undefined;
    if (response.statusCode !== status || code !== wantedCode) {
      mismatches.push(
        `${variant} ${row.route} as ${caller}: expected ${status} ${wantedCode ?? ''}, got ${response.statusCode} ${code ?? ''} ${response.statusCode >= 500 ? response.body : ''}`.trim(),
      );
    }
  }
  return mismatches;
}

describe('role matrix', () => {
  it('has one row for every route under /api/v1', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const served = (await registeredRoutes(ctx.app)).filter((route) => route.split(' ')[1]?.startsWith('/api/v1/'));
    const covered = rows.map((row) => row.route);
    assert.deepEqual(
      served.filter((route) => !covered.includes(route)),
      [],
      'routes without a row',
    );
    assert.deepEqual(
      covered.filter((route) => !served.includes(route)),
      [],
      'rows for routes that are not served',
    );
    assert.equal(new Set(covered).size, covered.length, 'one row per route');
    for (const row of rows) assert.equal(row.expect.split(/\s+/).length, callers.length, row.route);
  });

  it('answers every caller of every endpoint in the order of DESIGN.md section 5', async (t) => {
    const f = await setup(t);
    if (!f) return;
    const mismatches: string[] = [];
    for (const row of rows) {
      mismatches.push(...(await runVariant(f, row, 'allowed')));
      // Existence comes after authorisation, validation after existence; a malformed body comes after both.
      if (row.missing) mismatches.push(...(await runVariant(f, row, 'missing')));
      if (row.invalid) mismatches.push(...(await runVariant(f, row, 'invalid')));
      if (['POST', 'PUT', 'PATCH'].includes(row.route.split(' ')[0] as string)) {
        mismatches.push(...(await runVariant(f, row, 'malformed')));
        // Where the endpoint takes a body: a missing resource answers 404 before its body is even read.
        const { body } = await row.request(f, 'member');
        if (row.missing && body !== undefined) mismatches.push(...(await runVariant(f, row, 'missing+malformed')));
      }
    }
    assert.deepEqual(mismatches, []);

    // The allowed calls did what they say, on the real resources.
    const { ctx } = f;
    assert.ok(await ctx.models.Connector.findByPk(f.connectorId), 'the shared connector is still there');
    const tested = await ctx.models.ConnectorHealthCheck.findAll({ where: { connector_id: f.connectorId } });
    assert.deepEqual(
      tested.map((row) => row.success),
      [true, true],
      'one successful health row per allowed test (admin, developer)',
    );
  });
});
