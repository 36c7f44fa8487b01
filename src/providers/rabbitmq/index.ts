import type { ErrorCode } from '../../errors.js';
import { alternativeIssues, consumeOutput, networkIssues, operation } from '../_shared/common-fields.js';
import { brokerUrlIssues, parseBrokerUrl, tlsOptions } from '../_shared/messaging-connection.js';
import { config, URL_SCHEMES, publishInput, consumeInput, type RabbitConfig } from './inputs.js';
import { RabbitSession, type RabbitTarget } from './session.js';
import type { Provider } from '../types.js';

const rabbitmq: Provider<typeof config> = {
  id: 'rabbitmq',
  type: 'messaging',
  description: 'RabbitMQ (AMQP 0-9-1): publish to an exchange or queue, and consume with acknowledgement.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'url', ['host', 'port', 'vhost', 'username', 'password'], 'host'),
    ...brokerUrlIssues(value.url, URL_SCHEMES),
  ],
  operations: {
    publish: operation('Publish a message to an exchange with a routing key, or straight to a queue.', publishInput, 'always'),
    // Messages returned are acknowledged once the response is built, so they leave the queue: a write.
    consume: operation('Take up to max_messages from a queue and acknowledge them.', consumeInput, 'always', { output: consumeOutput }),
  },
  defaultOperation: 'publish',

  async connect(settings, ctx) {
    const { default: amqp } = await import('amqplib');
    const target = rabbitTarget(settings);
    // amqplib dials with net/tls.connect and passes these socket options on: the guarded lookup checks every
    // address a name resolves to, assertHost an IP literal (RabbitMQ hands back no other addresses to dial).
    ctx.egress.assertHost(target.host);
    const connection = await amqp.connect(
      {
        protocol: target.tls ? 'amqps' : 'amqp',
        hostname: target.host,
        port: target.port,
        username: target.username,
        password: target.password,
        vhost: target.vhost,
        heartbeat: 30,
      },
      {
        lookup: ctx.egress.lookup,
        timeout: settings.connect_timeout_ms,
        noDelay: true,
        clientProperties: { connection_name: 'patchbay' },
        ...(target.tls ? tlsOptions(settings, target.host) : {}),
      },
    );
    return new RabbitSession(connection, settings, ctx.log);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    const { code } = error as { code?: unknown };
    if (typeof code === 'number') return AMQP_REPLY_CODES[code];
    // Failures of the opening handshake carry no code, only amqplib's wording.
    if (/Handshake terminated by server: 403/.test(error.message)) return 'auth_failed';
    // RabbitMQ closes the connection (530 NOT_ALLOWED) when the vhost is missing or the user may not open it.
    if (/Expected ConnectionOpenOk; got <ConnectionClose/.test(error.message)) return 'permission_denied';
    // amqplib's own connect timeout (the `timeout` socket option).
    if (/connect ETIMEDOUT/.test(error.message)) return 'timeout';
    return undefined;
  },
};

export default rabbitmq;

// AMQP reply codes a channel is closed with (the connection stays usable).
const AMQP_REPLY_CODES: Record<number, ErrorCode> = {
  403: 'permission_denied', // ACCESS_REFUSED
  404: 'upstream_not_found', // NOT_FOUND: no such queue or exchange
  405: 'permission_denied', // RESOURCE_LOCKED: an exclusive queue of another connection
  406: 'query_failed', // PRECONDITION_FAILED
};

/** Where and as whom to log in: `url` or the separate fields. */
function rabbitTarget(settings: RabbitConfig): RabbitTarget {
  if (settings.url === undefined) {
    return {
      host: settings.host ?? '',
      port: settings.port,
      vhost: settings.vhost,
      username: settings.username,
      password: settings.password,
      tls: settings.tls,
    };
  }
  const url = parseBrokerUrl(settings.url, URL_SCHEMES);
  const tls = settings.tls || url.scheme === 'amqps';
  return {
    host: url.host,
    port: url.port ?? (tls ? 5671 : 5672),
    // amqp://host/ and amqp://host both mean the default vhost; %2F spells "/" itself.
    vhost: url.path === '' ? '/' : url.path,
    username: url.username,
    password: url.password,
    tls,
  };
}
