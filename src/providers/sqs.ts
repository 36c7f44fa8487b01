import { z } from 'zod';
import {
  awsCredentialFields,
  consumeFields,
  httpUrl,
  messageFields,
  messageHeaders,
  networkFields,
  networkIssues,
  operation,
  togetherIssues,
} from './_shared/common-fields.js';
import type { Provider } from './types.js';

const config = z.strictObject({
  queue_url: httpUrl.describe('Queue URL, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/orders; fixed per connector.'),
  // No schema default: AWS queue URLs name their region, and signing with another one fails.
  region: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe('AWS region used to sign requests; the region named in the queue_url host, else us-east-1.'),
  endpoint: httpUrl.optional().describe('SQS-compatible endpoint URL, e.g. an emulator; the queue_url origin when unset.'),
  ...awsCredentialFields,
  ...networkFields,
});

const sqs: Provider<typeof config> = {
  id: 'sqs',
  type: 'messaging',
  description: 'Amazon SQS queues: send, and receive with deletion.',
  config,
  refine: (value) => [...networkIssues(value), ...togetherIssues(value, ['access_key_id', 'secret_access_key'])],
  operations: {
    publish: operation(
      'Send a message to the queue.',
      z.strictObject({
        ...messageFields,
        headers: messageHeaders.describe('Message attributes (string values).'),
        message_group_id: z.string().min(1).max(128).optional().describe('Message group (FIFO queues).'),
        message_deduplication_id: z.string().min(1).max(128).optional().describe('Deduplication id (FIFO queues).'),
      }),
      true,
    ),
    // Messages returned are deleted once the response is built, so they leave the queue: a write.
    consume: operation('Receive up to max_messages and delete them.', z.strictObject({ ...consumeFields }), true),
  },
  defaultOperation: 'publish',
  classify: () => undefined,
};

export default sqs;
