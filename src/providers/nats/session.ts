import type * as JetStreamModule from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import type * as NatsCore from '@nats-io/transport-node';
import type { Msg, MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { PatchbayError } from '../../errors.js';
import { consumeWindow, Inbox, messageBody, payloadOf, selectMessages, waitPlan } from '../_shared/messaging-consume.js';
import { exactScope, filterScope, nameScope, NATS_SUBJECTS, required } from '../_shared/messaging-scope.js';
import type { consumeInput, NatsConfig, publishInput, requestInput, streamInfoInput } from './inputs.js';
import type { CallContext, OperationResult, Session } from '../types.js';

export interface NatsModules {
  core: typeof NatsCore;
  jetstream: typeof JetStreamModule;
}

/** A refused publish, as the server reports it (-ERR) on the status stream. */
type Refusal = Error & { operation?: string; subject?: string };

/** The server may answer a pull request this much after its own expiry before the consume stops waiting. */
const PULL_GRACE_MS = 500;

/**
 * One NATS connection; the protocol multiplexes every call over it. Core subjects deliver what arrives while
 * a consume waits; a stream consume pulls from the durable consumer of the attachment (patchbay-<instance
 * id>, or patchbay-connector-<connector id> on the direct path) and acknowledges what the response holds.
 */
export class NatsSession implements Session {
  private manager?: Promise<JetStreamManager>;
  private lost?: Error;
  private closing?: Promise<void>;
  private readonly waiting = new Set<Inbox<Msg>>();
  private readonly refusalListeners = new Set<(refusal: Refusal) => void>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: NatsConfig,
    private readonly modules: NatsModules,
    log: Logger,
  ) {
    void nc.closed().then((error) => {
      this.lost ??= error instanceof Error ? error : new Error('the NATS connection was closed');
      for (const inbox of this.waiting) inbox.fail(this.lost);
    });
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type !== 'error') continue;
        if (status.error.name === 'PermissionViolationError')
          for (const listener of this.refusalListeners) listener(status.error);
        else log.warn({ err: status.error }, 'the NATS server reported an error');
      }
    })();
  }

  async ping(): Promise<string> {
    this.assertOpen();
    await this.nc.flush();
    if (this.settings.stream !== undefined) await (await this.jetStreamManager()).streams.info(this.settings.stream);
    return `Connected to NATS ${this.nc.info?.version ?? ''}`.trim();
  }

  async execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    this.assertOpen();
    switch (operation) {
      case 'publish':
        return this.publish(input as z.output<typeof publishInput>, call);
      case 'request':
        return this.request(input as z.output<typeof requestInput>, call);
      case 'stream_info':
        return this.streamInfo(input as z.output<typeof streamInfoInput>);
      default: {
        const request = input as z.output<typeof consumeInput>;
        return request.stream === undefined ? this.consumeCore(request, call) : this.consumeStream(request, call);
      }
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.lost ??= new Error('the session was closed');
      for (const inbox of this.waiting) inbox.fail(this.lost);
      await this.nc.close().catch(() => undefined);
    })();
    return this.closing;
  }

  /** Core publish, confirmed by a flush; through JetStream, acknowledged by the connector's stream, when it names one. */
  private async publish(request: z.output<typeof publishInput>, call: CallContext): Promise<OperationResult> {
    const subject = nameScope(NATS_SUBJECTS, this.settings.subject, request.subject);
    const headers = this.headersOf(request.headers);
    const { stream } = this.settings;
    if (stream !== undefined) {
      const ack = await this.modules.jetstream
        .jetstream(this.nc)
        .publish(subject, payloadOf(request), { headers, timeout: call.limits.timeoutMs, expect: { streamName: stream } });
      return { data: { subject, stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate } };
    }
    await this.refusable(subject, async () => {
      this.nc.publish(subject, payloadOf(request), { headers });
      await this.nc.flush();
    });
    return { data: { subject } };
  }

  private async request(request: z.output<typeof requestInput>, call: CallContext): Promise<OperationResult> {
    const subject = nameScope(NATS_SUBJECTS, this.settings.subject, request.subject);
    const reply = await this.refusable(subject, () =>
      this.nc.request(subject, payloadOf(request), {
        timeout: request.timeout_ms ?? call.limits.timeoutMs,
        headers: this.headersOf(request.headers),
      }),
    );
    return { data: { ...messageBody(reply.data), headers: headerValues(reply.headers) } };
  }

  private async streamInfo(request: z.output<typeof streamInfoInput>): Promise<OperationResult> {
    const stream = required('stream', exactScope('stream', this.settings.stream, request.stream));
    const { config, state, created } = await (await this.jetStreamManager()).streams.info(stream);
    return {
      data: {
        name: config.name,
        subjects: config.subjects ?? [],
        retention: config.retention,
        storage: config.storage,
        messages: state.messages,
        bytes: state.bytes,
        first_seq: state.first_seq,
        last_seq: state.last_seq,
        consumer_count: state.consumer_count,
        created,
      },
    };
  }

  /** What arrives on the subject while the call waits; nothing is removed. */
  private async consumeCore(request: z.output<typeof consumeInput>, call: CallContext): Promise<OperationResult> {
    const subject = filterScope(NATS_SUBJECTS, this.settings.subject, request.subject);
    const window = consumeWindow(request, call.limits);
    const inbox = new Inbox<Msg>(call.signal);
    this.waiting.add(inbox);
    const subscription = this.nc.subscribe(subject, {
      max: window.take,
      callback: (error, msg) => (error ? inbox.fail(error) : inbox.push(msg)),
    });
    try {
      await this.nc.flush(); // the server holds the subscription (or has refused it) before the wait starts
      await inbox.arm(waitPlan(window));
    } finally {
      subscription.unsubscribe();
      this.waiting.delete(inbox);
    }
    const { messages, truncated } = selectMessages(inbox.received, window, (msg) => ({
      subject: msg.subject,
      ...messageBody(msg.data),
      headers: headerValues(msg.headers),
    }));
    return { data: { messages }, truncated };
  }

  /**
   * One pull request to the attachment's durable consumer, for exactly the messages the call waits for, so
   * that no request outlives the call. What the response holds is acknowledged once it is built; the rest,
   * and everything of a call that fails, is negatively acknowledged and redelivered at once.
   */
  private async consumeStream(request: z.output<typeof consumeInput>, call: CallContext): Promise<OperationResult> {
    const stream = required('stream', exactScope('stream', this.settings.stream, request.stream));
    const { subject } = this.settings;
    const filter =
      request.subject === undefined && subject === undefined ? undefined : filterScope(NATS_SUBJECTS, subject, request.subject);
    const durable = durableName(call);
    const { AckPolicy, DeliverPolicy } = this.modules.jetstream;
    // Creates the durable consumer, or updates its filter; either way reports how many messages wait for it.
    const consumer = await (
      await this.jetStreamManager()
    ).consumers.add(stream, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: filter,
    });
    const window = consumeWindow(request, call.limits);
    const plan = waitPlan(window, consumer.num_pending);
    const inbox = new Inbox<Msg>(call.signal);
    this.waiting.add(inbox);
    const replies = this.modules.core.createInbox();
    const subscription = this.nc.subscribe(replies, {
      // A status message (404 no messages, 408 request expired, 409) ends the pull request.
      callback: (error, msg) => (error ? inbox.fail(error) : (msg.headers?.code ?? 0) > 0 ? inbox.end() : inbox.push(msg)),
    });
    const pull =
      plan.waitMs > 0
        ? { batch: plan.target, expires: this.modules.core.nanos(plan.waitMs) }
        : { batch: plan.target, no_wait: true };
    try {
      this.nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`, JSON.stringify(pull), { reply: replies });
      await inbox.arm({ target: plan.target, waitMs: plan.waitMs + PULL_GRACE_MS });
      const { kept, messages, rest, truncated } = selectMessages(inbox.received, window, streamMessage);
      call.signal.throwIfAborted(); // nobody waits for this response any more: acknowledge nothing
      for (const msg of rest) msg.respond('-NAK');
      for (const msg of kept) msg.respond('+ACK');
      await this.nc.flush();
      return { data: { messages }, truncated };
    } catch (error) {
      if (!this.lost) for (const msg of inbox.received) msg.respond('-NAK');
      throw error;
    } finally {
      subscription.unsubscribe();
      this.waiting.delete(inbox);
    }
  }

  /**
   * Runs `work`, failing it with the server's refusal of a publish to `subject`. The server reports it (-ERR)
   * before the PONG of a flush or the reply that follows, and the status stream delivers it a few microtasks
   * later: one macrotask turn lets it land.
   */
  private async refusable<T>(subject: string, work: () => Promise<T>): Promise<T> {
    let refusal: Refusal | undefined;
    let reject: (error: Error) => void = () => undefined;
    const refused = new Promise<never>((_resolve, fail) => (reject = fail));
    refused.catch(() => undefined);
    const listener = (error: Refusal) => {
      if (error.operation !== 'publish' || error.subject !== subject) return;
      refusal = error;
      reject(error);
    };
    this.refusalListeners.add(listener);
    try {
      const result = await Promise.race([work(), refused]);
      await new Promise((resolve) => setImmediate(resolve));
      if (refusal) throw refusal;
      return result;
    } finally {
      this.refusalListeners.delete(listener);
    }
  }

  private jetStreamManager(): Promise<JetStreamManager> {
    this.manager ??= this.modules.jetstream.jetstreamManager(this.nc).catch((error: unknown) => {
      this.manager = undefined; // JetStream may be enabled later: ask again next time
      throw error;
    });
    return this.manager;
  }

  private headersOf(values: Record<string, string> | undefined): MsgHdrs | undefined {
    if (values === undefined) return undefined;
    const headers = this.modules.core.headers();
    for (const [name, value] of Object.entries(values)) headers.set(name, value);
    return headers;
  }

  private assertOpen(): void {
    if (this.lost) throw this.lost;
  }
}

/** The durable consumer of the caller: its attachment's, or its connector's on the direct path. */
function durableName(call: CallContext): string {
  const owner = call.instanceId ?? (call.connectorId === undefined ? undefined : `connector-${call.connectorId}`);
  if (owner === undefined) {
    throw new PatchbayError(
      'validation_failed',
      'a stream consume needs an attachment or a connector to name its durable consumer',
    );
  }
  // Consumer names may not hold dots, wildcards, slashes or whitespace.
  return `patchbay-${owner}`.replace(/[^A-Za-z0-9_-]/g, '_');
}

/** A stream message as consume returns it, with its stream sequence and whether it was delivered before. */
function streamMessage(msg: Msg) {
  // $JS.ACK.<stream>.<consumer>.<deliveries>.<stream seq>.<consumer seq>.<time>.<pending>, or the newer form
  // with <domain>.<account hash> after $JS.ACK and a random token at the end.
  const tokens = (msg.reply ?? '').split('.');
  const at = tokens.length === 9 ? 4 : 6;
  return {
    subject: msg.subject,
    ...messageBody(msg.data),
    headers: headerValues(msg.headers),
    sequence: Number(tokens[at + 1]),
    redelivered: Number(tokens[at]) > 1,
  };
}

/** Headers as JSON: one value as a string, a repeated header as a list. */
function headerValues(headers: MsgHdrs | undefined): Record<string, string | string[]> {
  const values: Record<string, string | string[]> = {};
  for (const [name, list] of headers ?? []) values[name] = list.length === 1 ? (list[0] as string) : list;
  return values;
}
