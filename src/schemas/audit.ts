import { z } from 'zod';
import { pageQuery } from './agents.js';

const instant = z.iso.datetime({ offset: true });

// A filter value is compared, never parsed; a control character (a NUL would cut a SQLite statement) matches nothing.
const filterValue = z.string().max(200).regex(/^\P{Cc}*$/u, 'must not contain control characters');

export const auditQuery = pageQuery.extend({
  action: filterValue.optional().describe('e.g. agent.create, connector.execute'),
  actor_id: filterValue.optional().describe("A user's id, or an agent token's id"),
  target_id: filterValue.optional(),
  outcome: z.enum(['success', 'failure', 'denied']).optional(),
  since: instant.optional().describe('ISO 8601; events at or after it'),
  until: instant.optional().describe('ISO 8601; events before it'),
});

/** Who did what, when, with what outcome: ids and codes only, never a secret or a literal value. */
export const auditEventSchema = z.object({
  id: z.string(),
  organization_id: z.string().nullable(),
  actor_type: z.enum(['user', 'agent', 'system']),
  actor_id: z.string().nullable(),
  action: z.string(),
  target_type: z.string().nullable(),
  target_id: z.string().nullable(),
  outcome: z.enum(['success', 'failure', 'denied']),
  detail: z.record(z.string(), z.unknown()).nullable(),
  request_id: z.string().nullable(),
  created_at: z.string(),
});
