import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { z } from 'zod';
import { PatchbayError } from '../../../errors.js';
import { orgOf } from '../../../plugins/auth.js';
import { codeForStatus } from '../../../plugins/error-handler.js';
import { agentParams, mcpBody, toolsQuery } from '../../../schemas/agents.js';
import { authProblems, problems } from '../../../schemas/problem.js';
import type { McpAnswer } from '../../../services/runtime/mcp-server.js';
import { runtimeContext } from './context.js';

// The answers are JSON-RPC as the MCP SDK writes them; documented, not re-validated.
const jsonRpcAnswer = z.unknown().describe('JSON-RPC 2.0 response(s)');

/**
 * The MCP endpoint of an agent: Streamable HTTP, stateless, JSON responses (DESIGN.md section 5). Authenticated
 * on every request like the REST run-time path (the agent's token, or a developer), hosted inside Fastify so
 * that its hooks, logging, body limit and rate limit apply: the request is handed to the SDK's web-standard
 * transport with its already parsed body, and the transport's answer copied onto the reply.
 */
const routes: FastifyPluginAsyncZod = async (app) => {
  const tags = ['agents'];
  const { agents, mcp } = app.services;
  const allowedOrigins = new Set(app.config.allowedOrigins);

  const access = { scope: 'org', role: 'developer', agent: true } as const;
  // 404 for an agent that does not exist (an agent token names its own, which does: no lookup for it).
  const agentExists = async (request: FastifyRequest) => {
    if (request.caller?.kind === 'agent') return;
    await agents.require(orgOf(request).organization.id, (request.params as { id: string }).id);
  };
  // A browser page may not drive an agent's tools (DNS rebinding included): an Origin must be on the allow-list.
  // Clients that are not browsers send none.
  const checkOrigin = async (request: FastifyRequest) => {
    const origin = request.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) {
      throw new PatchbayError('forbidden', 'this Origin is not in PATCHBAY_ALLOWED_ORIGINS');
    }
  };

  app.post(
    '/:id/mcp',
    {
      // No log line per call at the default level (the audit log has every call).
      logLevel: 'warn',
      config: { access, resource: agentExists },
      onRequest: checkOrigin,
      schema: {
        tags,
        summary: "The agent's MCP endpoint (Streamable HTTP, stateless): its attachments as tools",
        params: agentParams,
        querystring: toolsQuery,
        body: mcpBody,
        response: { 200: jsonRpcAnswer, 202: z.null().describe('notifications only'), ...authProblems, ...problems(413, 422) },
      },
    },
    async (request, reply) => {
      const response = await mcp.handle(webRequest(request), request.body, {
        ctx: runtimeContext(request),
        agentId: request.params.id,
        aliases: request.query.aliases,
        log: request.log as Logger,
      });
      return sendResponse(reply, response);
    },
  );

  // Stateless: no server-sent event stream to open (GET) and no session to end (DELETE).
  for (const method of ['GET', 'DELETE'] as const) {
    app.route({
      method,
      url: '/:id/mcp',
      config: { access, resource: agentExists },
      onRequest: checkOrigin,
      schema: { tags, summary: `Not offered by the stateless MCP endpoint (${method})`, params: agentParams, response: { ...authProblems, ...problems(405) } },
      handler: async (_request, reply) => {
        reply.header('Allow', 'POST');
        throw new PatchbayError('method_not_allowed', 'the MCP endpoint is stateless: send JSON-RPC messages with POST');
      },
    });
  }
};

/**
 * The Fastify request as a web Request for the transport: its method, URL and headers, less the credential (the
 * SDK needs none, and a token is never handed on). The body is passed parsed, beside it. Clients that send no
 * Accept (curl) are taken to accept JSON, the only thing this endpoint answers.
 */
function webRequest(request: FastifyRequest): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || name === 'authorization' || name === 'content-length' || name === 'host') continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const accept = headers.get('accept');
  if (!accept || accept === '*/*') headers.set('accept', 'application/json, text/event-stream');
  return new Request(new URL(request.url, `${request.protocol}://${request.host}`), { method: request.method, headers });
}

function sendResponse(reply: FastifyReply, response: McpAnswer): FastifyReply {
  if (response.status >= 400) throw transportRefusal(response);
  reply.code(response.status);
  response.headers.forEach((value, name) => {
    if (name !== 'content-length') reply.header(name, value);
  });
  return response.body ? reply.send(response.body) : reply.send();
}

/**
 * The transport's own refusals (a message that is not JSON-RPC, an Accept it cannot serve) as problem+json like
 * every other error, keeping its JSON-RPC error beside the problem's members for an MCP client that reads it.
 */
function transportRefusal(response: McpAnswer): PatchbayError {
  let rpc: { jsonrpc?: unknown; error?: { message?: unknown } } = {};
  try {
    rpc = JSON.parse(response.body) as typeof rpc;
  } catch {
    // not JSON: the status alone says it
  }
  const message = typeof rpc.error?.message === 'string' ? rpc.error.message : `the MCP transport refused the request (HTTP ${response.status})`;
  return new PatchbayError(codeForStatus(response.status), message, rpc.jsonrpc === '2.0' ? { extra: { jsonrpc: '2.0', error: rpc.error, id: null } } : {});
}

export default routes;
