import type { IPublishPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { consumeWindow, Inbox, messageBody, payloadOf, selectMessages, waitPlan } from '../_shared/messaging-consume.js';
import { filterCovers, filterScope, MQTT_TOPICS, nameScope } from '../_shared/messaging-scope.js';
import type { consumeInput, publishInput } from './inputs.js';
import type { CallContext, OperationResult, Session } from '../types.js';

type Listener = (packet: IPublishPacket) => void;

/** One filter subscribed on the connection, shared by the consumes waiting on it. */
interface Subscription {
  /** MQTT 5 subscription identifier: the broker tags each delivery with the ids of the subscriptions it matched. */
  id: number;
  listeners: Set<Listener>;
  /** Settles with the SUBACK. */
  ready: Promise<unknown>;
}

// Subscription identifiers run from 1 to 268,435,455 (a variable byte integer).
const MAX_SUBSCRIPTION_ID = 268_435_455;

/**
 * One MQTT 5 connection with a clean session. Consumes waiting at the same time share it: each filter is
 * subscribed once, with a subscription identifier, and a delivery goes to the consumes of the subscriptions
 * it matched, so overlapping filters never hand one consume the same message twice.
 */
export class MqttSession implements Session {
  private readonly subscriptions = new Map<string, Subscription>();
  private nextId = 1;
  private lost?: Error;
  private closing?: Promise<void>;
  private readonly waiting = new Set<Inbox<IPublishPacket>>();

  constructor(
    private readonly client: MqttClient,
    private readonly boundary: string | undefined,
    log: Logger,
  ) {
    client.on('message', (_topic, _payload, packet) => this.dispatch(packet));
    client.on('error', (error) => log.warn({ err: error }, 'the MQTT connection failed'));
    client.on('close', () => {
      this.lost ??= new Error('the MQTT connection was closed');
      for (const inbox of this.waiting) inbox.fail(this.lost);
    });
  }

  /** CONNACK was the round trip; a connector limited to a filter also subscribes to it and unsubscribes. */
  async ping(): Promise<string> {
    this.assertOpen();
    if (this.boundary !== undefined) {
      await this.client.subscribeAsync(this.boundary, { qos: 0 });
      await this.client.unsubscribeAsync(this.boundary);
    }
    return 'Connected to the MQTT broker (MQTT 5)';
  }

  async execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    this.assertOpen();
    return operation === 'publish'
      ? this.publish(input as z.output<typeof publishInput>)
      : this.consume(input as z.output<typeof consumeInput>, call);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.lost ??= new Error('the session was closed');
      for (const inbox of this.waiting) inbox.fail(this.lost);
      await this.client.endAsync(true).catch(() => undefined);
    })();
    return this.closing;
  }

  /** QoS 0 is sent and forgotten; QoS 1 and 2 wait for the broker's acknowledgement, which carries a refusal. */
  private async publish(request: z.output<typeof publishInput>): Promise<OperationResult> {
    const topic = nameScope(MQTT_TOPICS, this.boundary, request.topic);
    await this.client.publishAsync(topic, payloadOf(request), {
      qos: request.qos,
      retain: request.retain,
      properties: request.headers ? { userProperties: request.headers } : undefined,
    });
    return { data: { topic, qos: request.qos, retain: request.retain } };
  }

  private async consume(request: z.output<typeof consumeInput>, call: CallContext): Promise<OperationResult> {
    const filter = filterScope(MQTT_TOPICS, this.boundary, request.topic);
    const window = consumeWindow(request, call.limits);
    const inbox = new Inbox<IPublishPacket>(call.signal);
    const listener: Listener = (packet) => inbox.push(packet);
    this.waiting.add(inbox);
    try {
      await this.subscribe(filter, listener);
      try {
        // Retained messages arrive right after the SUBACK; everything else only while the call waits.
        await inbox.arm(waitPlan(window));
      } finally {
        await this.unsubscribe(filter, listener);
      }
    } finally {
      this.waiting.delete(inbox);
    }
    const { messages, truncated } = selectMessages(inbox.received, window, shapeMessage);
    return { data: { messages }, truncated };
  }

  private async subscribe(filter: string, listener: Listener): Promise<void> {
    let subscription = this.subscriptions.get(filter);
    if (!subscription) {
      const id = this.nextId;
      this.nextId = id === MAX_SUBSCRIPTION_ID ? 1 : id + 1;
      const ready = this.client.subscribeAsync(filter, { qos: 1, properties: { subscriptionIdentifier: id } });
      subscription = { id, listeners: new Set(), ready };
      const created = subscription;
      this.subscriptions.set(filter, created);
      ready.catch(() => {
        if (this.subscriptions.get(filter) === created) this.subscriptions.delete(filter);
      });
    }
    subscription.listeners.add(listener);
    await subscription.ready;
  }

  /** The last consume of a filter unsubscribes it. */
  private async unsubscribe(filter: string, listener: Listener): Promise<void> {
    const subscription = this.subscriptions.get(filter);
    if (!subscription?.listeners.delete(listener) || subscription.listeners.size > 0) return;
    this.subscriptions.delete(filter);
    if (!this.lost) await this.client.unsubscribeAsync(filter).catch(() => undefined);
  }

  /** By subscription identifier; a broker that sends none gets the topic matched against each filter instead. */
  private dispatch(packet: IPublishPacket): void {
    const tagged = packet.properties?.subscriptionIdentifier;
    const ids = new Set(tagged === undefined ? [] : [tagged].flat());
    for (const [filter, subscription] of this.subscriptions) {
      const matched = ids.size > 0 ? ids.has(subscription.id) : filterCovers(MQTT_TOPICS, filter, packet.topic);
      if (matched) for (const listener of subscription.listeners) listener(packet);
    }
  }

  private assertOpen(): void {
    if (this.lost) throw this.lost;
  }
}

/** A delivery as consume returns it. */
function shapeMessage(packet: IPublishPacket) {
  const properties = packet.properties ?? {};
  return {
    topic: packet.topic,
    ...messageBody(typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload),
    headers: { ...properties.userProperties },
    qos: packet.qos,
    retain: packet.retain,
    ...(properties.contentType ? { content_type: properties.contentType } : {}),
  };
}
