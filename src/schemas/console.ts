import { z } from 'zod';
import { connectorSchema, instanceSchema, testUnsavedBody } from './connectors.js';

/** What the web console's endpoints take and answer (sessions, /me, and its connector views). */

export const createSessionBody = z.strictObject({
  api_key: z.string().min(1).max(200).describe('An API key; traded once for an HttpOnly session cookie'),
});

export const meSchema = z.object({
  user: z.object({ id: z.string(), email: z.string(), name: z.string().nullable() }),
  operator: z.boolean().describe('An installation operator (the registry and installation-wide settings)'),
  organizations: z.array(z.object({ id: z.string(), slug: z.string(), name: z.string(), role: z.enum(['admin', 'developer', 'member']) })),
  session: z
    .object({ expires_at: z.string().describe('When the session ends at the latest, however active') })
    .nullable()
    .describe('The console session this request came with; null for an API key'),
});

export const sessionSchema = meSchema.describe('The signed-in user; the session itself is only in the cookie');

export const recentCheckSchema = z.object({ checked_at: z.string(), success: z.boolean(), latency_ms: z.number().int() });

export const connectorListItemSchema = connectorSchema.extend({
  recent_health: z.array(recentCheckSchema).describe('The latest checks (up to 20), oldest first, for a sparkline'),
});

export const connectorAttachmentsSchema = z.object({ data: z.array(instanceSchema), next_cursor: z.null() });

export const testDraftBody = z.strictObject({
  config: testUnsavedBody.shape.config.describe(
    'The edited config, merged over the stored one as PUT merges; a secret left out (or "********") is the stored one only while no destination field (host, URL, TLS…) changed',
  ),
});
