import { z } from 'zod';
import { consumeFields, hostPort, messageFields, messageHeaders, networkFields, passwordField } from '../_shared/common-fields.js';
import { boundary, destination, secret } from '../types.js';

// Subjects are dot-separated tokens; a filter may use * (one token) and > (the rest, last only).
const subjectFilter = z
  .string()
  .refine((value) => value.split('.').every((token, i, all) => isFilterToken(token, i === all.length - 1)), {
    message: 'must be a NATS subject (tokens split by dots; * for one token, > only last)',
  });
export const subject = subjectFilter.refine((value) => !/(^|\.)[*>](\.|$)/.test(value), {
  message: 'must not contain the wildcards * or >',
});
export const streamName = z.string().regex(/^[^\s.*>/\\]+$/, { message: 'must be a JetStream stream name' });

export const config = z.strictObject({
  servers: destination(
    z
      .array(
        z.union([hostPort, z.string().regex(/^(nats|tls):\/\/[^\s@/]+:\d{1,5}$/)], {
          error: 'must be host:port, nats://host:port or tls://host:port (credentials go in their own fields)',
        }),
      )
      .min(1)
      .describe('Servers to connect to: host:port, nats://host:port or tls://host:port.'),
  ),
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
  subject: boundary(
    'nats_filter',
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

export type NatsConfig = z.output<typeof config>;

export const publishInput = z.strictObject({
  subject: subject.optional().describe("Subject; defaults to the connector's subject when that holds no wildcard."),
  ...messageFields,
  headers: messageHeaders,
});

export const consumeInput = z.strictObject({
  subject: subjectFilter.optional().describe("Subject filter; defaults to the connector's subject."),
  stream: streamName.optional().describe('JetStream stream to consume from (acknowledged); core NATS when unset.'),
  ...consumeFields,
});

export const requestInput = z.strictObject({
  subject: subject.describe('Subject the responder listens on.'),
  ...messageFields,
  headers: messageHeaders,
  timeout_ms: z.int().min(1).max(30_000).optional().describe("Longest wait for the reply; the call's timeout when unset."),
});

export const streamInfoInput = z.strictObject({
  stream: streamName.optional().describe("Stream; defaults to the connector's stream."),
});

function isFilterToken(token: string, last: boolean): boolean {
  return token === '*' || (token === '>' && last) || /^[^\s*>]+$/.test(token);
}
