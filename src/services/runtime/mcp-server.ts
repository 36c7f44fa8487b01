import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import { unavailableError, unavailableReason } from '../../db/unavailable.js';
import { PatchbayError, publicDetail } from '../../errors.js';
import type { ExecuteResult } from '../../providers/harness.js';
import { packageVersion } from '../../version.js';
import type { AttachmentService } from '../connectors/attachment-service.js';
import type { AuditService } from '../audit-service.js';
import { auditEvent } from '../context.js';
import type { ClientInfo, ExecutionService, RuntimeContext } from './execution-service.js';
import { parseToolName, RETRYABLE_CODES, type ToolDefinition, type ToolService } from './tool-service.js';
import { countRows } from './use-audit.js';

/** Who an MCP request acts for: the request's context, the agent in its path, and the `?aliases=` it narrows to. */
export interface McpCall {
  ctx: RuntimeContext & { requestId: string };
  agentId: string;
  aliases?: readonly string[];
  log: Logger;
}

/** The transport's HTTP answer, its body read. */
export interface McpAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * One JSON Schema validator for every per-request server: the SDK builds a new Ajv per Server otherwise, the largest
 * part of a stateless request's cost. Only elicitation uses it, which this server never sends.
 */
const schemaValidator = new AjvJsonSchemaValidator();

const INSTRUCTIONS =
  'Each tool is one operation on one of this agent\'s connectors, named {alias}__{operation}. Results are JSON: ' +
  '{ok, data, latency_ms, truncated}, or {ok: false, error: {code, message, retryable}}. A truncated result hit ' +
  'a limit: filter, aggregate or paginate instead of asking for everything.';

/**
 * The MCP endpoint of an agent (Streamable HTTP, stateless, JSON responses): a new Server and transport for every
 * HTTP request, never shared, so nothing of one request or agent can reach another. Tools come from ToolService
 * and calls go to ExecutionService.executeRuntime, the REST run-time path's own policy pipeline.
 */
export class McpService {
  constructor(private readonly deps: { tools: ToolService; execution: ExecutionService; attachments: AttachmentService; audit: AuditService }) {}

  /**
   * Answers one HTTP request; `parsedBody` is the JSON the web framework already read (and bounded). The answer's
   * body is read before the server closes: by then the SDK has finished its bookkeeping of the answered requests,
   * so closing does not abort their (finished) handlers, which cost a DOMException with its stack per request.
   */
  async handle(request: Request, parsedBody: unknown, call: McpCall): Promise<McpAnswer> {
    // A stateless server meets a client's name only in its initialize request: the audit log keeps it there, with
    // the token; tool calls name the client by its User-Agent.
    const initializing = initializeClient(parsedBody);
    if (initializing) {
      await this.deps.audit.record(
        auditEvent(call.ctx, {
          action: 'agent.mcp_initialize',
          target_type: 'agent',
          target_id: call.agentId,
          detail: { client_name: initializing.name, client_version: initializing.version ?? null },
        }),
      );
    }
    const server = this.createServer(call);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    try {
      await server.connect(transport);
      const response = await transport.handleRequest(request, { parsedBody });
      return { status: response.status, headers: response.headers, body: await response.text() };
    } finally {
      await server.close();
    }
  }

  private createServer(call: McpCall): Server {
    const server = new Server({ name: 'patchbay', version: packageVersion }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS, jsonSchemaValidator: schemaValidator });
    server.setRequestHandler(ListToolsRequestSchema, async () => {
      const tools = await this.deps.tools.list(call.ctx.organizationId, call.agentId, call.aliases);
      return { tools: tools.map(mcpTool) };
    });
    server.setRequestHandler(CallToolRequestSchema, async ({ params }) => this.callTool(call, params.name, params.arguments ?? {}));
    return server;
  }

  private async callTool(call: McpCall, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    const parsed = parseToolName(name);
    try {
      if (!parsed || (call.aliases && !call.aliases.includes(parsed.alias))) {
        throw new PatchbayError('not_found', `no tool ${name}: tools are named {alias}__{operation}, see tools/list`);
      }
      const result = await this.deps.execution.executeRuntime(call.ctx, call.agentId, parsed.alias, { ...args, operation: parsed.operation });
      return toolResult(result, result.truncated ? await this.truncationNotice(call, parsed.alias, result) : undefined);
    } catch (error) {
      return toolError(error, call);
    }
  }

  /** Which limit cut the result, and what to do instead. */
  private async truncationNotice(call: McpCall, alias: string, result: ExecuteResult): Promise<string> {
    const { limits } = await this.deps.execution.attachment(call.ctx.organizationId, call.agentId, alias);
    const rows = countRows(result.data);
    const limit =
      rows !== null && rows >= limits.maxRows
        ? `max_rows (${limits.maxRows} rows)`
        : `max_bytes (${limits.maxBytes} bytes of data)`;
    return (
      `Truncated: this result reached the attachment's ${limit}, so it is incomplete. ` +
      'Filter (WHERE, a narrower prefix or key), aggregate (COUNT, GROUP BY) or paginate (LIMIT/OFFSET, a cursor) ' +
      'rather than asking for everything.'
    );
  }
}

/** The `clientInfo` of an MCP `initialize` request (alone or in a batch); undefined for any other body. */
function initializeClient(body: unknown): ClientInfo | undefined {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  for (const message of messages) {
    const { method, params } = (message ?? {}) as { method?: unknown; params?: { clientInfo?: { name?: unknown; version?: unknown } } };
    const info = params?.clientInfo;
    if (method === 'initialize' && typeof info?.name === 'string') {
      return { name: info.name.slice(0, 200), ...(typeof info.version === 'string' ? { version: info.version.slice(0, 100) } : {}) };
    }
  }
  return undefined;
}

function mcpTool(tool: ToolDefinition): Tool {
  return {
    name: tool.name,
    title: tool.annotations.title,
    description: tool.description,
    inputSchema: tool.inputSchema,
    outputSchema: tool.outputSchema,
    annotations: tool.annotations,
  };
}

/** The REST envelope as structured content, the same JSON as text, and the notice of a truncated result. */
function toolResult(result: ExecuteResult, notice: string | undefined): CallToolResult {
  const envelope = { ok: result.ok, data: result.data, latency_ms: result.latency_ms, truncated: result.truncated };
  return {
    structuredContent: envelope,
    content: [{ type: 'text', text: JSON.stringify(envelope) }, ...(notice ? [{ type: 'text' as const, text: notice }] : [])],
  };
}

/**
 * An execution error as a tool result (`isError`), with the stable code and the message REST gives as `detail`:
 * scrubbed by the harness, and for a 500 only the request id (the cause goes to the log).
 */
function toolError(raw: unknown, call: McpCall): CallToolResult {
  const error = raw instanceof PatchbayError ? raw : (unavailableError(raw) ?? new PatchbayError('internal_error', undefined, { cause: raw }));
  if (error.code === 'internal_error') call.log.error({ err: raw }, 'MCP tool call failed');
  else if (error.code === 'unavailable') call.log.warn({ code: error.code, reason: unavailableReason(error) }, 'database unavailable');
  const retryAfterMs = error.extra?.retry_after_ms;
  const envelope = {
    ok: false as const,
    error: {
      code: error.code,
      message: publicDetail(error, call.ctx.requestId),
      retryable: RETRYABLE_CODES.has(error.code),
      ...(typeof retryAfterMs === 'number' ? { retry_after_ms: retryAfterMs } : {}),
      ...(error.errors ? { errors: error.errors } : {}),
    },
  };
  return { isError: true, structuredContent: envelope, content: [{ type: 'text', text: JSON.stringify(envelope) }] };
}
