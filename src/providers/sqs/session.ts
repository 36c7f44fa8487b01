import { isUtf8 } from 'node:buffer';
import { setTimeout as sleep } from 'node:timers/promises';
import type * as SQS from '@aws-sdk/client-sqs';
import type { z } from 'zod';
import { PatchbayError } from '../../errors.js';
import type { EgressAgents } from '../../net/http-agents.js';
import { consumeWindow, messageBody, payloadOf, selectMessages, waitPlan } from '../_shared/messaging-consume.js';
import type { consumeInput, publishInput } from './inputs.js';
import type { CallContext, OperationResult, Session } from '../types.js';

type Sdk = typeof SQS;

/** SQS hands out at most 10 messages per receive and takes at most 10 entries per batch. */
const SQS_BATCH = 10;
/** The pause between short polls of an empty queue in the last second of a wait. */
const SHORT_POLL_PAUSE_MS = 100;
/**
 * Seconds a received message stays invisible beyond the call's timeout_ms: it must not reach another consumer
 * before this call has deleted it, and it comes back by itself soon after a call that died on the way.
 */
const VISIBILITY_MARGIN_SECONDS = 2;
/** How long handing messages back (visibility 0) may take after a call failed. */
const RELEASE_TIMEOUT_MS = 2_000;

/**
 * One SQSClient on keep-alive agents that dial through the egress guard (at most poolMax sockets). A consume
 * receives with a visibility timeout just past the call's own, deletes the messages its response holds once that
 * is built, and hands every other one back at once (visibility 0): those cut by max_rows or max_bytes, and all
 * of a call that failed. A message it could not hand back reappears when its visibility timeout ends.
 */
export class SqsSession implements Session {
  private closed = false;
  private readonly queueName: string;

  constructor(
    private readonly sdk: Sdk,
    private readonly client: SQS.SQSClient,
    private readonly queueUrl: string,
    private readonly agents: EgressAgents,
  ) {
    this.queueName = new URL(queueUrl).pathname.split('/').filter(Boolean).at(-1) ?? queueUrl;
  }

  async ping(signal: AbortSignal): Promise<string> {
    const waiting = await this.waitingMessages(signal);
    return `Queue ${this.queueName} is reachable: ${waiting} message(s) waiting`;
  }

  async execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    if (this.closed) throw new Error('the session was closed');
    this.checkQueue((input as { queue?: string }).queue);
    // HTTP has no server-side statement timeout: the call gives up at timeoutMs itself.
    const signal = AbortSignal.any([call.signal, AbortSignal.timeout(call.limits.timeoutMs)]);
    return operation === 'publish'
      ? this.publish(input as z.output<typeof publishInput>, signal)
      : this.consume(input as z.output<typeof consumeInput>, call, signal);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.client.destroy();
      this.agents.destroy();
    }
    return Promise.resolve();
  }

  private async publish(request: z.output<typeof publishInput>, signal: AbortSignal): Promise<OperationResult> {
    const body = payloadOf(request);
    // An SQS body is text: bytes that are not UTF-8 would not survive the trip.
    if (!isUtf8(body)) {
      throw new PatchbayError('validation_failed', 'an SQS message body must be text', {
        errors: [{ path: 'message', message: 'must decode to UTF-8 text' }],
      });
    }
    const sent = await this.client.send(
      new this.sdk.SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: body.toString('utf8'),
        MessageAttributes:
          request.headers && Object.keys(request.headers).length > 0 ? stringAttributes(request.headers) : undefined,
        MessageGroupId: request.message_group_id,
        MessageDeduplicationId: request.message_deduplication_id,
      }),
      { abortSignal: signal },
    );
    return {
      data: {
        queue: this.queueName,
        message_id: sent.MessageId ?? null,
        ...(sent.SequenceNumber ? { sequence_number: sent.SequenceNumber } : {}),
      },
    };
  }

  private async consume(
    request: z.output<typeof consumeInput>,
    call: CallContext,
    signal: AbortSignal,
  ): Promise<OperationResult> {
    const window = consumeWindow(request, call.limits);
    // A queue that reports messages waiting answers as soon as those arrived; never later than wait_ms.
    const plan = waitPlan(window, await this.waitingMessages(signal));
    const wait = new WaitPhases(Math.min(plan.waitMs, window.waitMs));
    const visibility = Math.ceil(call.limits.timeoutMs / 1000) + VISIBILITY_MARGIN_SECONDS;
    const received: SQS.Message[] = [];
    try {
      while (received.length < plan.target) {
        // Checked between receives, never by cutting one off: SQS would still hand a cut-off long poll the
        // messages that arrive during it, hidden for their visibility timeout with nobody to return them to.
        signal.throwIfAborted();
        const phase = wait.phase();
        const batch = await this.receive(plan.target - received.length, visibility, phase === 'long' ? 1 : 0);
        received.push(...batch);
        if (batch.length > 0 || phase === 'long') continue;
        if (phase === 'over') break;
        await sleep(SHORT_POLL_PAUSE_MS);
      }
      const { kept, messages, rest, truncated } = selectMessages(received, window, shapeMessage);
      signal.throwIfAborted(); // nobody waits for this response any more: delete nothing
      await this.deleteMessages(kept, signal);
      await this.release(rest);
      return { data: { messages }, truncated };
    } catch (error) {
      await this.release(received);
      throw error;
    } finally {
      wait.stop();
    }
  }

  /** One receive: a long poll of `waitSeconds`, or a short poll (0) for what is ready. */
  private async receive(count: number, visibility: number, waitSeconds: number): Promise<SQS.Message[]> {
    const { Messages } = await this.client.send(
      new this.sdk.ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: Math.min(count, SQS_BATCH),
        WaitTimeSeconds: waitSeconds,
        VisibilityTimeout: visibility,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        // The older name of the same list, which some SQS-compatible servers read instead.
        AttributeNames: ['All'],
      }),
    );
    return Messages ?? [];
  }

  private async deleteMessages(messages: SQS.Message[], signal: AbortSignal): Promise<void> {
    for (let at = 0; at < messages.length; at += SQS_BATCH) {
      const entries = messages
        .slice(at, at + SQS_BATCH)
        .map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle }));
      await this.client.send(new this.sdk.DeleteMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }), {
        abortSignal: signal,
      });
    }
  }

  /** Makes messages visible again now; best effort (on failure they come back when their visibility ends). */
  private async release(messages: SQS.Message[]): Promise<void> {
    for (let at = 0; at < messages.length; at += SQS_BATCH) {
      const entries = messages
        .slice(at, at + SQS_BATCH)
        .map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: 0 }));
      await this.client
        .send(new this.sdk.ChangeMessageVisibilityBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }), {
          abortSignal: AbortSignal.timeout(RELEASE_TIMEOUT_MS),
        })
        .catch(() => undefined);
    }
  }

  private async waitingMessages(signal: AbortSignal): Promise<number> {
    const { Attributes } = await this.client.send(
      new this.sdk.GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
      { abortSignal: signal },
    );
    return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
  }

  /** A request may name the connector's queue, by name or URL, and no other. */
  private checkQueue(requested: string | undefined): void {
    if (requested !== undefined && requested !== this.queueName && requested !== this.queueUrl) {
      throw new PatchbayError('scope_denied', `this connector may only use queue ${this.queueName}`);
    }
  }
}

/**
 * Where a consume's wait stands, by timers: long polls of one second (SQS counts whole seconds) while a whole
 * second is left, short polls in the last one, and `over` once the wait has passed.
 */
class WaitPhases {
  private lastSecond = false;
  private over = false;
  private readonly timers: NodeJS.Timeout[];

  constructor(waitMs: number) {
    this.lastSecond = waitMs < 1_000;
    this.timers = [setTimeout(() => (this.over = true), waitMs)];
    if (!this.lastSecond) this.timers.push(setTimeout(() => (this.lastSecond = true), waitMs - 1_000));
  }

  phase(): 'long' | 'short' | 'over' {
    return this.over ? 'over' : this.lastSecond ? 'short' : 'long';
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }
}

function stringAttributes(headers: Record<string, string>): Record<string, SQS.MessageAttributeValue> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]));
}

/** A message as consume returns it: its body, attributes as headers, id, receive count and send time. */
function shapeMessage(message: SQS.Message) {
  const attributes = message.Attributes ?? {};
  const receiveCount = Number(attributes.ApproximateReceiveCount ?? 1);
  return {
    ...messageBody(Buffer.from(message.Body ?? '', 'utf8')),
    headers: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        value.StringValue ?? (value.BinaryValue ? Buffer.from(value.BinaryValue).toString('base64') : ''),
      ]),
    ),
    message_id: message.MessageId ?? null,
    receive_count: receiveCount,
    redelivered: receiveCount > 1,
    ...(attributes.SentTimestamp ? { sent_at: new Date(Number(attributes.SentTimestamp)).toISOString() } : {}),
    ...(attributes.MessageGroupId ? { message_group_id: attributes.MessageGroupId } : {}),
  };
}
