import type { z } from 'zod';
import { PatchbayError } from '../../errors.js';
import {
  consumeWindow,
  messageBody,
  payloadOf,
  selectMessages,
  waitPlan,
  type ConsumeWindow,
} from '../_shared/messaging-consume.js';
import { exactScope, required } from '../_shared/messaging-scope.js';
import type { consumeInput, publishInput } from './inputs.js';
import type { CallContext, OperationResult, Session } from '../types.js';
import { READ_COMMITTED, type FetchedRecord, type KafkaBroker, type KafkaClient } from './client.js';

/** Longest single fetch: a consume checks its wait and its call between fetches, so this bounds its overrun. */
const FETCH_SLICE_MS = 250;
/** Most bytes one partition may answer in one fetch (a larger first record still comes whole). */
const PARTITION_FETCH_BYTES = 1_048_576;

/** A record and the partition it came from, in the order they were fetched. */
interface Received {
  partition: number;
  record: FetchedRecord;
}

/**
 * One kafkajs Cluster (two connections per broker it talks to, one of them for fetches) and a producer on it.
 * A consume reads the partitions of its topic from the group's committed offsets (the earliest offset where
 * the group has none) and commits past what its response holds, once that is built: what it did not return,
 * and everything of a call that failed, is read again by the next consume of the group.
 */
export class KafkaSession implements Session {
  private closing?: Promise<void>;
  // The consume running per group and topic: a second one waits, so that both never return the same records.
  private readonly consuming = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: KafkaClient,
    private readonly boundary: string | undefined,
  ) {}

  /** A metadata request: the brokers, and the connector's topic when it sets one (upstream_not_found if missing). */
  async ping(): Promise<string> {
    const { brokers, topicMetadata } = await this.client.cluster.metadata({ topics: this.boundary ? [this.boundary] : [] });
    const topic = topicMetadata.find((item) => item.topic === this.boundary);
    const partitions = topic ? `; topic ${topic.topic} has ${topic.partitionMetadata.length} partition(s)` : '';
    return `Connected to Kafka: ${brokers.length} broker(s)${partitions}`;
  }

  async execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    if (this.closing) throw new Error('the session was closed');
    const run = () =>
      operation === 'publish'
        ? this.publish(input as z.output<typeof publishInput>, call)
        : this.consume(input as z.output<typeof consumeInput>, call);
    try {
      return await run();
    } catch (error) {
      if (!isUnknownTopic(error)) throw error;
      // kafkajs refreshes the metadata of every topic its cluster was ever asked for, and a single one deleted
      // since fails every refresh. Forget them all and try once more: only a missing topic of this call fails again.
      this.client.cluster.targetTopics.clear();
      return run();
    }
  }

  close(): Promise<void> {
    this.closing ??= this.client.cluster.disconnect().catch(() => undefined);
    return this.closing;
  }

  /** Waits for every in-sync replica (acks -1); the answer says where the message landed. */
  private async publish(request: z.output<typeof publishInput>, call: CallContext): Promise<OperationResult> {
    const topic = this.topicOf(request.topic);
    const [landed] = await this.client.producer.send({
      topic,
      acks: -1,
      timeout: call.limits.timeoutMs,
      messages: [{ key: request.key ?? null, value: payloadOf(request), headers: request.headers }],
    });
    return { data: { topic, partition: landed?.partition ?? null, offset: landed?.baseOffset ?? null } };
  }

  private async consume(request: z.output<typeof consumeInput>, call: CallContext): Promise<OperationResult> {
    const topic = this.topicOf(request.topic);
    const groupId = consumerGroup(call);
    const key = `${groupId}\0${topic}`;
    const previous = this.consuming.get(key) ?? Promise.resolve();
    const running = previous
      .catch(() => undefined)
      .then(() => this.consumeAlone(topic, groupId, consumeWindow(request, call.limits), call));
    this.consuming.set(key, running);
    try {
      return await running;
    } finally {
      if (this.consuming.get(key) === running) this.consuming.delete(key);
    }
  }

  private async consumeAlone(topic: string, groupId: string, window: ConsumeWindow, call: CallContext): Promise<OperationResult> {
    const { cluster } = this.client;
    await this.knowTopic(topic);
    const partitions = cluster.findTopicPartitionMetadata(topic).map((item) => item.partitionId);
    if (partitions.length === 0) throw new PatchbayError('upstream_not_found', `there is no topic ${topic}`);
    const coordinator = await cluster.findGroupCoordinator({ groupId });
    const { positions, latest } = await this.startPositions(topic, groupId, partitions, coordinator);
    const backlog = partitions.reduce((sum, partition) => sum + Number(latest.get(partition)! - positions.get(partition)!), 0);

    const received = await this.fetchUntil(topic, positions, waitPlan(window, backlog), latest, window, call.signal);
    const { kept, messages, truncated } = selectMessages(received, window, ({ partition, record }) =>
      shapeRecord(partition, record),
    );
    call.signal.throwIfAborted(); // nobody waits for this response any more: commit nothing

    // Past the last record each partition returned; a response of whole per-partition prefixes keeps the rest.
    const commits = new Map<number, string>();
    for (const { partition, record } of kept) commits.set(partition, (BigInt(record.offset) + 1n).toString());
    if (commits.size > 0) {
      await coordinator.offsetCommit({
        groupId,
        groupGenerationId: -1,
        memberId: '',
        topics: [{ topic, partitions: [...commits].map(([partition, offset]) => ({ partition, offset })) }],
      });
    }
    return { data: { messages }, truncated };
  }

  /**
   * Where to read each partition: the committed offset, or the earliest one where there is none or it is no
   * longer in the log (deleted by retention, or from a topic of the same name before). Also the latest offsets,
   * which tell how many records are ready.
   */
  private async startPositions(topic: string, groupId: string, partitions: number[], coordinator: KafkaBroker) {
    const asked = partitions.map((partition) => ({ partition }));
    const [committed, earliest, latest] = await Promise.all([
      coordinator
        .offsetFetch({ groupId, topics: [{ topic, partitions: asked }] })
        .then(({ responses }) => byPartition(responses)),
      this.client.cluster.fetchTopicsOffset([{ topic, partitions: asked, fromBeginning: true }]).then(byPartition),
      this.client.cluster.fetchTopicsOffset([{ topic, partitions: asked, fromBeginning: false }]).then(byPartition),
    ]);
    const positions = new Map<number, bigint>();
    for (const partition of partitions) {
      const low = earliest.get(partition) ?? 0n;
      const high = latest.get(partition) ?? low;
      const offset = committed.get(partition) ?? -1n;
      positions.set(partition, offset >= low && offset <= high ? offset : low);
    }
    return { positions, latest };
  }

  /**
   * Fetches from every partition's leader until `plan.target` records arrived or `plan.waitMs` passed, a slice
   * at a time; a backlog that is read to its end returns at once. `positions` move past what arrived.
   */
  private async fetchUntil(
    topic: string,
    positions: Map<number, bigint>,
    plan: { target: number; waitMs: number },
    latest: Map<number, bigint>,
    window: ConsumeWindow,
    signal: AbortSignal,
  ): Promise<Received[]> {
    const received: Received[] = [];
    let waited = false;
    const timer = setTimeout(() => (waited = true), plan.waitMs);
    const drained = () => [...positions].every(([partition, offset]) => offset >= latest.get(partition)!);
    const hadBacklog = !drained();
    try {
      do {
        signal.throwIfAborted();
        for (const item of await this.fetchOnce(topic, positions, Math.min(FETCH_SLICE_MS, plan.waitMs), window)) {
          received.push(item);
          positions.set(item.partition, BigInt(item.record.offset) + 1n);
        }
      } while (received.length < plan.target && !waited && !(hadBacklog && drained()));
    } finally {
      clearTimeout(timer);
    }
    signal.throwIfAborted();
    return received;
  }

  /**
   * Makes the cluster's metadata hold `topic` (UNKNOWN_TOPIC_OR_PARTITION for a missing one). Asked again before
   * each fetch: another call's refresh may have replaced the metadata since.
   */
  private async knowTopic(topic: string): Promise<void> {
    const { cluster } = this.client;
    if (!cluster.targetTopics.has(topic) || cluster.findTopicPartitionMetadata(topic).length === 0) {
      cluster.targetTopics.delete(topic);
      await cluster.addTargetTopic(topic);
    }
  }

  /** One fetch from each leader of the topic's partitions, in parallel. */
  private async fetchOnce(
    topic: string,
    positions: Map<number, bigint>,
    maxWaitTime: number,
    window: ConsumeWindow,
  ): Promise<Received[]> {
    const { cluster, batch } = this.client;
    await this.knowTopic(topic);
    const leaders = cluster.findLeaderForPartitions(topic, [...positions.keys()]);
    const answers = await Promise.all(
      Object.entries(leaders).map(async ([nodeId, partitions]) => {
        const broker = await cluster.findBroker({ nodeId });
        return broker.fetch({
          maxWaitTime,
          minBytes: 1,
          maxBytes: Math.max(window.maxBytes, PARTITION_FETCH_BYTES),
          isolationLevel: READ_COMMITTED,
          topics: [
            {
              topic,
              partitions: partitions.map((partition) => ({
                partition,
                fetchOffset: positions.get(partition)!.toString(),
                maxBytes: PARTITION_FETCH_BYTES,
              })),
            },
          ],
        });
      }),
    );
    return answers.flatMap(({ responses }) =>
      responses.flatMap(({ partitions }) =>
        partitions.flatMap((fetched) =>
          batch(topic, positions.get(fetched.partition)!.toString(), fetched).messages.map((record) => ({
            partition: fetched.partition,
            record,
          })),
        ),
      ),
    );
  }

  private topicOf(requested: string | undefined): string {
    return required('topic', exactScope('topic', this.boundary, requested));
  }
}

/** The consumer group whose offsets a consume commits: its attachment's, or its connector's on the direct path. */
function consumerGroup(call: CallContext): string {
  if (call.instanceId !== undefined) return `patchbay-${call.instanceId}`;
  if (call.connectorId !== undefined) return `patchbay-connector-${call.connectorId}`;
  throw new PatchbayError('validation_failed', 'a consume needs an attachment or a connector to name its consumer group');
}

function isUnknownTopic(error: unknown): boolean {
  for (let part: unknown = error, depth = 0; part instanceof Error && depth < 5; part = part.cause, depth += 1) {
    if ((part as { type?: unknown }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return true;
  }
  return false;
}

function byPartition(topics: { partitions: { partition: number; offset: string }[] }[]): Map<number, bigint> {
  return new Map(
    topics.flatMap(({ partitions }) => partitions.map(({ partition, offset }) => [partition, BigInt(offset)] as const)),
  );
}

/** A record as consume returns it: the value as text or base64, its key, headers, partition, offset and time. */
function shapeRecord(partition: number, record: FetchedRecord) {
  const key = record.key === null ? null : messageBody(record.key);
  return {
    ...messageBody(record.value ?? Buffer.alloc(0)),
    key: key?.message ?? null,
    ...(key?.encoding === 'base64' ? { key_encoding: 'base64' } : {}),
    headers: Object.fromEntries(
      Object.entries(record.headers ?? {}).map(([name, value]) => [name, [value ?? []].flat().map(String).join(',')]),
    ),
    partition,
    offset: record.offset,
    timestamp: new Date(Number(record.timestamp)).toISOString(),
  };
}
