import { z } from 'zod';
import { nameString } from './strings.js';

/** An API key or agent token as listed: never the secret itself (services/secrets.ts credentialView). */
export const credentialSchema = (what: 'key' | 'token') =>
  z.object({
    id: z.string(),
    name: z.string().nullable(),
    prefix: z.string().describe(`The first characters of the ${what}, to recognise it`),
    created_at: z.string(),
    last_used_at: z.string().nullable(),
    expires_at: z.string().nullable(),
    revoked_at: z.string().nullable(),
  });

/** The body that issues an API key or agent token: both optional. */
export const createCredentialBody = (expiresDescription: string) =>
  z.strictObject({
    name: nameString(200).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional().describe(expiresDescription),
  });

export const apiKeySchema = credentialSchema('key');

export const createdApiKeySchema = apiKeySchema.extend({
  key: z.string().describe('The key itself: shown once, store it now'),
});

export const createApiKeyBody = createCredentialBody('ISO 8601; the key stops working then');

export const memberSchema = z.object({
  user_id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  role: z.enum(['admin', 'developer', 'member']),
  created_at: z.string(),
});
