import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { PatchbayError } from '../../errors.js';
import { consumeWindow, Inbox, messageBody, payloadOf, selectMessages, waitPlan } from '../_shared/messaging-consume.js';
import { exactScope, required } from '../_shared/messaging-scope.js';
import type { consumeInput, publishInput, RabbitConfig } from './inputs.js';
import type { CallContext, OperationResult, Session } from '../types.js';

/** Where and as whom a session logs in. */
export interface RabbitTarget {
  host: string;
  port: number;
  vhost: string;
  username?: string;
  password?: string;
  tls: boolean;
}

type Boundaries = Pick<RabbitConfig, 'exchange' | 'queue'>;

/**
 * One AMQP connection and a channel per call: a channel is cheap, and the broker closes a channel (not the
 * connection) on a refused operation, so one call's 404 never disturbs another. amqplib has no pool; the
 * connection multiplexes the calls.
 */
export class RabbitSession implements Session {
  private lost?: Error;
  private closing?: Promise<void>;
  // The consumes waiting now, so that close() can end them.
  private readonly waiting = new Set<Inbox<ConsumeMessage>>();

  constructor(
    private readonly connection: ChannelModel,
    private readonly boundaries: Boundaries,
    log: Logger,
  ) {
    connection.on('error', (error: Error) => log.warn({ err: error }, 'the RabbitMQ connection failed'));
    connection.on('close', () => {
      this.lost ??= new Error('the RabbitMQ connection was closed');
      for (const inbox of this.waiting) inbox.fail(this.lost);
    });
  }

  async ping(): Promise<string> {
    const { exchange, queue } = this.boundaries;
    await this.withChannel(
      () => this.connection.createChannel(),
      async (channel) => {
        if (queue !== undefined) await channel.checkQueue(queue);
        if (exchange !== undefined) await channel.checkExchange(exchange);
      },
    );
    const version = this.connection.connection.serverProperties.version;
    return `Connected to RabbitMQ ${typeof version === 'string' ? version : ''}`.trim();
  }

  execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    return operation === 'publish'
      ? this.publish(input as z.output<typeof publishInput>)
      : this.consume(input as z.output<typeof consumeInput>, call);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const inbox of this.waiting) inbox.fail(new Error('the session was closed'));
      this.lost ??= new Error('the session was closed');
      await this.connection.close().catch(() => undefined);
    })();
    return this.closing;
  }

  /**
   * Publishes on a confirm channel with `mandatory`, so that the broker says whether the message was routed:
   * a queue that does not exist answers upstream_not_found, an exchange without a matching binding `routed: false`.
   */
  private async publish(request: z.output<typeof publishInput>): Promise<OperationResult> {
    const { exchange, routingKey } = this.route(request);
    return this.withChannel(
      () => this.connection.createConfirmChannel(),
      async (channel) => {
        let routed = true;
        channel.on('return', () => (routed = false)); // basic.return arrives before the confirm
        channel.publish(exchange, routingKey, payloadOf(request), {
          mandatory: true,
          persistent: true,
          headers: request.headers,
        });
        await channel.waitForConfirms();
        if (!routed && exchange === '') throw new PatchbayError('upstream_not_found', `no queue ${routingKey}`);
        return { data: { exchange, routing_key: routingKey, routed } };
      },
    );
  }

  /**
   * Where a publish goes within the boundaries. A named exchange routes by `routing_key` (default: the queue);
   * without one the default exchange delivers to the queue named by `queue` or `routing_key`. A connector
   * limited to a queue only publishes to that queue; one limited to an exchange only to that exchange.
   */
  private route(request: z.output<typeof publishInput>): { exchange: string; routingKey: string } {
    const { exchange: exchangeBoundary, queue: queueBoundary } = this.boundaries;
    const exchange = exactScope('exchange', exchangeBoundary, request.exchange) ?? '';
    const queue = exactScope('queue', queueBoundary, request.queue);
    if (exchange !== '') {
      if (exchangeBoundary === undefined && queueBoundary !== undefined) {
        throw new PatchbayError('scope_denied', `this connector may only publish to queue ${queueBoundary}`);
      }
      return { exchange, routingKey: request.routing_key ?? queue ?? '' };
    }
    if (request.queue !== undefined && request.routing_key !== undefined && request.queue !== request.routing_key) {
      throw new PatchbayError('validation_failed', 'on the default exchange the routing key is the queue name', {
        errors: [{ path: 'routing_key', message: 'must equal queue on the default exchange' }],
      });
    }
    const target = exactScope('queue', queueBoundary, request.queue ?? request.routing_key);
    return { exchange: '', routingKey: required('queue', target) };
  }

  /**
   * Consumes with prefetch `take` and acknowledges the messages the response holds once it is built. The
   * others, and every message of a call that fails or is aborted, are never acknowledged: closing the channel
   * hands them back to the queue, redelivered to the next consumer.
   */
  private async consume(request: z.output<typeof consumeInput>, call: CallContext): Promise<OperationResult> {
    const queue = required('queue', exactScope('queue', this.boundaries.queue, request.queue));
    const window = consumeWindow(request, call.limits);
    return this.withChannel(
      () => this.connection.createChannel(),
      async (channel) => {
        const { messageCount } = await channel.checkQueue(queue);
        await channel.prefetch(window.take);
        const inbox = new Inbox<ConsumeMessage>(call.signal);
        this.waiting.add(inbox);
        try {
          const { consumerTag } = await channel.consume(queue, (message) => (message ? inbox.push(message) : inbox.end()));
          try {
            await inbox.arm(waitPlan(window, messageCount));
          } finally {
            // After cancel-ok nothing more is delivered, so `received` is final.
            await channel.cancel(consumerTag).catch(() => undefined);
          }
          const { kept, messages, truncated } = selectMessages(inbox.received, window, shapeMessage);
          call.signal.throwIfAborted(); // nobody waits for this response any more: acknowledge nothing
          for (const message of kept) channel.ack(message);
          return { data: { messages }, truncated };
        } finally {
          this.waiting.delete(inbox);
        }
      },
    );
  }

  /** Runs `work` on a channel of its own, closed afterwards (which returns unacknowledged messages to their queue). */
  private async withChannel<C extends Channel, T>(open: () => Promise<C>, work: (channel: C) => Promise<T>): Promise<T> {
    if (this.lost) throw this.lost;
    const channel = await open();
    // A channel the broker closes reports why (404 NOT_FOUND, 403 ACCESS_REFUSED) in this event, before the
    // pending operation fails with amqplib's plain "channel closed".
    let refusal: Error | undefined;
    channel.on('error', (error: Error) => (refusal = error));
    try {
      return await work(channel);
    } catch (error) {
      throw refusal ?? error;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }
}

/** A delivery as consume returns it. */
function shapeMessage(delivery: ConsumeMessage) {
  const { fields, properties } = delivery;
  return {
    ...messageBody(delivery.content),
    headers: headerValues(properties.headers),
    exchange: fields.exchange,
    routing_key: fields.routingKey,
    redelivered: fields.redelivered,
    ...(properties.contentType ? { content_type: String(properties.contentType) } : {}),
    ...(properties.messageId ? { message_id: String(properties.messageId) } : {}),
  };
}

/** AMQP header values as JSON: byte strings as text, the rest as amqplib decoded them. */
function headerValues(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(headers ?? {}).map(([name, value]) => [name, Buffer.isBuffer(value) ? value.toString('utf8') : value]),
  );
}
