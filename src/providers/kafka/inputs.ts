import { z } from 'zod';
import { consumeFields, hostPort, messageFields, messageHeaders, networkFields, passwordField } from '../_shared/common-fields.js';
import { boundary, destination } from '../types.js';

export const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, { message: 'must be a Kafka topic name' });

export const config = z.strictObject({
  brokers: destination(z.array(hostPort).min(1).describe('Bootstrap brokers as host:port.')),
  client_id: z.string().min(1).default('patchbay').describe('Client id the brokers see.'),
  ssl: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields).'),
  sasl_mechanism: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
    .optional()
    .describe('SASL mechanism; needs username and password. No SASL when unset.'),
  username: z.string().min(1).optional().describe('SASL user name.'),
  password: passwordField('of the SASL user'),
  topic: boundary(
    'exact',
    topicName
      .optional()
      .describe(
        'The only topic this connector may use (scope_denied otherwise). ' +
          'An attachment may set it where the connector leaves it unset, never change it.',
      ),
  ),
  ...networkFields,
});

export type KafkaConfig = z.output<typeof config>;

export const topic = topicName.optional().describe("Topic; defaults to the connector's topic.");

export const publishInput = z.strictObject({
  topic,
  key: z.string().optional().describe('Message key; messages with one key keep their order.'),
  ...messageFields,
  headers: messageHeaders,
});

export const consumeInput = z.strictObject({ topic, ...consumeFields });
