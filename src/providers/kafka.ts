import { z } from 'zod';
import {
  consumeFields,
  hostPort,
  messageFields,
  messageHeaders,
  networkFields,
  networkIssues,
  operation,
  passwordField,
} from './_shared/common-fields.js';
import { overridable, type Provider } from './types.js';

const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, { message: 'must be a Kafka topic name' });

const config = z.strictObject({
  brokers: z.array(hostPort).min(1).describe('Bootstrap brokers as host:port.'),
  client_id: z.string().min(1).default('patchbay').describe('Client id the brokers see.'),
  ssl: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields).'),
  sasl_mechanism: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'])
    .optional()
    .describe('SASL mechanism; needs username and password. No SASL when unset.'),
  username: z.string().min(1).optional().describe('SASL user name.'),
  password: passwordField('of the SASL user'),
  topic: overridable(
    topicName
      .optional()
      .describe(
        'The only topic this connector may use (scope_denied otherwise). ' +
          'An attachment may set it where the connector leaves it unset, never change it.',
      ),
  ),
  ...networkFields,
});

const topic = topicName.optional().describe("Topic; defaults to the connector's topic.");

const kafka: Provider<typeof config> = {
  id: 'kafka',
  type: 'messaging',
  description: 'Apache Kafka topics: publish, and consume with committed offsets.',
  config,
  refine: (value) => [...networkIssues(value), ...saslIssues(value)],
  operations: {
    publish: operation(
      'Publish a message to a topic.',
      z.strictObject({
        topic,
        key: z.string().optional().describe('Message key; messages with one key keep their order.'),
        ...messageFields,
        headers: messageHeaders,
      }),
      true,
    ),
    // Offsets are committed for the consumer group patchbay-<instance id> once the response is built, so the
    // messages returned are gone for the next call: a write.
    consume: operation(
      'Read up to max_messages from a topic and commit them.',
      z.strictObject({ topic, ...consumeFields }),
      true,
    ),
  },
  defaultOperation: 'publish',
  classify: () => undefined,
};

export default kafka;

/** SASL needs both credentials, and credentials need a mechanism. */
function saslIssues(value: z.output<typeof config>) {
  const credentials = ['username', 'password'] as const;
  if (value.sasl_mechanism === undefined) {
    return credentials.some((field) => value[field] !== undefined)
      ? [{ path: 'sasl_mechanism', message: 'required when username or password is set' }]
      : [];
  }
  return credentials
    .filter((field) => value[field] === undefined)
    .map((field) => ({ path: field, message: 'required when sasl_mechanism is set' }));
}
