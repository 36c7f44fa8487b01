import { z } from 'zod';
import {
  alternativeIssues,
  connectionUrlField,
  consumeFields,
  hostField,
  messageFields,
  messageHeaders,
  networkFields,
  networkIssues,
  operation,
  passwordField,
  portField,
  usernameField,
} from './_shared/common-fields.js';
import { overridable, type Provider } from './types.js';

const boundary = (what: string) =>
  overridable(
    z
      .string()
      .min(1)
      .optional()
      .describe(
        `The only ${what} this connector may use (exact name; scope_denied otherwise). ` +
          'An attachment may set it where the connector leaves it unset, never change it.',
      ),
  );

const config = z.strictObject({
  host: hostField('RabbitMQ server'),
  port: portField('RabbitMQ server', 5672),
  vhost: z.string().min(1).default('/').describe('Virtual host.'),
  username: usernameField('to log in as'),
  password: passwordField('of username'),
  tls: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields); implied by amqps://.'),
  url: connectionUrlField(
    ['amqp', 'amqps'],
    'amqp://user:password@host:port/vhost or amqps://…; an alternative to host, port, vhost, username and password.',
  ),
  exchange: boundary('exchange'),
  queue: boundary('queue'),
  ...networkFields,
});

const queue = z.string().min(1).optional().describe("Queue; defaults to the connector's queue.");

const rabbitmq: Provider<typeof config> = {
  id: 'rabbitmq',
  type: 'messaging',
  description: 'RabbitMQ (AMQP 0-9-1): publish to an exchange or queue, and consume with acknowledgement.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'url', ['host', 'port', 'vhost', 'username', 'password'], 'host'),
  ],
  operations: {
    publish: operation(
      'Publish a message to an exchange with a routing key, or straight to a queue.',
      z.strictObject({
        exchange: z.string().optional().describe("Exchange; defaults to the connector's exchange, else the default exchange."),
        routing_key: z.string().optional().describe('Routing key; defaults to queue on the default exchange.'),
        queue,
        ...messageFields,
        headers: messageHeaders,
      }),
      true,
    ),
    // Messages returned are acknowledged once the response is built, so they leave the queue: a write.
    consume: operation(
      'Take up to max_messages from a queue and acknowledge them.',
      z.strictObject({ queue, ...consumeFields }),
      true,
    ),
  },
  defaultOperation: 'publish',
  classify: () => undefined,
};

export default rabbitmq;
