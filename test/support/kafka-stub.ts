import net from 'node:net';
import { ScramConversation, ScramFailure, scramCredential, type ScramCredential, type ScramDigest } from './scram.js';
import { int32BESizePrefix, readFrames, TcpStub } from './tcp-stub.js';

/**
 * A Kafka wire-protocol stub for the kafka provider's tests (DESIGN.md section 6): enough of a single broker
 * (node 1, on 127.0.0.1, no TLS) for kafkajs 2.x to connect, publish, and consume with committed offsets from
 * in-memory topics. Size-prefixed frames, request header v1, response header v0, one version of each API:
 *
 * ApiVersions v0-v2, Metadata v1, Produce v3 and Fetch v4 (record batches v2, stored as produced and never
 * decoded: the stub only assigns offsets), ListOffsets v1 (earliest and latest), FindCoordinator v0 (itself),
 * OffsetCommit v2 and OffsetFetch v1 for standalone groups (generation -1: the provider commits without joining
 * a group, so JoinGroup, SyncGroup and Heartbeat are not spoken), SaslHandshake v1 and SaslAuthenticate v0 with
 * PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 for the users it is given (the SCRAM exchange of RFC 5802 and 7677 in
 * test/support/scram.ts, with credentials stored as a broker stores them: salt, iterations, StoredKey, ServerKey).
 * A connection that does not authenticate is let in, as on a PLAINTEXT listener. A user may be refused Produce
 * (TOPIC_AUTHORIZATION_FAILED), for `permission_denied`. Topics are never created automatically. Anything else
 * closes the connection, as a broker does with a request it cannot parse. No TLS, one broker, no transactions,
 * no compression codecs (the stub never decodes a batch, so a compressed one passes through untouched).
 */

export interface KafkaStubUser {
  user: string;
  password: string;
  /** Whether Produce is allowed. @default true */
  produce?: boolean;
}

export interface KafkaStubOptions {
  users?: KafkaStubUser[];
}

interface StoredBatch {
  baseOffset: bigint;
  lastOffset: bigint;
  bytes: Buffer;
}

interface Partition {
  batches: StoredBatch[];
  /** The offset the next record gets: the high watermark. */
  next: bigint;
}

interface Connection {
  /** The mechanism SaslHandshake chose, which the SaslAuthenticate requests that follow speak. */
  mechanism?: Mechanism;
  /** A SCRAM exchange between its first and its final message. */
  scram?: ScramConversation;
  user?: KafkaStubUser;
}

type Mechanism = (typeof MECHANISMS)[number];
const MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
const SCRAM_DIGESTS: Partial<Record<Mechanism, ScramDigest>> = { 'SCRAM-SHA-256': 'sha256', 'SCRAM-SHA-512': 'sha512' };

// Kafka error codes (https://kafka.apache.org/protocol#protocol_error_codes).
const NONE = 0;
const OFFSET_OUT_OF_RANGE = 1;
const CORRUPT_MESSAGE = 2;
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const ILLEGAL_GENERATION = 22;
const TOPIC_AUTHORIZATION_FAILED = 29;
const UNSUPPORTED_SASL_MECHANISM = 33;
const ILLEGAL_SASL_STATE = 34;
const UNSUPPORTED_VERSION = 35;
const SASL_AUTHENTICATION_FAILED = 58;

/** API key → the one version the stub speaks (ApiVersions: 0 to 2). */
const VERSIONS: Record<number, number> = { 0: 3, 1: 4, 2: 1, 3: 1, 8: 2, 9: 1, 10: 0, 17: 1, 18: 2, 36: 0 };
const EARLIEST = -2n;
/** Byte offsets inside a v2 record batch. */
const BATCH = { length: 8, magic: 16, lastOffsetDelta: 23, overhead: 61 };

export class KafkaStub extends TcpStub {
  readonly nodeId = 1;
  /** topic → its partitions; kept across stop() and start(). */
  readonly topics = new Map<string, Partition[]>();
  /** group → `topic:partition` → committed offset. */
  readonly groups = new Map<string, Map<string, bigint>>();
  /** Records the stub has handed out in Fetch answers, so a test can tell that a consume has its messages. */
  fetchedRecords = 0;
  private readonly waiters = new Set<() => void>();
  /** `<digest>:<user>` → the SCRAM credential a broker keeps for that user and mechanism. */
  private readonly scramCredentials = new Map<string, ScramCredential>();

  private constructor(private readonly options: KafkaStubOptions) {
    super(net.createServer((socket) => this.accept(socket)));
    for (const { user, password } of options.users ?? []) {
      for (const digest of ['sha256', 'sha512'] as const)
        this.scramCredentials.set(`${digest}:${user}`, scramCredential(password, digest));
    }
  }

  static async start(options: KafkaStubOptions = {}): Promise<KafkaStub> {
    const stub = new KafkaStub(options);
    await stub.start();
    return stub;
  }

  /** Also wakes every Fetch waiting for records, which then answers at once. Topics and offsets are kept. */
  override stop(): Promise<number> {
    const stopping = super.stop();
    for (const wake of this.waiters) wake();
    return stopping;
  }

  createTopic(name: string, partitions = 1): void {
    this.topics.set(
      name,
      Array.from({ length: partitions }, () => ({ batches: [], next: 0n })),
    );
  }

  deleteTopic(name: string): void {
    this.topics.delete(name);
    for (const offsets of this.groups.values()) {
      for (const key of offsets.keys()) if (key.startsWith(`${name}:`)) offsets.delete(key);
    }
  }

  /** The high watermark of each partition of a topic. */
  highWatermarks(topic: string): number[] {
    return (this.topics.get(topic) ?? []).map((partition) => Number(partition.next));
  }

  /** A group's committed offsets on a topic, by partition. */
  committed(group: string, topic: string): Record<number, number> {
    const entries = [...(this.groups.get(group) ?? new Map<string, bigint>()).entries()]
      .filter(([key]) => key.startsWith(`${topic}:`))
      .map(([key, offset]) => [Number(key.slice(topic.length + 1)), Number(offset)] as const);
    return Object.fromEntries(entries);
  }

  private accept(socket: net.Socket): void {
    const connection: Connection = {};
    readFrames(socket, int32BESizePrefix, (frame) => this.answer(socket, connection, frame.subarray(4)));
  }

  private async answer(socket: net.Socket, connection: Connection, frame: Buffer): Promise<void> {
    if (socket.destroyed) return;
    try {
      const request = new Reader(frame);
      const apiKey = request.int16();
      const version = request.int16();
      const correlationId = request.int32();
      request.nullableString(); // client id
      const body = await this.handle(apiKey, version, request, connection);
      const payload = Buffer.concat([int32(correlationId), body]);
      if (!socket.destroyed) socket.write(Buffer.concat([int32(payload.length), payload]));
    } catch {
      socket.destroy();
    }
  }

  private handle(apiKey: number, version: number, request: Reader, connection: Connection): Promise<Buffer> | Buffer {
    if (apiKey === 18) return this.apiVersions(version);
    if (VERSIONS[apiKey] !== version) throw new Error(`the stub does not speak API ${apiKey} v${version}`);
    switch (apiKey) {
      case 0:
        return this.produce(request, connection);
      case 1:
        return this.fetch(request);
      case 2:
        return this.listOffsets(request);
      case 3:
        return this.metadata(request);
      case 8:
        return this.offsetCommit(request);
      case 9:
        return this.offsetFetch(request);
      case 10:
        request.string(); // group id: this broker coordinates every group
        return new Writer().int16(NONE).int32(this.nodeId).string(this.host).int32(this.port).done();
      case 17: {
        const asked = request.string();
        const mechanism = MECHANISMS.find((name) => name === asked);
        connection.mechanism = mechanism;
        connection.scram = undefined;
        return new Writer()
          .int16(mechanism ? NONE : UNSUPPORTED_SASL_MECHANISM)
          .array(MECHANISMS, (w, name) => w.string(name))
          .done();
      }
      default:
        return this.saslAuthenticate(request, connection);
    }
  }

  private apiVersions(version: number): Buffer {
    if (version > 2)
      return new Writer()
        .int16(UNSUPPORTED_VERSION)
        .array([], () => undefined)
        .done();
    const out = new Writer().int16(NONE).array(Object.entries(VERSIONS), (w, [key, max]) => {
      w.int16(Number(key))
        .int16(Number(key) === 18 ? 0 : max)
        .int16(max);
    });
    if (version > 0) out.int32(0); // throttle_time_ms
    return out.done();
  }

  private metadata(request: Reader): Buffer {
    const asked = request.nullableArray((r) => r.string());
    const names = asked ?? [...this.topics.keys()];
    return new Writer()
      .array([this.nodeId], (w, id) => w.int32(id).string(this.host).int32(this.port).nullableString(null))
      .int32(this.nodeId) // controller
      .array(names, (w, name) => {
        const partitions = this.topics.get(name);
        w.int16(partitions ? NONE : UNKNOWN_TOPIC_OR_PARTITION)
          .string(name)
          .int8(0);
        w.array(partitions ?? [], (p, _partition, index) => {
          p.int16(NONE).int32(index).int32(this.nodeId);
          p.array([this.nodeId], (n, id) => n.int32(id)).array([this.nodeId], (n, id) => n.int32(id));
        });
      })
      .done();
  }

  private produce(request: Reader, connection: Connection): Buffer {
    request.nullableString(); // transactional id
    request.int16(); // acks
    request.int32(); // timeout
    const allowed = connection.user?.produce !== false;
    const topics = request.array((r) => ({
      name: r.string(),
      partitions: r.array((p) => ({ index: p.int32(), records: p.nullableBytes() ?? Buffer.alloc(0) })),
    }));
    const responses = topics.map(({ name, partitions }) => ({
      name,
      partitions: partitions.map(({ index, records }) => {
        const partition = this.topics.get(name)?.[index];
        if (!allowed) return { index, error: TOPIC_AUTHORIZATION_FAILED, baseOffset: -1n };
        if (!partition) return { index, error: UNKNOWN_TOPIC_OR_PARTITION, baseOffset: -1n };
        const baseOffset = partition.next;
        return { index, error: this.append(partition, records), baseOffset };
      }),
    }));
    for (const wake of this.waiters) wake();
    return new Writer()
      .array(responses, (w, { name, partitions }) =>
        w.string(name).array(partitions, (p, { index, error, baseOffset }) => {
          p.int32(index)
            .int16(error)
            .int64(error === NONE ? baseOffset : -1n)
            .int64(-1n);
        }),
      )
      .int32(0)
      .done();
  }

  /** Stores the record batches of a Produce as they are, each given its base offset. */
  private append(partition: Partition, records: Buffer): number {
    const batches: Buffer[] = [];
    for (let at = 0; at < records.length;) {
      if (records.length - at < BATCH.overhead) return CORRUPT_MESSAGE;
      const size = 12 + records.readInt32BE(at + BATCH.length);
      if (at + size > records.length || records.readInt8(at + BATCH.magic) !== 2) return CORRUPT_MESSAGE;
      batches.push(Buffer.from(records.subarray(at, at + size)));
      at += size;
    }
    for (const bytes of batches) {
      const baseOffset = partition.next;
      // The base offset lies outside the batch CRC (which starts at the attributes), so a broker rewrites it.
      bytes.writeBigInt64BE(baseOffset, 0);
      const lastOffset = baseOffset + BigInt(bytes.readInt32BE(BATCH.lastOffsetDelta));
      partition.batches.push({ baseOffset, lastOffset, bytes });
      partition.next = lastOffset + 1n;
    }
    return NONE;
  }

  private async fetch(request: Reader): Promise<Buffer> {
    request.int32(); // replica id
    const maxWaitMs = request.int32();
    request.int32(); // min bytes: 1 is all kafkajs asks
    const maxBytes = request.int32();
    request.int8(); // isolation level: the stub holds no transactions
    const topics = request.array((r) => ({
      name: r.string(),
      partitions: r.array((p) => ({ index: p.int32(), offset: p.int64(), maxBytes: p.int32() })),
    }));
    const ready = () =>
      topics.some(({ name, partitions }) =>
        partitions.some(({ index, offset }) => {
          const partition = this.topics.get(name)?.[index];
          return partition === undefined || offset !== partition.next;
        }),
      );
    if (!ready() && maxWaitMs > 0) await this.waitForRecords(maxWaitMs, ready);
    let budget = maxBytes;
    return new Writer()
      .int32(0)
      .array(topics, (w, { name, partitions }) =>
        w.string(name).array(partitions, (p, { index, offset, maxBytes: partitionMax }) => {
          const partition = this.topics.get(name)?.[index];
          const error = !partition
            ? UNKNOWN_TOPIC_OR_PARTITION
            : offset < 0n || offset > partition.next
              ? OFFSET_OUT_OF_RANGE
              : NONE;
          const records = partition && error === NONE ? this.read(partition, offset, Math.min(partitionMax, budget)) : [];
          budget -= records.reduce((sum, batch) => sum + batch.bytes.length, 0);
          this.fetchedRecords += records.reduce((sum, batch) => sum + Number(batch.lastOffset - batch.baseOffset) + 1, 0);
          const highWatermark = partition?.next ?? -1n;
          p.int32(index).int16(error).int64(highWatermark).int64(highWatermark);
          p.array([], () => undefined); // aborted transactions
          p.bytes(Buffer.concat(records.map((batch) => batch.bytes)));
        }),
      )
      .done();
  }

  /** The batches holding `offset` and after, within `maxBytes` (always at least one, as a broker does). */
  private read(partition: Partition, offset: bigint, maxBytes: number): StoredBatch[] {
    const batches: StoredBatch[] = [];
    let size = 0;
    for (const batch of partition.batches) {
      if (batch.lastOffset < offset) continue;
      if (batches.length > 0 && size + batch.bytes.length > maxBytes) break;
      batches.push(batch);
      size += batch.bytes.length;
    }
    return batches;
  }

  private waitForRecords(maxWaitMs: number, ready: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const wake = () => {
        if (ready() || !this.listening) finish();
      };
      const timer = setTimeout(finish, maxWaitMs);
      this.waiters.add(wake);
    });
  }

  private listOffsets(request: Reader): Buffer {
    request.int32(); // replica id
    const topics = request.array((r) => ({
      name: r.string(),
      partitions: r.array((p) => ({ index: p.int32(), timestamp: p.int64() })),
    }));
    return new Writer()
      .array(topics, (w, { name, partitions }) =>
        w.string(name).array(partitions, (p, { index, timestamp }) => {
          const partition = this.topics.get(name)?.[index];
          const offset = partition ? (timestamp === EARLIEST ? 0n : partition.next) : -1n;
          p.int32(index)
            .int16(partition ? NONE : UNKNOWN_TOPIC_OR_PARTITION)
            .int64(-1n)
            .int64(offset);
        }),
      )
      .done();
  }

  private offsetCommit(request: Reader): Buffer {
    const group = request.string();
    const generation = request.int32();
    request.string(); // member id
    request.int64(); // retention
    const topics = request.array((r) => ({
      name: r.string(),
      partitions: r.array((p) => {
        const index = p.int32();
        const offset = p.int64();
        p.nullableString(); // metadata
        return { index, offset };
      }),
    }));
    const offsets = this.groups.get(group) ?? new Map<string, bigint>();
    this.groups.set(group, offsets);
    return new Writer()
      .array(topics, (w, { name, partitions }) =>
        w.string(name).array(partitions, (p, { index, offset }) => {
          // Only standalone commits: the stub keeps no group members, so a generation would be unknown.
          let error = generation === -1 ? NONE : ILLEGAL_GENERATION;
          if (error === NONE && this.topics.get(name)?.[index] === undefined) error = UNKNOWN_TOPIC_OR_PARTITION;
          if (error === NONE) offsets.set(`${name}:${index}`, offset);
          p.int32(index).int16(error);
        }),
      )
      .done();
  }

  private offsetFetch(request: Reader): Buffer {
    const offsets = this.groups.get(request.string());
    const topics = request.array((r) => ({ name: r.string(), partitions: r.array((p) => p.int32()) }));
    return new Writer()
      .array(topics, (w, { name, partitions }) =>
        w.string(name).array(partitions, (p, index) => {
          p.int32(index)
            .int64(offsets?.get(`${name}:${index}`) ?? -1n)
            .nullableString('')
            .int16(NONE);
        }),
      )
      .done();
  }

  private saslAuthenticate(request: Reader, connection: Connection): Buffer {
    const message = (request.nullableBytes() ?? Buffer.alloc(0)).toString('utf8');
    const answer = (error: number, text: string | null, bytes = '') =>
      new Writer().int16(error).nullableString(text).bytes(Buffer.from(bytes)).done();
    const { mechanism } = connection;
    if (mechanism === undefined) return answer(ILLEGAL_SASL_STATE, 'SaslAuthenticate before SaslHandshake');
    if (mechanism === 'PLAIN') {
      const [, user, password] = message.split('\0');
      connection.user = this.options.users?.find((candidate) => candidate.user === user && candidate.password === password);
      if (connection.user) return answer(NONE, null);
      return answer(SASL_AUTHENTICATION_FAILED, 'Authentication failed: Invalid username or password');
    }
    // SCRAM: the client-first message opens a conversation, the client-final one closes it.
    const digest = SCRAM_DIGESTS[mechanism] as ScramDigest;
    const opening = connection.scram === undefined;
    const conversation = connection.scram ?? new ScramConversation((user) => this.scramCredentials.get(`${digest}:${user}`));
    connection.scram = opening ? conversation : undefined;
    try {
      if (opening) return answer(NONE, null, conversation.first(message));
      const serverFinal = conversation.final(message);
      connection.user = this.options.users?.find((candidate) => candidate.user === conversation.user);
      return answer(NONE, null, serverFinal);
    } catch (error) {
      if (!(error instanceof ScramFailure)) throw error;
      connection.scram = undefined;
      // What a broker answers, whether the user is unknown or the proof wrong.
      return answer(
        SASL_AUTHENTICATION_FAILED,
        `Authentication failed during authentication due to invalid credentials with SASL mechanism ${mechanism}`,
      );
    }
  }
}

const int32 = (value: number): Buffer => {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
};

/** Big-endian reads of the protocol's primitive types. */
class Reader {
  private at = 0;
  constructor(private readonly buffer: Buffer) {}

  int8(): number {
    return this.take(1).readInt8(0);
  }
  int16(): number {
    return this.take(2).readInt16BE(0);
  }
  int32(): number {
    return this.take(4).readInt32BE(0);
  }
  int64(): bigint {
    return this.take(8).readBigInt64BE(0);
  }
  string(): string {
    const value = this.nullableString();
    if (value === null) throw new Error('a string may not be null here');
    return value;
  }
  nullableString(): string | null {
    const length = this.int16();
    return length < 0 ? null : this.take(length).toString('utf8');
  }
  nullableBytes(): Buffer | null {
    const length = this.int32();
    return length < 0 ? null : this.take(length);
  }
  array<T>(read: (reader: Reader) => T): T[] {
    return this.nullableArray(read) ?? [];
  }
  nullableArray<T>(read: (reader: Reader) => T): T[] | null {
    const count = this.int32();
    return count < 0 ? null : Array.from({ length: count }, () => read(this));
  }

  private take(length: number): Buffer {
    if (this.at + length > this.buffer.length) throw new Error('the request ends early');
    const slice = this.buffer.subarray(this.at, this.at + length);
    this.at += length;
    return slice;
  }
}

/** Big-endian writes of the protocol's primitive types. */
class Writer {
  private readonly chunks: Buffer[] = [];

  int8(value: number): this {
    return this.push(1, (b) => b.writeInt8(value));
  }
  int16(value: number): this {
    return this.push(2, (b) => b.writeInt16BE(value));
  }
  int32(value: number): this {
    return this.push(4, (b) => b.writeInt32BE(value));
  }
  int64(value: bigint): this {
    return this.push(8, (b) => b.writeBigInt64BE(value));
  }
  string(value: string): this {
    return this.nullableString(value);
  }
  nullableString(value: string | null): this {
    if (value === null) return this.int16(-1);
    const bytes = Buffer.from(value, 'utf8');
    this.int16(bytes.length);
    this.chunks.push(bytes);
    return this;
  }
  bytes(value: Buffer): this {
    this.int32(value.length);
    this.chunks.push(value);
    return this;
  }
  array<T>(items: readonly T[], write: (writer: this, item: T, index: number) => void): this {
    this.int32(items.length);
    items.forEach((item, index) => write(this, item, index));
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.chunks);
  }

  private push(size: number, write: (buffer: Buffer) => void): this {
    const buffer = Buffer.alloc(size);
    write(buffer);
    this.chunks.push(buffer);
    return this;
  }
}
