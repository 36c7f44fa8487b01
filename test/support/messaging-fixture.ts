import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { EgressGuard } from '../../src/net/egress.js';
import { parseConfig } from '../../src/providers/registry.js';
import type { CallContext, Provider, Session } from '../../src/providers/types.js';
import type { Call, Config, TruncationCase } from '../providers/conformance.js';

/**
 * What the messaging providers' test files share (kafka, rabbitmq, sqs, redis_pubsub, mqtt, nats): publish and
 * consume calls and the messages they return, waiting for a broker to get somewhere, a consume timed against its
 * wait_ms, a session of the test's own to abort a consume on, and the truncation cases over stored messages.
 */

/** A call of `operation`, in read_write mode unless told otherwise: a consume acknowledges what it takes. */
export const call = (operation: string, input: Record<string, unknown>, mode: Call['mode'] = 'read_write'): Call => ({
  operation,
  input,
  mode,
});

/** The messages a consume returned, typed as the provider returns them. */
export const messagesOf = <M extends { message: string }>(result: { data: unknown }): M[] =>
  (result.data as { messages: M[] }).messages;

/** The bodies of the messages a consume returned, in order. */
export const bodies = (result: { data: unknown }): string[] => messagesOf(result).map((item) => item.message);

/** Asserts that a result, as JSON, fits in `maxBytes`: what a max_bytes cut promises. */
export const assertFitsIn = (result: { data: unknown }, maxBytes: number): void =>
  assert.ok(Buffer.byteLength(JSON.stringify(result.data)) <= maxBytes, `more than ${maxBytes} bytes`);

/**
 * Checks `condition` every `everyMs` until it holds or `attempts` checks have failed; resolves to whether it
 * held. For a broker to get somewhere first: a subscriber counted, a message handed out, a connection gone.
 */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  attempts: number,
  everyMs: number,
): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (await condition()) return true;
    await sleep(everyMs);
  }
  return condition();
}

/**
 * What `work` resolves to, once it is shown to have taken at least `atLeastMs` and less than `belowMs`: a consume
 * with no traffic returns after about its wait_ms (a generous upper bound, for a loaded machine).
 */
export async function returnsBetween<T>(atLeastMs: number, belowMs: number, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const value = await work();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= atLeastMs && elapsed < belowMs, `returned after ${Math.round(elapsed)} ms`);
  return value;
}

/**
 * A session of the test's own on `config`, outside any harness (egress `private`), closed after the test: its
 * calls take a signal the test aborts itself, to fail a consume after the broker handed it messages.
 */
export async function ownSession(t: TestContext, provider: Provider, config: Config): Promise<Session> {
  const parsed = parseConfig(provider, config);
  assert.ok(parsed.success, `the config parses: ${JSON.stringify(parsed)}`);
  assert.ok(provider.connect, `${provider.id} connects`);
  const session = await provider.connect(parsed.data, {
    signal: new AbortController().signal,
    log: pino({ level: 'silent' }),
    egress: new EgressGuard('private'),
    poolMax: 1,
    sqliteRoot: '.',
  });
  t.after(() => session.close());
  return session;
}

/** The context of a read_write call on an own session, ended by `signal`; its deadline (10 s) leaves the test time to abort. */
export const ownCall = (signal: AbortSignal, ids: Pick<CallContext, 'connectorId' | 'instanceId'> = {}): CallContext => ({
  mode: 'read_write',
  limits: { maxRows: 100, maxBytes: 1_048_576, timeoutMs: 10_000 },
  boundParams: {},
  signal,
  ...ids,
});

/** Fourteen bodies, `message-00` to `message-13`: what `storedTruncation` expects the store to hold. */
export const FOURTEEN = Array.from({ length: 14 }, (_, index) => `message-${String(index).padStart(2, '0')}`);

/**
 * The truncation cases over a store holding FOURTEEN (a queue, a stream): a cut consume acknowledges what it
 * returns and hands the extra one back, so each case takes the next messages. `consume(n)` asks for at most n;
 * `maxBytesCheck` adds to what the max_bytes case asserts.
 */
export function storedTruncation(
  consume: (maxMessages: number) => Call,
  maxBytesCheck?: (result: { data: unknown }) => void,
): { maxRows: TruncationCase; maxBytes: TruncationCase } {
  return {
    maxRows: {
      ...consume(10),
      limit: 3,
      check: (result) => assert.deepEqual(bodies(result), ['message-00', 'message-01', 'message-02']),
      exact: consume(3),
    },
    maxBytes: {
      ...consume(10),
      limit: 300,
      check: (result) => {
        assert.ok(messagesOf(result).length >= 1, 'at least one message fits');
        maxBytesCheck?.(result);
        assertFitsIn(result, 300);
      },
      exact: consume(1),
    },
  };
}
