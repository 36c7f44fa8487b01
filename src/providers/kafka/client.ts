import type { ISocketFactory, Producer, SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { tlsOptions } from '../_shared/messaging-connection.js';
import type { KafkaConfig } from './inputs.js';
import type { ConnectContext } from '../types.js';

/**
 * The parts of kafkajs a session uses. Its public consumer only consumes as a member of a consumer group,
 * and joining one costs a rebalance (on a real broker at least `group.initial.rebalance.delay.ms`, 3 s by
 * default) on every call, which no bounded consume can wait for. So a session drives kafkajs's own Cluster
 * (brokers, metadata, leaders, coordinators) directly: it fetches the partitions itself and commits the
 * group's offsets as a standalone consumer (generation -1), as Kafka allows for a group with no members.
 * kafkajs 2.2.4 is the last release and these modules are stable; their shape is written down here.
 */

/** A partition as the metadata describes it. */
export interface PartitionMetadata {
  partitionId: number;
  leader: number;
}

/** A record as kafkajs decodes it from a fetch answer. */
export interface FetchedRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, Buffer | Buffer[] | undefined>;
}

export interface FetchedPartition {
  partition: number;
  errorCode: number;
  highWatermark: string;
  messages: FetchedRecord[];
}

interface TopicPartitions<P> {
  topic: string;
  partitions: P[];
}

/** kafkajs's Broker: one connection pool to one broker. */
export interface KafkaBroker {
  fetch(request: {
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    isolationLevel: number;
    topics: TopicPartitions<{ partition: number; fetchOffset: string; maxBytes: number }>[];
  }): Promise<{ responses: { topicName: string; partitions: FetchedPartition[] }[] }>;
  offsetFetch(request: {
    groupId: string;
    topics: TopicPartitions<{ partition: number }>[];
  }): Promise<{ responses: TopicPartitions<{ partition: number; offset: string }>[] }>;
  offsetCommit(request: {
    groupId: string;
    groupGenerationId: number;
    memberId: string;
    topics: TopicPartitions<{ partition: number; offset: string }>[];
  }): Promise<unknown>;
}

/** kafkajs's Cluster: the brokers, the metadata they share, and the way to a partition's leader. */
export interface KafkaCluster {
  /** Every topic the cluster refreshes metadata for: those calls named (the producer's included). */
  targetTopics: Set<string>;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  metadata(request: {
    topics: string[];
  }): Promise<{ brokers: unknown[]; topicMetadata: { topic: string; partitionMetadata: unknown[] }[] }>;
  addTargetTopic(topic: string): Promise<void>;
  findTopicPartitionMetadata(topic: string): PartitionMetadata[];
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(request: { nodeId: string }): Promise<KafkaBroker>;
  findGroupCoordinator(request: { groupId: string }): Promise<KafkaBroker>;
  fetchTopicsOffset(
    topics: { topic: string; partitions: { partition: number }[]; fromBeginning: boolean }[],
  ): Promise<TopicPartitions<{ partition: number; offset: string }>[]>;
}

/** What a fetch answer holds for the caller: records at or after the fetch offset, without control records or aborted transactions. */
export type BatchOf = (topic: string, fetchedOffset: string, partition: FetchedPartition) => { messages: FetchedRecord[] };

export interface KafkaClient {
  cluster: KafkaCluster;
  producer: Producer;
  batch: BatchOf;
}

// Few retries, soon: a failed call answers with its code and the harness reconnects, so kafkajs's own
// patience (5 retries up to 30 s) would only push every failure past the deadline.
const RETRY = { retries: 1, initialRetryTime: 100, maxRetryTime: 1_000 };
/** kafkajs's log levels; it logs at WARN and above (its INFO lines describe every connection). */
const KAFKAJS_WARN = 2;
const KEEP_ALIVE_MS = 60_000;

// Module paths inside kafkajs (it has no `exports` map, so they resolve as files), typed by hand above.
const MODULES = {
  cluster: 'kafkajs/src/cluster/index.js',
  producer: 'kafkajs/src/producer/index.js',
  batch: 'kafkajs/src/consumer/batch.js',
  loggers: 'kafkajs/src/loggers/index.js',
};

/** A cluster and a producer on it, every socket dialled through the egress guard; nothing is connected yet. */
export async function createKafkaClient(settings: KafkaConfig, ctx: ConnectContext): Promise<KafkaClient> {
  const [kafkajs, clusterModule, producerModule, batchModule, loggers] = await Promise.all([
    import('kafkajs'),
    import(MODULES.cluster) as Promise<{ default: new (options: Record<string, unknown>) => KafkaCluster }>,
    import(MODULES.producer) as Promise<{ default: (options: Record<string, unknown>) => Producer }>,
    import(MODULES.batch) as Promise<{ default: new (...args: Parameters<BatchOf>) => ReturnType<BatchOf> }>,
    import(MODULES.loggers) as Promise<{ createLogger(options: Record<string, unknown>): unknown }>,
  ]);
  const logger = loggers.createLogger({ level: KAFKAJS_WARN, logCreator: () => kafkaLog(ctx.log) });
  const cluster = new clusterModule.default({
    logger,
    socketFactory: socketFactory(settings, ctx),
    brokers: settings.brokers,
    ssl: settings.ssl,
    sasl: sasl(settings),
    clientId: settings.client_id,
    connectionTimeout: settings.connect_timeout_ms,
    authenticationTimeout: settings.connect_timeout_ms,
    retry: RETRY,
    // Never create a topic by asking for it: a missing topic is upstream_not_found.
    allowAutoTopicCreation: false,
    isolationLevel: READ_COMMITTED,
  });
  const producer = producerModule.default({
    cluster,
    logger,
    retry: RETRY,
    // Murmur2, as the Java client partitions keyed messages.
    createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
  });
  const Batch = batchModule.default;
  return { cluster, producer, batch: (topic, offset, partition) => new Batch(topic, offset, partition) };
}

/** Fetches see only committed transactions. */
export const READ_COMMITTED = 1;

/**
 * kafkajs's socket factory on the egress guard: every broker it dials, the bootstrap list and the addresses
 * the metadata hands back, is checked against PATCHBAY_EGRESS on the address actually dialled.
 */
function socketFactory(settings: KafkaConfig, ctx: ConnectContext): ISocketFactory {
  return ({ host, port, onConnect }) => {
    const socket = settings.ssl
      ? ctx.egress.tlsConnect({ ...tlsOptions(settings, host), host, port })
      : ctx.egress.connect({ host, port });
    socket.once(settings.ssl ? 'secureConnect' : 'connect', onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_MS);
    return socket;
  };
}

function sasl(settings: KafkaConfig): SASLOptions | undefined {
  const { sasl_mechanism: mechanism, username, password } = settings;
  if (mechanism === undefined || username === undefined || password === undefined) return undefined;
  return { mechanism, username, password };
}

/**
 * kafkajs's log lines into the session's logger (scrubbed of the config's secrets) at debug: a failure reaches
 * the caller as its error anyway, and kafkajs logs each one again as it passes through its layers.
 */
function kafkaLog(log: Logger) {
  return ({
    namespace,
    log: { message, timestamp: _timestamp, ...extra },
  }: {
    namespace: string;
    log: Record<string, unknown>;
  }) => log.debug({ kafkajs: namespace, ...extra }, String(message));
}
