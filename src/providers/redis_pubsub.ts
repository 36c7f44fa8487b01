import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { PatchbayError } from '../errors.js';
import { consumeFields, consumeOutput, messageFields, operation } from './_shared/common-fields.js';
import { classifyRedisError, RedisPool, type RedisClientHandle } from './_shared/redis-client.js';
import { jsonBytes } from './_shared/redis-reply.js';
import redis from './redis.js';
import { boundary, type CallContext, type OperationResult, type Provider, type Session } from './types.js';

// Redis pub/sub is the redis connection without the command allow-list, plus the channel boundary.
const config = redis.config.omit({ allowed_commands: true }).extend({
  channel: boundary(
    'exact',
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
const publishInput = z.strictObject({ channel, ...messageFields });
const consumeInput = z.strictObject({ channel, ...consumeFields });

/** A message as consume returns it: UTF-8 text as it is, anything else base64. */
interface ReceivedMessage {
  channel: string;
  message: string;
  encoding: 'utf8' | 'base64';
}

const redisPubsub: Provider<typeof config> = {
  id: 'redis_pubsub',
  type: 'messaging',
  description: 'Redis pub/sub channels: publish, and receive what arrives while a call waits.',
  config,
  // redis's rules (TLS pair, url or host) never look at allowed_commands.
  refine: (value) => redis.refine?.({ ...value, allowed_commands: [] }) ?? [],
  operations: {
    publish: operation('Publish a message to a channel.', publishInput, 'always'),
    // Pub/sub keeps nothing: a consume only sees what arrives while it waits, and removes nothing.
    consume: operation('Subscribe to a channel and return the messages that arrive within wait_ms.', consumeInput, 'never', {
      output: consumeOutput,
    }),
  },
  defaultOperation: 'publish',

  async connect(settings, ctx) {
    return new PubsubSession(await RedisPool.open(settings, ctx), settings.channel);
  },

  classify: classifyRedisError,
};

export default redisPubsub;

class PubsubSession implements Session {
  constructor(
    private readonly pool: RedisPool,
    private readonly boundary: string | undefined,
  ) {}

  ping(signal: AbortSignal): Promise<string> {
    return this.pool.ping(signal);
  }

  async execute(operationName: string, input: unknown, call: CallContext): Promise<OperationResult> {
    if (operationName === 'publish') {
      const { message, encoding, ...request } = input as z.output<typeof publishInput>;
      const target = this.channelOf(request.channel);
      const body = encoding === 'base64' ? Buffer.from(message, 'base64') : message;
      const receivers = await this.pool.use(call.signal, call.limits.timeoutMs, (client) =>
        client.command(['PUBLISH', target, body]),
      );
      return { data: { channel: target, receivers } };
    }
    const request = input as z.output<typeof consumeInput>;
    const target = this.channelOf(request.channel);
    // The wait stays within timeout_ms; subscribing and unsubscribing get a timeout_ms of their own.
    const waitMs = Math.min(request.wait_ms, call.limits.timeoutMs);
    return this.pool.use(call.signal, waitMs + call.limits.timeoutMs, (client) =>
      consume(client, target, { ...call.limits, maxMessages: request.max_messages, waitMs }),
    );
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** The request's channel within the connector's: exactly it, or it when the request names none. */
  private channelOf(requested: string | undefined): string {
    if (this.boundary !== undefined && requested !== undefined && requested !== this.boundary) {
      throw new PatchbayError('scope_denied', `this connector may only use channel ${this.boundary}`);
    }
    const target = requested ?? this.boundary;
    if (target === undefined) {
      throw new PatchbayError('validation_failed', 'channel is required: the connector sets none', {
        errors: [{ path: 'channel', message: 'required when the connector sets no channel' }],
      });
    }
    return target;
  }
}

interface ConsumeLimits {
  maxMessages: number;
  waitMs: number;
  maxRows: number;
  maxBytes: number;
}

/**
 * Subscribes, collects what arrives until max_messages have come or wait_ms has passed, and unsubscribes.
 * Past max_rows it waits for one message more, only to report truncated (pub/sub keeps nothing anyway); a
 * message that would take the result past max_bytes ends the wait the same way.
 */
async function consume(client: RedisClientHandle, channel: string, limits: ConsumeLimits): Promise<OperationResult> {
  const messages: ReceivedMessage[] = [];
  const enough = limits.maxMessages <= limits.maxRows ? limits.maxMessages : limits.maxRows + 1;
  let bytes = jsonBytes({ messages: [] });
  let truncated = false;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const listener = (body: Buffer, from: Buffer) => {
    if (truncated || messages.length >= enough) return;
    const message: ReceivedMessage = isUtf8(body)
      ? { channel: from.toString('utf8'), message: body.toString('utf8'), encoding: 'utf8' }
      : { channel: from.toString('utf8'), message: body.toString('base64'), encoding: 'base64' };
    const size = jsonBytes(message) + (messages.length > 0 ? 1 : 0);
    if (messages.length === limits.maxRows || bytes + size > limits.maxBytes) {
      truncated = true;
      finish();
      return;
    }
    bytes += size;
    messages.push(message);
    if (messages.length === enough) finish();
  };
  await client.subscribe(channel, listener);
  const timer = setTimeout(finish, limits.waitMs);
  await finished;
  clearTimeout(timer);
  await client.unsubscribe(channel, listener);
  return { data: { messages }, truncated };
}
