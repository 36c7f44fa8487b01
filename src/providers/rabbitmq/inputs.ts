import { z } from 'zod';
import { connectionUrlField, consumeFields, hostField, messageFields, messageHeaders, networkFields, passwordField, portField, usernameField } from '../_shared/common-fields.js';
import { boundary } from '../types.js';

const exactName = (what: string) =>
  boundary(
    'exact',
    z
      .string()
      .min(1)
      .optional()
      .describe(
        `The only ${what} this connector may use (exact name; scope_denied otherwise). ` +
          'An attachment may set it where the connector leaves it unset, never change it.',
      ),
  );

export const config = z.strictObject({
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
  exchange: exactName('exchange'),
  queue: exactName('queue'),
  ...networkFields,
});

export type RabbitConfig = z.output<typeof config>;

export const URL_SCHEMES = ['amqp', 'amqps'] as const;
export const queue = z.string().min(1).optional().describe("Queue; defaults to the connector's queue.");

export const publishInput = z.strictObject({
  exchange: z.string().optional().describe("Exchange; defaults to the connector's exchange, else the default exchange."),
  routing_key: z.string().optional().describe('Routing key; defaults to queue.'),
  queue,
  ...messageFields,
  headers: messageHeaders,
});

export const consumeInput = z.strictObject({ queue, ...consumeFields });
