import type { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import { consumeOutput, networkIssues, operation } from '../_shared/common-fields.js';
import { config, publishInput, consumeInput } from './inputs.js';
import { createKafkaClient } from './client.js';
import { KafkaSession } from './session.js';
import type { Provider } from '../types.js';

const kafka: Provider<typeof config> = {
  id: 'kafka',
  type: 'messaging',
  description: 'Apache Kafka topics: publish, and consume with committed offsets.',
  config,
  refine: (value) => [...networkIssues(value), ...saslIssues(value), ...ipv6Issues(value.brokers)],
  operations: {
    publish: operation('Publish a message to a topic.', publishInput, 'always'),
    // Offsets are committed for the consumer group patchbay-<instance id> once the response is built, so the
    // messages returned are gone for the next call: a write.
    consume: operation('Read up to max_messages from a topic and commit them.', consumeInput, 'always', { output: consumeOutput }),
  },
  defaultOperation: 'publish',

  async connect(settings, ctx) {
    const client = await createKafkaClient(settings, ctx);
    // The harness stops waiting at the connect deadline; this ends kafkajs's attempts and closes their sockets.
    const abandon = () => void client.cluster.disconnect().catch(() => undefined);
    ctx.signal.addEventListener('abort', abandon, { once: true });
    try {
      await client.producer.connect(); // the bootstrap broker: API versions, SASL, cluster metadata
    } catch (error) {
      await client.cluster.disconnect().catch(() => undefined);
      throw error;
    } finally {
      ctx.signal.removeEventListener('abort', abandon);
    }
    return new KafkaSession(client, settings.topic);
  },

  classify(error) {
    for (let part: unknown = error, depth = 0; part instanceof Error && depth < 5; part = part.cause, depth += 1) {
      const { name, type } = part as Error & { type?: unknown };
      if (name === 'KafkaJSSASLAuthenticationError') return 'auth_failed';
      if (name === 'KafkaJSRequestTimeoutError') return 'timeout';
      if (name === 'KafkaJSConnectionError' && part.message === 'Connection timeout') return 'timeout';
      const code = typeof type === 'string' ? KAFKA_ERRORS[type] : undefined;
      if (code) return code;
    }
    return undefined;
  },
};

export default kafka;

// Kafka error types (https://kafka.apache.org/protocol#protocol_error_codes) as kafkajs names them.
const KAFKA_ERRORS: Record<string, ErrorCode> = {
  SASL_AUTHENTICATION_FAILED: 'auth_failed',
  UNSUPPORTED_SASL_MECHANISM: 'auth_failed',
  ILLEGAL_SASL_STATE: 'auth_failed',
  TOPIC_AUTHORIZATION_FAILED: 'permission_denied',
  GROUP_AUTHORIZATION_FAILED: 'permission_denied',
  CLUSTER_AUTHORIZATION_FAILED: 'permission_denied',
  UNKNOWN_TOPIC_OR_PARTITION: 'upstream_not_found',
  REQUEST_TIMED_OUT: 'timeout',
  INVALID_TOPIC_EXCEPTION: 'query_failed',
  MESSAGE_TOO_LARGE: 'query_failed',
  RECORD_LIST_TOO_LARGE: 'query_failed',
  INVALID_RECORD: 'query_failed',
  CORRUPT_MESSAGE: 'query_failed',
  // A group whose members consume it themselves refuses a standalone commit.
  ILLEGAL_GENERATION: 'query_failed',
  UNKNOWN_MEMBER_ID: 'query_failed',
  REBALANCE_IN_PROGRESS: 'query_failed',
};

/** SASL needs both credentials, and credentials need a mechanism. */
function saslIssues(value: z.output<typeof config>) {
  const credentials = ['username', 'password'] as const;
  if (value.sasl_mechanism === undefined) {
    return credentials.some((field) => value[field] !== undefined)
      ? [{ path: 'sasl_mechanism', message: 'required when username or password is set' }]
      : [];
  }
  return credentials
    .filter((field) => value[field] === undefined)
    .map((field) => ({ path: field, message: 'required when sasl_mechanism is set' }));
}

/** kafkajs splits a broker address at its first colon, so it cannot dial an IPv6 literal. */
function ipv6Issues(brokers: string[]) {
  return brokers.flatMap((broker, index) =>
    broker.startsWith('[') ? [{ path: `brokers.${index}`, message: 'IPv6 addresses are not supported; use a host name' }] : [],
  );
}
