import type { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import { consumeOutput, networkIssues, operation, togetherIssues } from '../_shared/common-fields.js';
import type { TlsOptions } from '@nats-io/transport-node';
import { config, publishInput, consumeInput, requestInput, streamInfoInput } from './inputs.js';
import { NatsSession } from './session.js';
import type { Provider } from '../types.js';

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
      import('./transport.js'),
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
