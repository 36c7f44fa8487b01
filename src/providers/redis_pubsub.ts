import { z } from 'zod';
import { consumeFields, messageFields, operation } from './_shared/common-fields.js';
import redis from './redis.js';
import { overridable, type Provider } from './types.js';

// Redis pub/sub is the redis connection without the command allow-list, plus the channel boundary.
const config = redis.config.omit({ allowed_commands: true }).extend({
  channel: overridable(
    z
      .string()
      .min(1)
      .optional()
      .describe(
        'The only channel this connector may use (exact name; scope_denied otherwise). ' +
          'An attachment may set it where the connector leaves it unset, never change it.',
      ),
  ),
});

const channel = z.string().min(1).optional().describe("Channel name; defaults to the connector's channel.");

const redisPubsub: Provider<typeof config> = {
  id: 'redis_pubsub',
  type: 'messaging',
  description: 'Redis pub/sub channels: publish, and receive what arrives while a call waits.',
  config,
  // redis's rules (TLS pair, url or host) never look at allowed_commands.
  refine: (value) => redis.refine?.({ ...value, allowed_commands: [] }) ?? [],
  operations: {
    publish: operation('Publish a message to a channel.', z.strictObject({ channel, ...messageFields }), true),
    // Pub/sub keeps nothing: a consume only sees what arrives while it waits, and removes nothing.
    consume: operation(
      'Subscribe to a channel and return the messages that arrive within wait_ms.',
      z.strictObject({ channel, ...consumeFields }),
      false,
    ),
  },
  defaultOperation: 'publish',
  classify: () => undefined,
};

export default redisPubsub;
