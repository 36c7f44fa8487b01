import { z } from 'zod';
import { webhookEvents } from '../db/models/webhooks.js';
import { CONTROL_MESSAGE, hasControlCharacters, textString } from './strings.js';
import { ownedFields } from './owned.js';
import { MASK } from './vocabulary.js';

export const webhookEventEnum = z.enum(webhookEvents);

const url = z
  .url({ protocol: /^https?$/, message: 'must be an http:// or https:// URL' })
  .max(2048)
  .refine((value) => !hasControlCharacters(value), CONTROL_MESSAGE)
  .describe('Where events are POSTed; it must be reachable under PATCHBAY_EGRESS');
const events = z.array(webhookEventEnum).min(1).describe(`The events to receive: ${webhookEvents.join(', ')}`);
const secret = z
  .string()
  .min(16)
  .max(256)
  .meta({ writeOnly: true })
  .describe('Signs every delivery (Patchbay-Signature: t=…,v1=<HMAC-SHA256 of "t.body">); encrypted at rest, never returned');

export const createWebhookBody = z.strictObject({
  url,
  events,
  secret,
  enabled: z.boolean().optional().describe('@default true'),
  description: textString(2000).nullable().optional(),
});

export const updateWebhookBody = z.strictObject({
  url: url.optional(),
  events: events.optional(),
  secret: z.union([z.literal(MASK), secret]).optional().describe(`A new signing secret; "${MASK}" keeps the stored one`),
  enabled: z.boolean().optional().describe('Re-enabling clears the failure count'),
  description: textString(2000).nullable().optional(),
});

export const webhookSchema = z.object({
  id: z.string(),
  organization_id: z.string(),
  url: z.string(),
  events: z.array(webhookEventEnum),
  description: z.string().nullable(),
  secret: z.literal(MASK).describe('Never returned'),
  enabled: z.boolean(),
  disabled_reason: z.string().nullable().describe('"failing" when Patchbay disabled it after repeated failed deliveries'),
  consecutive_failures: z.number().int().describe('Deliveries that failed in a row (after all their attempts)'),
  version: z.number().int(),
  ...ownedFields,
});

export const deliverySchema = z.object({
  id: z.string(),
  webhook_id: z.string(),
  event_id: z.string().describe('The same in every webhook\'s delivery of one event: deduplicate on it'),
  event: webhookEventEnum,
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  next_attempt_at: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  payload: z.record(z.string(), z.unknown()).describe('The JSON body as sent'),
  created_at: z.string(),
});
