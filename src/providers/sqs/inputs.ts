import { z } from 'zod';
import { awsCredentialFields, consumeFields, httpUrl, messageFields, messageHeaders, networkFields } from '../_shared/common-fields.js';
import { destination } from '../types.js';

export const config = z.strictObject({
  queue_url: destination(httpUrl.describe('Queue URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/orders; fixed per connector.')),
  // No schema default: AWS queue URLs name their region, and signing with another one fails.
  region: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe('AWS region used to sign requests; the region named in the queue_url host, else us-east-1.'),
  endpoint: destination(httpUrl.optional().describe('SQS-compatible endpoint URL, e.g. an emulator; the queue_url origin when unset.')),
  ...awsCredentialFields,
  ...networkFields,
});

export type SqsConfig = z.output<typeof config>;

// The queue is the connector's queue_url; a request may name it (by name or URL) but never another one.
export const queue = z
  .string()
  .min(1)
  .optional()
  .describe("The connector's queue, by name or URL (optional; another one is scope_denied).");

export const publishInput = z.strictObject({
  queue,
  ...messageFields,
  headers: messageHeaders.describe('Message attributes (string values).'),
  message_group_id: z.string().min(1).max(128).optional().describe('Message group (FIFO queues).'),
  message_deduplication_id: z.string().min(1).max(128).optional().describe('Deduplication id (FIFO queues).'),
});

export const consumeInput = z.strictObject({ queue, ...consumeFields });
