import type { AbstractCursor, BSON, Collection, Db, Document, MongoClient } from 'mongodb';
import { PatchbayError } from '../../errors.js';
import type { CountInput, DeleteInput, FindInput, InsertInput, AggregateInput, UpdateInput } from './inputs.js';
import type { CallContext, Limits, OperationResult, Session } from '../types.js';

type Ejson = typeof BSON.EJSON;

/** $out and $merge write the pipeline's result into a collection. */
export function writesStage(stage: Record<string, unknown>): boolean {
  return Object.hasOwn(stage, '$out') || Object.hasOwn(stage, '$merge');
}

const WRITE_OPERATIONS = new Set(['insert', 'update', 'delete']);

/**
 * One MongoClient (its own pool of at most poolMax connections) on one database. Requests arrive as relaxed
 * Extended JSON and results leave as relaxed Extended JSON (DESIGN.md section 6).
 */
export class MongoSession implements Session {
  private version?: string;
  private closing?: Promise<void>;

  constructor(
    private readonly client: MongoClient,
    private readonly db: Db,
    private readonly ejson: Ejson,
    /** Set when the driver discovered a member the egress policy refuses; every call then fails with it. */
    private readonly refusedMember: () => Error | undefined,
  ) {}

  async ping(signal: AbortSignal): Promise<string> {
    this.assertAllowed();
    await this.db.command({ ping: 1 }, { signal });
    this.version ??= String((await this.db.command({ buildInfo: 1 }, { signal })).version ?? '');
    return `Connected to MongoDB ${this.version}`.trim();
  }

  async execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    this.assertAllowed();
    // A second wall behind the harness's: MongoDB has no read-only session that would refuse a write itself.
    const pipeline = (input as { pipeline?: Record<string, unknown>[] }).pipeline;
    if (call.mode === 'read' && (WRITE_OPERATIONS.has(operation) || pipeline?.some(writesStage))) {
      throw new PatchbayError('read_only', `this ${operation} writes, and the call is in read mode`);
    }
    const collection = this.db.collection((input as { collection: string }).collection);
    // The server cancels the work at timeout_ms (MaxTimeMSExpired); the signal fires at the harness deadline.
    const maxTimeMS = call.limits.timeoutMs;
    const signal = call.signal;
    switch (operation) {
      case 'find': {
        const { filter, projection, sort, limit } = input as FindInput;
        // Never more than max_rows+1 documents: the extra one only says that more exist.
        const wanted = Math.min(limit ?? Infinity, call.limits.maxRows + 1);
        const cursor = collection.find(this.parse(filter, 'filter'), {
          projection: projection && this.parse(projection, 'projection'),
          sort: sort && this.parse(sort, 'sort'),
          limit: wanted,
          batchSize: wanted,
          maxTimeMS,
          signal,
        });
        return this.read(cursor, call.limits);
      }
      case 'aggregate': {
        const stages = (input as AggregateInput).pipeline.map((stage, index) => this.parse(stage, `pipeline.${index}`));
        const writes = stages.some(writesStage);
        // A trailing $limit lets the server stop at max_rows+1; $out and $merge must stay last and return nothing.
        if (!writes) stages.push({ $limit: call.limits.maxRows + 1 });
        const cursor = collection.aggregate(stages, {
          maxTimeMS,
          signal,
          batchSize: writes ? undefined : call.limits.maxRows + 1,
        });
        return this.read(cursor, call.limits);
      }
      case 'count': {
        const count = await collection.countDocuments(this.parse((input as CountInput).filter, 'filter'), { maxTimeMS, signal });
        return { data: { count } };
      }
      case 'insert':
        return this.insert(collection, input as InsertInput, maxTimeMS);
      case 'update': {
        const { filter, update, many } = input as UpdateInput;
        const changes = Array.isArray(update)
          ? update.map((stage, index) => this.parse(stage, `update.${index}`))
          : this.parse(update, 'update');
        const options = { maxTimeMS };
        const query = this.parse(filter, 'filter');
        const result = many
          ? await collection.updateMany(query, changes, options)
          : await collection.updateOne(query, changes, options);
        return { data: { matched_count: result.matchedCount, modified_count: result.modifiedCount } };
      }
      case 'delete': {
        const { filter, many } = input as DeleteInput;
        const query = this.parse(filter, 'filter');
        const result = many
          ? await collection.deleteMany(query, { maxTimeMS })
          : await collection.deleteOne(query, { maxTimeMS });
        return { data: { deleted_count: result.deletedCount } };
      }
      default:
        throw new PatchbayError('unsupported_operation', `mongodb has no operation ${operation}`);
    }
  }

  /** Ends calls in flight too: the driver closes checked-out connections first. */
  close(): Promise<void> {
    this.closing ??= this.client.close();
    return this.closing;
  }

  private async insert(collection: Collection, input: InsertInput, maxTimeMS: number): Promise<OperationResult> {
    const documents = input.documents.map((document, index) => this.parse(document, `documents.${index}`));
    const result = await collection.insertMany(documents, { ordered: true, maxTimeMS });
    const ids = documents.map((_document, index) => this.toJson(result.insertedIds[index]));
    return { data: { inserted_count: result.insertedCount, inserted_ids: ids } };
  }

  /**
   * Reads documents until the cursor ends, max_rows is passed (the cursor was asked for one more) or the
   * serialised result would pass max_bytes, then closes the cursor: the server never sends the rest.
   */
  private async read(cursor: AbstractCursor<Document>, limits: Limits): Promise<OperationResult> {
    const documents: unknown[] = [];
    let bytes = '{"documents":[]}'.length;
    let truncated = false;
    try {
      for (let document = await cursor.next(); document !== null; document = await cursor.next()) {
        const json = documents.length < limits.maxRows ? this.toJson(document) : undefined;
        bytes += json === undefined ? 0 : Buffer.byteLength(JSON.stringify(json)) + (documents.length > 0 ? 1 : 0);
        if (json === undefined || bytes > limits.maxBytes) {
          truncated = true;
          break;
        }
        documents.push(json);
      }
    } finally {
      await cursor.close();
    }
    return { data: { documents }, truncated };
  }

  /** Relaxed Extended JSON in: `{"$oid": …}` becomes an ObjectId, `{"$numberLong": …}` a 64-bit integer. */
  private parse(value: Record<string, unknown>, path: string): Document {
    try {
      return this.ejson.deserialize(value, { relaxed: true, useBigInt64: true }) as Document;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new PatchbayError('validation_failed', 'the operation input is not valid Extended JSON', {
        errors: [{ path, message }],
      });
    }
  }

  /**
   * Relaxed Extended JSON out: ObjectId as `{"$oid": …}`, dates as `{"$date": "…Z"}`, decimals as
   * `{"$numberDecimal": …}`. A 64-bit integer beyond 2^53 stays exact as `{"$numberLong": "…"}` (the relaxed
   * form would round it to a JSON number).
   */
  private toJson(value: unknown): unknown {
    return this.ejson.serialize(exactLongs(value), { relaxed: true });
  }

  private assertAllowed(): void {
    const refused = this.refusedMember();
    if (refused) throw refused;
  }
}

function exactLongs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(exactLongs);
  if (value === null || typeof value !== 'object') return value;
  const bsonType = (value as { _bsontype?: unknown })._bsontype;
  if (bsonType === 'Long') {
    const long = value as BSON.Long;
    return Number.isSafeInteger(long.toNumber()) ? long : { $numberLong: long.toString() };
  }
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (bsonType !== undefined || (prototype !== Object.prototype && prototype !== null)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, exactLongs(item)]));
}
