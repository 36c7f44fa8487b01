import { isUtf8 } from 'node:buffer';
import type { Limits } from '../types.js';

/**
 * The bounded consume of every messaging provider (DESIGN.md section 6): at most max_messages, after at most
 * wait_ms, whatever arrived. A provider that acknowledges keeps what the response holds and hands the rest
 * back (nack, requeue), so nothing is lost to max_rows, max_bytes or a failed call.
 */

/** What a consume may take, from the request and the call's limits. */
export interface ConsumeWindow {
  /** Most messages to receive: max_messages, or max_rows+1 when that is fewer (the extra one says "truncated"). */
  take: number;
  /** The wait for messages still to come; within the call's timeout_ms. */
  waitMs: number;
  /** The wait for a backlog the source reported: those messages are already on their way. */
  backlogWaitMs: number;
  maxRows: number;
  maxBytes: number;
}

export function consumeWindow(request: { max_messages: number; wait_ms: number }, limits: Limits): ConsumeWindow {
  return {
    take: Math.min(request.max_messages, limits.maxRows + 1),
    waitMs: Math.min(request.wait_ms, limits.timeoutMs),
    backlogWaitMs: limits.timeoutMs,
    maxRows: limits.maxRows,
    maxBytes: limits.maxBytes,
  };
}

/**
 * What to wait for once subscribed. A source that reports `backlog` messages ready (a RabbitMQ queue, a
 * JetStream consumer) returns as soon as those arrive, without waiting for wait_ms; on an empty source the
 * consume waits up to wait_ms for `take` messages.
 */
export function waitPlan(window: ConsumeWindow, backlog = 0): { target: number; waitMs: number } {
  return backlog > 0
    ? { target: Math.min(window.take, backlog), waitMs: window.backlogWaitMs }
    : { target: window.take, waitMs: window.waitMs };
}

/**
 * Collects what a subscription pushes. Create it before subscribing (a broker may deliver before the
 * subscribe call returns), then `arm` it: `done` resolves once the target arrived, the wait passed or the
 * source ended, and rejects when the call is aborted or the source fails. Messages pushed after that are
 * still kept in `received`, so that an acknowledging provider can hand them back.
 */
export class Inbox<T> {
  readonly received: T[] = [];
  readonly done: Promise<void>;
  private target = Number.POSITIVE_INFINITY;
  private settled = false;
  private timer?: NodeJS.Timeout;
  private settle!: (error?: unknown) => void;

  constructor(private readonly signal: AbortSignal) {
    this.done = new Promise<void>((resolve, reject) => {
      const onAbort = () => this.settle(signal.reason ?? new Error('the call was aborted'));
      this.settle = (error) => {
        if (this.settled) return;
        this.settled = true;
        clearTimeout(this.timer);
        signal.removeEventListener('abort', onAbort);
        if (error === undefined) resolve();
        else reject(error);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    // A caller that stops listening (it failed elsewhere) must not leave an unhandled rejection behind.
    this.done.catch(() => undefined);
  }

  /** Starts the wait once the subscription is in place. */
  arm(plan: { target: number; waitMs: number }): Promise<void> {
    this.target = plan.target;
    if (this.received.length >= this.target) this.settle();
    else this.timer = setTimeout(() => this.settle(), plan.waitMs);
    return this.done;
  }

  push(item: T): void {
    this.received.push(item);
    if (this.received.length >= this.target) this.settle();
  }

  /** The source has nothing more (a cancelled consumer, a pull request that expired). */
  end(): void {
    this.settle();
  }

  fail(error: unknown): void {
    this.settle(error);
  }
}

/**
 * Which received messages the response holds: in order, at most `take` and max_rows, and within max_bytes
 * measured as the JSON of `{messages: [...]}`. `rest` is everything else received, for a provider to hand back.
 */
export function selectMessages<T, M>(
  received: readonly T[],
  window: ConsumeWindow,
  shape: (item: T) => M,
): { kept: T[]; messages: M[]; rest: T[]; truncated: boolean } {
  const kept: T[] = [];
  const messages: M[] = [];
  let bytes = jsonBytes({ messages: [] });
  let truncated = false;
  for (const item of received.slice(0, window.take)) {
    const message = shape(item);
    const size = jsonBytes(message) + (messages.length > 0 ? 1 : 0);
    if (messages.length === window.maxRows || bytes + size > window.maxBytes) {
      truncated = true;
      break;
    }
    bytes += size;
    kept.push(item);
    messages.push(message);
  }
  return { kept, messages, rest: received.slice(kept.length), truncated };
}

type Encoding = 'utf8' | 'base64';

/** A received payload as a consume returns it: UTF-8 text as it is, anything else base64. */
export function messageBody(payload: Uint8Array): { message: string; encoding: Encoding } {
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  return isUtf8(bytes)
    ? { message: bytes.toString('utf8'), encoding: 'utf8' }
    : { message: bytes.toString('base64'), encoding: 'base64' };
}

/** The bytes a publish sends: `message` decoded as `encoding` says. */
export function payloadOf(input: { message: string; encoding: Encoding }): Buffer {
  return Buffer.from(input.message, input.encoding === 'base64' ? 'base64' : 'utf8');
}

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');
