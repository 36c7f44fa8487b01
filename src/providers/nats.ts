import { z } from 'zod';
import type { ErrorCode } from '../errors.js';
import {
  consumeFields,
  consumeOutput,
  hostPort,
  messageFields,
  messageHeaders,
  networkFields,
  networkIssues,
  operation,
  passwordField,
  togetherIssues,
} from './_shared/common-fields.js';
import type { TlsOptions } from '@nats-io/transport-node';
import { NatsSession } from './nats/session.js';
import { boundary, destination, secret, type Provider } from './types.js';

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

const nats: Provider<typeof config> = {
  id: 'nats',
  type: 'messaging',
  description: 'NATS subjects and JetStream streams: publish, request-reply, consume and stream info.',
  config,
  refine: (value) => [...networkIssues(value), ...togetherIssues(value, ['username', 'password']), ...authIssues(value)],
  operations: {
    publish: operation(
      'Publish a message to a subject (through JetStream, acknowledged, when the connector names a stream).',
      publishInput,
      'always',
    ),
    // Core NATS delivers only what arrives while the call waits (a read). Naming a stream consumes through a
    // durable JetStream consumer that acknowledges what it returns, so those messages are gone: a write.
    consume: operation(
      'Return the messages that arrive on a subject within wait_ms, or take them from a JetStream stream.',
      consumeInput,
      (input) => input.stream !== undefined,
      { output: consumeOutput },
    ),
    // A responder may do anything with a request, so it counts as a write, like a publish.
    request: operation('Send a request and return the first reply.', requestInput, 'always'),
    stream_info: operation('Describe a JetStream stream: its subjects, message count and size.', streamInfoInput, 'never'),
  },
  defaultOperation: 'publish',

  async connect(settings, ctx) {
    const [core, jetstream, { connectThroughGuard }] = await Promise.all([
      import('@nats-io/transport-node'),
      import('@nats-io/jetstream'),
      import('./nats/transport.js'),
    ]);
    const servers = settings.servers.map((server) => server.replace(/^(nats|tls):\/\//, ''));
    const wantsTls =
      settings.servers.some((server) => server.startsWith('tls://')) ||
      settings.tls_ca !== undefined ||
      settings.tls_cert !== undefined;
    const connection = await connectThroughGuard(
      {
        servers,
        name: 'patchbay',
        user: settings.username,
        pass: settings.password,
        token: settings.token,
        authenticator:
          settings.nkey_seed === undefined ? undefined : core.nkeyAuthenticator(new TextEncoder().encode(settings.nkey_seed)),
        // Asked for: TLS or nothing. Otherwise plaintext, upgraded (and verified) only where the server offers TLS.
        // The node transport hands these options to tls.connect, rejectUnauthorized included (untyped there).
        tls: wantsTls
          ? ({
              ca: settings.tls_ca,
              cert: settings.tls_cert,
              key: settings.tls_key,
              rejectUnauthorized: settings.tls_reject_unauthorized,
            } as TlsOptions)
          : undefined,
        timeout: settings.connect_timeout_ms,
        // Names are resolved when the guarded socket dials, where the egress policy checks each address.
        resolve: false,
        pingInterval: 30_000,
      },
      ctx.egress,
    );
    return new NatsSession(connection, settings, { core, jetstream }, ctx.log);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    // The client's error classes live in the lazily loaded library: recognised by name.
    const byName = NATS_ERRORS[error.name];
    if (byName) return byName;
    if (error.name === 'RequestError' && error.cause instanceof Error) return NATS_ERRORS[error.cause.name];
    const { status } = error as { status?: unknown };
    if (JETSTREAM_API_ERRORS.has(error.name) && typeof status === 'number') return JETSTREAM_STATUS[status];
    return undefined;
  },
};

export default nats;

const NATS_ERRORS: Record<string, ErrorCode> = {
  AuthorizationError: 'auth_failed',
  UserAuthenticationExpiredError: 'auth_failed',
  PermissionViolationError: 'permission_denied',
  NoResponders: 'upstream_not_found', // nobody listens on the subject (or no stream captures it)
  JetStreamNotEnabled: 'upstream_not_found',
  TimeoutError: 'timeout',
  InvalidSubjectError: 'query_failed',
  InvalidArgumentError: 'query_failed', // a header name NATS does not allow
};

const JETSTREAM_API_ERRORS = new Set(['JetStreamApiError', 'StreamNotFoundError', 'ConsumerNotFoundError']);

// The HTTP-like status of a JetStream API error.
const JETSTREAM_STATUS: Record<number, ErrorCode> = {
  400: 'query_failed', // a consumer config the stream refuses (a filter outside its subjects)
  403: 'permission_denied',
  404: 'upstream_not_found', // no such stream or consumer
  503: 'upstream_not_found', // JetStream is not enabled for the account
};

/** One way to authenticate: a user and password, a token, or an nkey. */
function authIssues(value: z.output<typeof config>) {
  const ways = (['username', 'token', 'nkey_seed'] as const).filter((field) => value[field] !== undefined);
  return ways.length > 1 ? [{ path: ways[1] ?? 'token', message: `give only one of ${ways.join(', ')}` }] : [];
}

function isFilterToken(token: string, last: boolean): boolean {
  return token === '*' || (token === '>' && last) || /^[^\s*>]+$/.test(token);
}
