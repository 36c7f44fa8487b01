import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';

import type { ErrorCode } from '../../errors.js';
import { alternativeIssues, consumeOutput, networkIssues, operation } from '../_shared/common-fields.js';
import { brokerUrlIssues, parseBrokerUrl, tlsOptions } from '../_shared/messaging-connection.js';
import { URL_SCHEMES, config, publishInput, consumeInput, type MqttConfig } from './inputs.js';
import { MqttSession } from './session.js';
import type { Provider } from '../types.js';

const mqtt: Provider<typeof config> = {
  id: 'mqtt',
  type: 'messaging',
  description: 'MQTT brokers: publish, and receive what arrives on a topic filter while a call waits.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'url', ['host', 'port', 'username', 'password'], 'host'),
    ...brokerUrlIssues(value.url, URL_SCHEMES),
  ],
  operations: {
    publish: operation('Publish a message to a topic.', publishInput, 'always'),
    // A clean session sees only what arrives while the call waits and removes nothing: a read.
    consume: operation('Subscribe to a topic filter and return the messages that arrive within wait_ms.', consumeInput, 'never', {
      output: consumeOutput,
    }),
  },
  defaultOperation: 'publish',

  async connect(settings, ctx) {
    const { MqttClient } = await import('mqtt');
    const target = mqttTarget(settings);
    let socketError: Error | undefined;
    // mqtt.js dials through this stream builder: the guarded socket checks the address actually dialled.
    const dial = (): Duplex => {
      const socket = target.tls
        ? ctx.egress.tlsConnect({ host: target.host, port: target.port, ...tlsOptions(settings, target.host) })
        : ctx.egress.connect({ host: target.host, port: target.port });
      socket.once('error', (error) => (socketError ??= error));
      return socket;
    };
    const client = new MqttClient(dial, {
      protocolVersion: 5,
      clientId: settings.client_id ?? `patchbay-${randomBytes(8).toString('hex')}`,
      username: target.username,
      password: target.password,
      clean: true,
      keepalive: 30,
      connectTimeout: settings.connect_timeout_ms,
      // The harness reconnects: a session whose connection dropped fails its next call and is replaced.
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('connect', () => resolve());
        client.once('error', reject);
        // mqtt.js reports only some socket errors itself; an egress refusal arrives as a plain close.
        client.once('close', () => reject(socketError ?? new Error('the broker closed the connection before CONNACK')));
      });
    } catch (error) {
      client.end(true);
      throw error;
    }
    return new MqttSession(client, settings.topic, ctx.log);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    const { code } = error as { code?: unknown };
    if (typeof code === 'number') {
      // CONNACK: 4/134 bad user name or password, 5/135 not authorized (Mosquitto's answer to both), 140 bad method.
      if (error.message.startsWith('Connection refused')) return CONNACK_AUTH.has(code) ? 'auth_failed' : REASON_CODES[code];
      return REASON_CODES[code];
    }
    if (/connack timeout/i.test(error.message)) return 'timeout';
    return undefined;
  },
};

export default mqtt;

const CONNACK_AUTH = new Set([4, 5, 134, 135, 140]);

// MQTT 5 reason codes of a refused PUBLISH or SUBSCRIBE (and the CONNACK codes that are not about credentials).
const REASON_CODES: Record<number, ErrorCode> = {
  135: 'permission_denied', // not authorized
  138: 'permission_denied', // banned
  143: 'query_failed', // topic filter invalid
  144: 'query_failed', // topic name invalid
  149: 'query_failed', // packet too large
  151: 'query_failed', // quota exceeded
  153: 'query_failed', // payload format invalid
  154: 'query_failed', // retain not supported
  155: 'query_failed', // QoS not supported
};

interface MqttTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  tls: boolean;
}

/** Where and as whom to connect: `url` or the separate fields. */
function mqttTarget(settings: MqttConfig): MqttTarget {
  if (settings.url === undefined) {
    const { host = '', port, username, password, tls } = settings;
    return { host, port, username, password, tls };
  }
  const url = parseBrokerUrl(settings.url, URL_SCHEMES);
  const tls = settings.tls || url.scheme === 'mqtts';
  return { host: url.host, port: url.port ?? (tls ? 8883 : 1883), username: url.username, password: url.password, tls };
}
