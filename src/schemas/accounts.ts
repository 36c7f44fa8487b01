import { z } from 'zod';
import { isOwnId } from '../db/ids.js';
import { roles, type Role } from '../db/models/accounts.js';
import { nameString } from './strings.js';

export const slugSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes, starting with a letter or digit')
  // X-Organization-Id takes an id or a slug: a slug shaped like an id would make that ambiguous.
  .refine((slug) => !isOwnId(slug), 'must not look like an organization id');
export const emailSchema = z.string().trim().toLowerCase().pipe(z.email('not a valid email address'));
export const roleSchema = z.enum(roles as [Role, ...Role[]], { error: `one of ${roles.join(', ')}` });

/** An API key or agent token as listed: never the secret itself (services/connectors/secrets.ts credentialView). */
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
  role: roleSchema,
  created_at: z.string(),
});

/** A person's display name: no control characters (a NUL would cut a SQLite statement short). */
export const displayNameSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^\P{Cc}*$/u, 'must not contain control characters');

/** An invitation as listed: never its token. */
export const invitationSchema = z.object({
  id: z.string(),
  email: z.string(),
  role: roleSchema,
  organization: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  status: z
    .enum(['pending', 'accepted', 'declined', 'revoked', 'expired'])
    .describe('`expired`: not answered before `expires_at`'),
  expires_at: z.string(),
  created_at: z.string(),
  responded_at: z.string().nullable().describe('When it was accepted, declined, revoked or replaced'),
});

export const createdInvitationSchema = invitationSchema.extend({
  token: z
    .string()
    .describe('One-time token, shown once: pass it to the invitee, who redeems it at POST /api/v1/invitations/redeem if they have no account yet'),
});

export const redeemBody = z.strictObject({
  token: z.string().min(1).max(200).describe('The one-time token of the invitation'),
  name: displayNameSchema.optional().describe('Your display name (defaults to the one the admin suggested)'),
});

export const redeemedInvitationSchema = z.object({
  invitation: invitationSchema,
  member: memberSchema,
  api_key: createdApiKeySchema.describe('Your first API key, shown once: store it now'),
});

export const acceptedInvitationSchema = z.object({ invitation: invitationSchema, member: memberSchema });
