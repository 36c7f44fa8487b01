import { z } from 'zod';

export const apiKeySchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  prefix: z.string().describe('The first characters of the key, to recognise it'),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  expires_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
});

export const createdApiKeySchema = apiKeySchema.extend({
  key: z.string().describe('The key itself: shown once, store it now'),
});

export const createApiKeyBody = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  expires_at: z.iso.datetime({ offset: true }).optional().describe('ISO 8601; the key stops working then'),
});

export const memberSchema = z.object({
  user_id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  role: z.enum(['admin', 'developer', 'member']),
  created_at: z.string(),
});
