import { z } from 'zod';
import { createCredentialBody, credentialSchema } from './accounts.js';
import { nameString, textString } from './strings.js';
import { ownedFields } from './owned.js';
import { agentIdSchema } from './vocabulary.js';

/** `limit` and `cursor` of every paginated list; `cursor` is the `next_cursor` of the previous page. */
export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('@default 50, at most 200'),
  cursor: z.string().optional().describe('next_cursor of the previous page'),
});

export const agentParams = z.object({ id: z.string().describe('The agent id, e.g. agent-123') });

export const agentSchema = z.object({
  id: z.string().describe('The public agent id: chosen on create, or a generated agt_…'),
  name: z.string().nullable(),
  description: z.string().nullable(),
  ...ownedFields,
});

export const createAgentBody = z.strictObject({
  id: agentIdSchema.optional().describe('Your id for the agent, e.g. agent-123; generated (agt_…) when omitted'),
  name: nameString(200).optional(),
  description: textString(2000).optional(),
});

export const agentTokenSchema = credentialSchema('token');

export const createdAgentTokenSchema = agentTokenSchema.extend({
  agent_id: z.string(),
  token: z.string().describe('The token itself (pbt_…): shown once, store it now'),
});

export const createAgentTokenBody = createCredentialBody('ISO 8601, in the future; the token stops working then');

export const runtimeExecuteParams = agentParams.extend({ alias: z.string() });

/** `?aliases=a,b`: only these attachments' tools (an alias the agent lacks names nothing). */
export const toolsQuery = z.strictObject({
  aliases: z
    .string()
    .optional()
    .transform((value) => (value === undefined ? undefined : value.split(',').map((alias) => alias.trim()).filter(Boolean)))
    .describe('Comma-separated aliases: only their tools'),
});

const jsonObjectSchema = z.looseObject({ type: z.literal('object') });

/** ToolDefinition of src/services/runtime/tool-service.ts, in MCP's own (camelCase) vocabulary. */
export const toolSchema = z.object({
  name: z.string().describe('{alias}__{operation}: lower-case, at most 64 characters'),
  description: z.string(),
  inputSchema: jsonObjectSchema.describe("JSON Schema (draft-07) of the arguments: the operation's input, less the bound parameters"),
  outputSchema: jsonObjectSchema.describe('JSON Schema of the result: {ok, data, latency_ms, truncated} or {ok: false, error: {code, message, retryable}}'),
  annotations: z.object({
    title: z.string(),
    readOnlyHint: z.boolean(),
    destructiveHint: z.boolean(),
    idempotentHint: z.boolean(),
    openWorldHint: z.boolean(),
  }),
  alias: z.string(),
  operation: z.string(),
});

/** One JSON-RPC message or a batch: the envelope only, the MCP SDK reads the rest. */
const jsonRpcMessage = z.looseObject({ jsonrpc: z.literal('2.0') });
export const mcpBody = z.union([jsonRpcMessage, z.array(jsonRpcMessage).min(1)]).describe('JSON-RPC 2.0 message(s) of the MCP Streamable HTTP transport');

export const whoamiSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('user'),
    user: z.object({ id: z.string(), email: z.string() }),
    organizations: z.array(z.object({ id: z.string(), slug: z.string(), role: z.enum(['admin', 'developer', 'member']) })),
  }),
  z.object({
    type: z.literal('agent'),
    agent_id: z.string(),
    organization: z.object({ id: z.string(), slug: z.string() }),
    token_id: z.string(),
  }),
]);
