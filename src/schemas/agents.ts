import { z } from 'zod';
import { agentIdSchema } from '../services/agent-service.js';

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
  created_by: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const createAgentBody = z.strictObject({
  id: agentIdSchema.optional().describe('Your id for the agent, e.g. agent-123; generated (agt_…) when omitted'),
  name: z.string().trim().min(1).max(200).optional(),
  description: z.string().max(2000).optional(),
});

export const agentTokenSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  prefix: z.string().describe('The first characters of the token, to recognise it'),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});

export const createdAgentTokenSchema = agentTokenSchema.extend({
  agent_id: z.string(),
  token: z.string().describe('The token itself (pbt_…): shown once, store it now'),
});

export const createAgentTokenBody = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  expires_at: z.iso.datetime({ offset: true }).optional().describe('ISO 8601, in the future; the token stops working then'),
});

export const runtimeExecuteParams = agentParams.extend({ alias: z.string() });
