import { z } from 'zod';
import { errorCodes, type ErrorCode } from '../../errors.js';
import { getProvider } from '../../providers/registry.js';
import type { Operation, Provider } from '../../providers/types.js';
import type { AgentService } from '../accounts/agent-service.js';
import type { AttachmentService } from '../connectors/attachment-service.js';
import type { PrincipalCache } from './principal-cache.js';

/**
 * An agent's attachments as tools: one per operation the attachment allows, named `{alias}__{operation}`, with
 * the operation's own input schema (less the admin's bound parameters) and its declared output. Everything
 * about an operation is the provider's declaration (types.ts `Operation`), never a rule keyed by provider id.
 * The MCP endpoint lists these, and `GET /api/v1/agents/{id}/tools` serves them to SDKs; calls go to
 * ExecutionService.executeRuntime, the REST path's own.
 */

/** A JSON Schema object (draft-07, as MCP clients validate it); MCP needs `type: "object"` at the root. */
export type JsonObjectSchema = { type: 'object' } & Record<string, unknown>;

export interface ToolAnnotations {
  title: string;
  readOnlyHint: boolean;
  destructiveHint: boolean;
  idempotentHint: boolean;
  openWorldHint: boolean;
}

export interface ToolDefinition {
  /** `{alias}__{operation}`: lower-case, at most 64 characters. */
  name: string;
  /** From the provider, the attachment's mode and limits, and the connector's status; never from config values. */
  description: string;
  /** The operation's input as JSON Schema, without the attachment's bound parameters. */
  inputSchema: JsonObjectSchema;
  /** `structuredContent`: `{ok: true, data, latency_ms, truncated}` or `{ok: false, error: {code, message, retryable}}`. */
  outputSchema: JsonObjectSchema;
  annotations: ToolAnnotations;
  alias: string;
  operation: string;
}

/**
 * Codes a caller may retry unchanged after a while: the limit resets, the upstream system or Patchbay's own
 * database recovers. Every other code needs a changed request or an admin.
 */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['rate_limited', 'timeout', 'connection_refused', 'upstream_error', 'unavailable']);

/** The attachment as `AttachmentService.listForAgent` shows it; tools read no secret and no config value of it. */
type AttachmentView = ReturnType<AttachmentService['view']>;

export class ToolService {
  constructor(private readonly deps: { attachments: AttachmentService; agents: AgentService; runtime?: PrincipalCache }) {}

  /**
   * The agent's tools, narrowed to `aliases` when given (an alias the agent lacks names nothing). Built once per
   * agent and kept until the agent, one of its attachments or their connectors change (PrincipalCache).
   */
  async list(organizationId: string, agentId: string, aliases?: readonly string[]): Promise<ToolDefinition[]> {
    const all = this.deps.runtime
      ? await this.deps.runtime.derive(`tools\u0000${organizationId}\u0000${agentId}`, () => this.build(organizationId, agentId))
      : (await this.build(organizationId, agentId)).value;
    return aliases ? all.filter((tool) => aliases.includes(tool.alias)) : all;
  }

  private async build(organizationId: string, agentId: string) {
    const agent = await this.deps.agents.require(organizationId, agentId);
    const attachments = await this.deps.attachments.listForAgent(organizationId, agentId);
    return {
      value: attachments.flatMap(toolsOf),
      tags: [`agent:${agent.id}`, ...attachments.flatMap((attachment) => [`attachment:${attachment.id}`, `connector:${attachment.connector.id}`])],
    };
  }
}

/** Splits a tool name into alias and operation (an alias never holds `__`); undefined for any other name. */
export function parseToolName(name: string): { alias: string; operation: string } | undefined {
  const split = name.indexOf('__');
  if (split <= 0 || split + 2 >= name.length) return undefined;
  return { alias: name.slice(0, split), operation: name.slice(split + 2) };
}

function toolsOf(attachment: AttachmentView): ToolDefinition[] {
  const provider = getProvider(attachment.connector.provider);
  if (!provider) return [];
  return Object.entries(provider.operations)
    // A read attachment does not offer what always writes (and the harness refuses it if called anyway).
    .filter(([, operation]) => attachment.mode === 'read_write' || writesWhen(operation) !== 'always')
    .map(([name, operation]) => ({
      name: `${attachment.alias}__${name}`,
      description: describeTool(attachment, provider, operation),
      inputSchema: withoutBound(inputSchemaOf(operation), attachment.bound_params),
      outputSchema: outputSchemaOf(operation.output ?? ANY),
      annotations: annotationsOf(attachment, provider, name, writesWhen(operation)),
      alias: attachment.alias,
      operation: name,
    }));
}

type WritesWhen = 'never' | 'always' | 'input';

/** Whether an operation writes never, always, or depending on its input, as the operation states it. */
const writesWhen = ({ writes }: Operation): WritesWhen => (typeof writes === 'function' ? 'input' : writes);

// What repeating a write does: a put or delete leaves the same state, an insert or publish adds again.
const IDEMPOTENT_WRITES = new Set(['put', 'delete']);
const ADDITIVE_WRITES = new Set(['insert', 'publish']);

function annotationsOf(attachment: AttachmentView, provider: Provider, operation: string, writes: WritesWhen): ToolAnnotations {
  // In read mode a call that would write is refused: whatever its input, the tool only reads.
  const readOnly = writes === 'never' || attachment.mode === 'read';
  return {
    title: `${attachment.alias}: ${operation} (${provider.id})`,
    readOnlyHint: readOnly,
    destructiveHint: !readOnly && !ADDITIVE_WRITES.has(operation),
    idempotentHint: readOnly || IDEMPOTENT_WRITES.has(operation),
    // Databases, stores and queues are a closed world; an HTTP API reaches whatever it fronts.
    openWorldHint: provider.type === 'api',
  };
}

function describeTool(attachment: AttachmentView, provider: Provider, operation: Operation): string {
  const limits = attachment.effective_limits;
  const parts = [
    `${operation.description} Attachment "${attachment.alias}", provider ${provider.id}: ${provider.description}`,
    attachment.mode === 'read' ? 'Read-only: writes are refused (read_only).' : 'Reads and writes.',
    `Limits per call: ${limits.max_rows} rows, ${limits.max_bytes} bytes, ${limits.timeout_ms} ms` +
      (limits.rate_per_minute ? `; at most ${limits.rate_per_minute} calls a minute.` : '.'),
  ];
  const { seeAlso } = operation;
  if (seeAlso && Object.hasOwn(provider.operations, seeAlso.operation)) {
    parts.push(`Use ${attachment.alias}__${seeAlso.operation} to see ${seeAlso.shows}.`);
  }
  // An operation that takes no input has no parameter to bind.
  if (attachment.bound_params.length > 0 && takesInput(operation)) {
    const names = attachment.bound_params.map((name) => `:${name}`).join(', ');
    parts.push(`The server binds ${names} itself (fixed by an admin): use the placeholder, never pass a value.`);
  }
  if (!attachment.connector.enabled) parts.push('The connector is disabled: calls answer connector_disabled.');
  else if (attachment.connector.status === 'failing') parts.push('Status: failing (recent health checks failed); calls are still attempted.');
  if (!provider.connect) parts.push('No driver is available yet: calls answer unsupported_operation.');
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------------------------
// Schemas

const inputSchemas = new WeakMap<Operation, JsonObjectSchema>();

/** The operation's input schema as JSON Schema: the very zod schema the harness parses the REST body with. */
function inputSchemaOf(operation: Operation): JsonObjectSchema {
  let schema = inputSchemas.get(operation);
  if (!schema) {
    schema = { ...z.toJSONSchema(operation.input, { target: 'draft-7', io: 'input', unrepresentable: 'any' }), type: 'object' };
    inputSchemas.set(operation, schema);
  }
  return schema;
}

/**
 * The schema without the attachment's bound parameters: gone from the top level and from `params`; where
 * `params` is an open map (SQL), its property names exclude them.
 */
function withoutBound(schema: JsonObjectSchema, bound: readonly string[]): JsonObjectSchema {
  if (bound.length === 0) return schema;
  const drop = (object: Record<string, unknown>): Record<string, unknown> => {
    const properties = { ...((object.properties as Record<string, unknown> | undefined) ?? {}) };
    for (const name of bound) delete properties[name];
    const required = Array.isArray(object.required) ? object.required.filter((name) => !bound.includes(name as string)) : undefined;
    return { ...object, ...(object.properties ? { properties } : {}), ...(required ? { required } : {}) };
  };
  const top = drop(schema) as JsonObjectSchema;
  const params = (top.properties as Record<string, Record<string, unknown>> | undefined)?.params;
  if (params && params.type === 'object') {
    const narrowed = drop(params);
    if (narrowed.propertyNames !== undefined || narrowed.additionalProperties !== false) {
      narrowed.propertyNames = { ...((narrowed.propertyNames as Record<string, unknown> | undefined) ?? {}), not: { enum: [...bound] } };
    }
    (top.properties as Record<string, unknown>).params = narrowed;
  }
  return top;
}

const takesInput = ({ input }: Operation): boolean => !(input instanceof z.ZodObject) || Object.keys(input.shape).length > 0;

/** The data of an operation that declares no output. */
const ANY = z.unknown();

/** `structuredContent` of a failed call. */
export const toolErrorSchema = z.object({
  ok: z.literal(false),
  error: z.object({
    code: z.enum(Object.keys(errorCodes) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    retryable: z.boolean(),
    retry_after_ms: z.int().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
});

const outputSchemas = new WeakMap<z.ZodType, JsonObjectSchema>();

/** `structuredContent` of a call of an operation whose `data` is `output`. */
function outputSchemaOf(output: z.ZodType): JsonObjectSchema {
  let schema = outputSchemas.get(output);
  if (!schema) {
    const success = z.object({ ok: z.literal(true), data: output, latency_ms: z.int(), truncated: z.boolean() });
    schema = { ...z.toJSONSchema(z.union([success, toolErrorSchema]), { target: 'draft-7', io: 'output' }), type: 'object' };
    outputSchemas.set(output, schema);
  }
  return schema;
}
