import { z } from 'zod';
import {
  consumeFields,
  hostPort,
  messageFields,
  messageHeaders,
  networkFields,
  networkIssues,
  operation,
  passwordField,
  togetherIssues,
} from './_shared/common-fields.js';
import { overridable, secret, type Provider } from './types.js';

// Subjects are dot-separated tokens; a filter may use * (one token) and > (the rest, last only).
const subjectFilter = z
  .string()
  .refine((value) => value.split('.').every((token, i, all) => isFilterToken(token, i === all.length - 1)), {
    message: 'must be a NATS subject (tokens split by dots; * for one token, > only last)',
  });
const subject = subjectFilter.refine((value) => !/(^|\.)[*>](\.|$)/.test(value), {
  message: 'must not contain the wildcards * or >',
});
const streamName = z.string().regex(/^[^\s.*>/\\]+$/, { message: 'must be a JetStream stream name' });

const config = z.strictObject({
  servers: z
    .array(
      z.union([hostPort, z.string().regex(/^(nats|tls):\/\/[^\s@/]+:\d{1,5}$/)], {
        error: 'must be host:port, nats://host:port or tls://host:port (credentials go in their own fields)',
      }),
    )
    .min(1)
    .describe('Servers to connect to: host:port, nats://host:port or tls://host:port.'),
  username: z.string().min(1).optional().describe('User name; with password.'),
  password: passwordField('of username'),
  token: secret(z.string().min(1).optional().describe('Authentication token, instead of a user or an nkey.')),
  nkey_seed: secret(
    z
      .string()
      .regex(/^SU[A-Z2-7]+$/, { message: 'must be a user nkey seed (SU…)' })
      .optional()
      .describe('User nkey seed (SU…), instead of a user or a token.'),
  ),
  subject: overridable(
    subjectFilter
      .optional()
      .describe(
        'Subject filter this connector is limited to (wildcards allowed; scope_denied outside it). ' +
          'An attachment may only narrow it to a filter it matches.',
      ),
  ),
  stream: streamName.optional().describe('JetStream stream: the default of stream_info and the only one consume may name.'),
  ...networkFields,
});

const nats: Provider<typeof config> = {
  id: 'nats',
  type: 'messaging',
  description: 'NATS subjects and JetStream streams: publish, request-reply, consume and stream info.',
  config,
  refine: (value) => [...networkIssues(value), ...togetherIssues(value, ['username', 'password']), ...authIssues(value)],
  operations: {
    publish: operation(
      'Publish a message to a subject.',
      z.strictObject({
        subject: subject.optional().describe("Subject; defaults to the connector's subject when that holds no wildcard."),
        ...messageFields,
        headers: messageHeaders,
      }),
      true,
    ),
    // Core NATS delivers only what arrives while the call waits (a read). Naming a stream consumes through a
    // durable JetStream consumer that acknowledges what it returns, so those messages are gone: a write.
    consume: operation(
      'Return the messages that arrive on a subject within wait_ms, or take them from a JetStream stream.',
      z.strictObject({
        subject: subjectFilter.optional().describe("Subject filter; defaults to the connector's subject."),
        stream: streamName.optional().describe('JetStream stream to consume from (acknowledged); core NATS when unset.'),
        ...consumeFields,
      }),
      (input) => input.stream !== undefined,
    ),
    // A responder may do anything with a request, so it counts as a write, like a publish.
    request: operation(
      'Send a request and return the first reply.',
      z.strictObject({
        subject: subject.describe('Subject the responder listens on.'),
        ...messageFields,
        headers: messageHeaders,
        timeout_ms: z.int().min(1).max(30_000).optional().describe("Longest wait for the reply; the call's timeout when unset."),
      }),
      true,
    ),
    stream_info: operation(
      'Describe a JetStream stream: its subjects, message count and size.',
      z.strictObject({ stream: streamName.optional().describe("Stream; defaults to the connector's stream.") }),
      false,
    ),
  },
  defaultOperation: 'publish',
  classify: () => undefined,
};

export default nats;

/** One way to authenticate: a user and password, a token, or an nkey. */
function authIssues(value: z.output<typeof config>) {
  const ways = (['username', 'token', 'nkey_seed'] as const).filter((field) => value[field] !== undefined);
  return ways.length > 1 ? [{ path: ways[1] ?? 'token', message: `give only one of ${ways.join(', ')}` }] : [];
}

function isFilterToken(token: string, last: boolean): boolean {
  return token === '*' || (token === '>' && last) || /^[^\s*>]+$/.test(token);
}
