import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { getProvider } from '../../src/providers/registry.js';
import type { AttachmentLimits } from '../../src/schemas/vocabulary.js';
import { build, type BuildOptions, type TestApp } from '../support/app.js';
import { client as restClient, type Reply } from '../support/http.js';
import { inOrganization } from '../support/contexts.js';

/**
 * An agent's world for the MCP and parity suites: the app listening on 127.0.0.1 at a free port, an admin, agent
 * `agent-1` with a token, and helpers to add connectors and attachments, call the REST run-time path, and connect
 * the official SDK's MCP client over HTTP.
 */
export interface AgentWorld {
  ctx: TestApp;
  /** `http://127.0.0.1:<port>` */
  base: string;
  admin: { key: string; userId: string; orgId: string; orgSlug: string };
  agentId: string;
  token: string;
  connector(provider: string, config: Record<string, unknown>, options?: { enabled?: boolean }): Promise<string>;
  attach(
    connectorId: string,
    alias: string,
    options?: { mode?: 'read' | 'read_write'; limits?: AttachmentLimits; bound_params?: Record<string, unknown> },
  ): Promise<string>;
  /** POST /api/v1/agents/agent-1/connectors/{alias}/execute with the agent's token. */
  rest(alias: string, body: Record<string, unknown>, headers?: Record<string, string>): Promise<Reply>;
  /** An MCP client of the official SDK, connected over HTTP with the agent's token; closed after the test. */
  mcp(options?: { aliases?: string; token?: string; name?: string }): Promise<Client>;
}

let worlds = 0;

export async function agentWorld(t: TestContext, options: BuildOptions = {}): Promise<AgentWorld | undefined> {
  // The suites send many requests with one token: the per-key limit is not what they test.
  const ctx = await build(t, { ...options, env: { PATCHBAY_RATE_LIMIT_PER_KEY: '100000', ...options.env } });
  if (!ctx) return undefined;
  await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;
  const { services } = ctx.app;
  const admin = await ctx.user('admin');
  const context = { organizationId: admin.orgId, actor: { type: 'user' as const, id: admin.userId }, role: 'admin' as const };
  const agentId = 'agent-1';
  const agent = await services.agents.create(inOrganization(admin.orgId, admin.userId), { id: agentId });
  const { token } = await services.agents.issueToken(inOrganization(agent.organization_id, admin.userId), agent, {});
  const asAgent = restClient(ctx.app, token);
  worlds += 1;
  let connectors = 0;
  return {
    ctx,
    base,
    admin,
    agentId,
    token,
    async connector(provider, config, { enabled } = {}) {
      const created = await services.connectors.create(context, {
        name: `${provider}-${worlds}-${(connectors += 1)}`,
        connector_type: getProvider(provider)?.type ?? 'database',
        provider,
        config,
        enabled,
        health_check_interval_s: 0,
      });
      return created.id;
    },
    async attach(connectorId, alias, { mode, limits, bound_params } = {}) {
      const instance = await services.attachments.attach(context, connectorId, { agent_id: agentId, alias, mode, limits });
      if (bound_params) await services.attachments.patch(context, instance.id, { bound_params });
      return instance.id;
    },
    rest: (alias, body, headers) => asAgent('POST', `/agents/${agentId}/connectors/${alias}/execute`, body, headers),
    async mcp({ aliases, token: other, name = 'patchbay-test' } = {}) {
      const url = new URL(`${base}/api/v1/agents/${agentId}/mcp${aliases === undefined ? '' : `?aliases=${aliases}`}`);
      const mcpClient = new Client({ name, version: '1.2.3' });
      const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${other ?? token}` } } });
      await mcpClient.connect(transport);
      t.after(() => mcpClient.close());
      return mcpClient;
    },
  };
}

/** What a call through either path came to: its envelope on success, its code and message on failure. */
export type Outcome =
  | { ok: true; data: unknown; truncated: boolean }
  | { ok: false; code: string; message: string; retry_after_ms?: number };

export function restOutcome(reply: Reply): Outcome {
  const body = reply.json() as Record<string, unknown>;
  if (reply.statusCode === 200) {
    assert.equal(body.ok, true, reply.body);
    assert.equal(typeof body.latency_ms, 'number');
    return { ok: true, data: body.data, truncated: body.truncated as boolean };
  }
  return {
    ok: false,
    code: body.code as string,
    message: body.detail as string,
    ...(typeof body.retry_after_ms === 'number' ? { retry_after_ms: body.retry_after_ms } : {}),
  };
}

interface ToolEnvelope {
  ok: boolean;
  data?: unknown;
  latency_ms?: number;
  truncated?: boolean;
  error?: { code: string; message: string; retryable: boolean; retry_after_ms?: number };
}

/** The outcome of an MCP tool call; asserts that the text content repeats the structured content. */
export function mcpOutcome(result: CallToolResult): Outcome {
  const envelope = result.structuredContent as unknown as ToolEnvelope;
  assert.ok(envelope, 'structuredContent is set');
  const [first] = result.content;
  assert.equal(first?.type, 'text');
  assert.deepEqual(JSON.parse((first as { text: string }).text), envelope, 'the text content is the same JSON');
  if (envelope.ok) {
    assert.notEqual(result.isError, true);
    return { ok: true, data: envelope.data, truncated: envelope.truncated as boolean };
  }
  assert.equal(result.isError, true);
  const error = envelope.error as NonNullable<ToolEnvelope['error']>;
  assert.equal(typeof error.retryable, 'boolean');
  return { ok: false, code: error.code, message: error.message, ...(error.retry_after_ms === undefined ? {} : { retry_after_ms: error.retry_after_ms }) };
}

/** The text notices after the JSON of a tool result (the truncation notice). */
export const notices = (result: CallToolResult): string[] =>
  result.content.slice(1).map((item) => (item as { text: string }).text);
