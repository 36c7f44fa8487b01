import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { BSON } from 'mongodb';
import { ScramConversation, ScramFailure, scramCredential, type ScramCredential } from './scram.js';
import { int32LEMessageLength, readFrames, TcpStub } from './tcp-stub.js';

/**
 * A MongoDB wire-protocol stub for the mongodb provider's tests (DESIGN.md section 6): enough of a server for the
 * official driver to connect and run Patchbay's operations against in-memory collections. It speaks OP_QUERY for
 * the driver's first handshake and OP_MSG afterwards, on 127.0.0.1, without TLS and without compression.
 *
 * Covered: `hello`/`isMaster`, `ping`, `buildInfo`, `endSessions`, `find` with `getMore` and `killCursors`,
 * `aggregate` (stages `$match`, `$project`, `$sort`, `$skip`, `$limit`, `$count`, `$group` with `$sum`/`$count`,
 * `$out`), `count`, `insert`, `update` (`$set`, `$unset`, `$inc`, or a replacement document), `delete`, `drop`,
 * `listCollections`, `dropDatabase`, and SCRAM-SHA-256 for the users it is given (test/support/scram.ts; a
 * connection without credentials is let in, as on a server without `--auth`, and no command checks a role, so
 * `Unauthorized` (13) never occurs). Filters: equality, `$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $not $size $and $or $nor`,
 * dotted paths and array fields. Projections are top-level inclusions or exclusions. Anything else answers the
 * error a server gives for something it does not know (`BadValue`, `FailedToParse`, `CommandNotFound`).
 */

type Doc = Record<string, unknown>;

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const MORE_TO_COME = 2;
/** What a first batch holds when the request names no batchSize (the server's default). */
const DEFAULT_BATCH = 101;

/** A command failure, answered as `{ok: 0, code, codeName, errmsg}` as the server answers it. */
class CommandError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

const badValue = (message: string) => new CommandError(2, 'BadValue', message);

export interface MongoStubOptions {
  /** Users SCRAM-SHA-256 accepts; a wrong password or an unknown user answers AuthenticationFailed (18). */
  users?: { db: string; user: string; password: string }[];
  /** Makes hello describe a replica set member (`setName`, `hosts`), so that the driver discovers `hosts`. */
  replicaSet?: { name: string; otherHosts: string[] };
}

interface Cursor {
  ns: string;
  remaining: Doc[];
}

/** One client connection and its SASL conversations. */
interface Connection {
  id: number;
  conversations: Map<number, ScramConversation>;
}

export class MongoStub extends TcpStub {
  /** database → collection → documents, in insertion order; kept across stop() and start(). */
  readonly databases = new Map<string, Map<string, Doc[]>>();
  /** `db.user` → the user's SCRAM-SHA-256 credential. */
  private readonly users = new Map<string, ScramCredential>();
  private readonly slow = new Map<string, number>();
  private readonly cursors = new Map<number, Cursor>();
  private nextId = 1;

  private constructor(private readonly options: MongoStubOptions) {
    super(net.createServer((socket) => this.accept(socket)));
    for (const { db, user, password } of options.users ?? [])
      this.users.set(`${db}.${user}`, scramCredential(password, 'sha256'));
  }

  /** A stub listening on 127.0.0.1 at a free port. */
  static async start(options: MongoStubOptions = {}): Promise<MongoStub> {
    const stub = new MongoStub(options);
    await stub.start();
    return stub;
  }

  /**
   * Stops listening and drops every connection and cursor; the data stays. Resolves to how many connections it
   * dropped. The driver dials through the egress guard's lookup only, so the conformance suite cannot see its
   * sockets: `openConnections`, from the server's side, shows that none is left open.
   */
  override stop(): Promise<number> {
    this.cursors.clear();
    return super.stop();
  }

  /** The live documents of a collection (created empty when missing). */
  collection(db: string, name: string): Doc[] {
    let collections = this.databases.get(db);
    if (!collections) this.databases.set(db, (collections = new Map()));
    let documents = collections.get(name);
    if (!documents) collections.set(name, (documents = []));
    return documents;
  }

  /** Every collection of a database as canonical Extended JSON text: what a read-mode test compares. */
  dump(db: string): string {
    const collections = Object.fromEntries(this.databases.get(db) ?? new Map<string, Doc[]>());
    return BSON.EJSON.stringify(collections, { relaxed: false });
  }

  dropDatabase(db: string): void {
    this.databases.delete(db);
  }

  /**
   * Makes every data command on `db.collection` take `ms`; a command whose maxTimeMS is shorter answers
   * MaxTimeMSExpired (50) after maxTimeMS, as a server cancelling it would.
   */
  delay(db: string, collection: string, ms: number): void {
    this.slow.set(`${db}.${collection}`, ms);
  }

  private accept(socket: net.Socket): void {
    const connection: Connection = { id: this.nextId++, conversations: new Map() };
    // One reply at a time per connection, in request order, even when a command waits (delay()).
    readFrames(socket, int32LEMessageLength, (message) => this.handle(socket, connection, message));
  }

  private async handle(socket: net.Socket, connection: Connection, message: Buffer): Promise<void> {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    if (opCode === OP_QUERY) {
      // Only the driver's first handshake comes this way: flags, "admin.$cmd", skip, return, the command.
      const nameEnd = message.indexOf(0, 20);
      const command = BSON.deserialize(message.subarray(nameEnd + 9), { promoteLongs: false });
      const reply = await this.run(connection, command);
      const body = BSON.serialize(reply);
      const head = Buffer.alloc(36);
      head.writeInt32LE(36 + body.length, 0);
      head.writeInt32LE(this.nextId++, 4);
      head.writeInt32LE(requestId, 8);
      head.writeInt32LE(OP_REPLY, 12);
      head.writeInt32LE(0, 16); // responseFlags
      head.writeBigInt64LE(0n, 20); // cursorID
      head.writeInt32LE(0, 28); // startingFrom
      head.writeInt32LE(1, 32); // numberReturned
      if (!socket.destroyed) socket.write(Buffer.concat([head, body]));
      return;
    }
    if (opCode !== OP_MSG) {
      socket.destroy();
      return;
    }
    const flags = message.readUInt32LE(16);
    const command = readSections(message);
    const reply = await this.run(connection, command);
    if (flags & MORE_TO_COME || socket.destroyed) return;
    const body = BSON.serialize(reply);
    const head = Buffer.alloc(21);
    head.writeInt32LE(21 + body.length, 0);
    head.writeInt32LE(this.nextId++, 4);
    head.writeInt32LE(requestId, 8);
    head.writeInt32LE(OP_MSG, 12);
    head.writeUInt32LE(0, 16);
    head.writeUInt8(0, 20); // section kind 0: the body
    socket.write(Buffer.concat([head, body]));
  }

  private async run(connection: Connection, command: Doc): Promise<Doc> {
    try {
      return { ...(await this.dispatch(connection, command)), ok: 1 };
    } catch (error) {
      if (error instanceof CommandError) return { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName };
      return { ok: 0, errmsg: String(error), code: 1, codeName: 'InternalError' };
    }
  }

  private async dispatch(connection: Connection, command: Doc): Promise<Doc> {
    const name = Object.keys(command)[0] ?? '';
    const db = typeof command.$db === 'string' ? command.$db : 'admin';
    switch (name) {
      case 'hello':
      case 'isMaster':
      case 'ismaster':
        return this.hello(connection, command);
      case 'ping':
      case 'endSessions':
        return {};
      case 'buildInfo':
      case 'buildinfo':
        return { version: '7.0.0-stub', versionArray: [7, 0, 0, 0], maxBsonObjectSize: 16 * 1024 * 1024 };
      case 'saslStart':
        return this.saslStart(connection, db, command);
      case 'saslContinue':
        return this.saslContinue(connection, command);
      case 'getMore':
        return this.getMore(command);
      case 'killCursors':
        return this.killCursors(command);
      case 'listCollections': {
        const names = [...(this.databases.get(db)?.keys() ?? [])];
        return this.openCursor(
          `${db}.$cmd.listCollections`,
          names.map((name) => ({ name, type: 'collection' })),
          Infinity,
        );
      }
      case 'dropDatabase':
        this.databases.delete(db);
        return {};
    }
    const collection = String(command[name]);
    await this.wait(`${db}.${collection}`, command.maxTimeMS);
    switch (name) {
      case 'find':
        return this.find(db, collection, command);
      case 'aggregate':
        return this.aggregate(db, collection, command);
      case 'count':
        return { n: this.count(db, collection, command) };
      case 'insert':
        return this.insert(db, collection, asDocs(command.documents));
      case 'update':
        return this.update(db, collection, asDocs(command.updates));
      case 'delete':
        return this.delete(db, collection, asDocs(command.deletes));
      case 'drop':
        this.databases.get(db)?.delete(collection);
        return { ns: `${db}.${collection}` };
      default:
        throw new CommandError(59, 'CommandNotFound', `no such command: '${name}'`);
    }
  }

  private hello(connection: Connection, command: Doc): Doc {
    const me = `${this.host}:${this.port}`;
    const replicaSet = this.options.replicaSet;
    const mechs = typeof command.saslSupportedMechs === 'string' && this.users.has(command.saslSupportedMechs);
    return {
      helloOk: true,
      ismaster: true,
      isWritablePrimary: true,
      maxBsonObjectSize: 16 * 1024 * 1024,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: connection.id,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ...(mechs ? { saslSupportedMechs: ['SCRAM-SHA-256'] } : {}),
      ...(replicaSet
        ? { setName: replicaSet.name, setVersion: 1, hosts: [me, ...replicaSet.otherHosts], primary: me, me, secondary: false }
        : {}),
    };
  }

  private async wait(ns: string, maxTimeMS: unknown): Promise<void> {
    const ms = this.slow.get(ns) ?? 0;
    const limit = maxTimeMS === undefined ? Infinity : num(maxTimeMS);
    if (ms <= 0) return;
    await sleep(Math.min(ms, limit));
    if (limit < ms) throw new CommandError(50, 'MaxTimeMSExpired', 'operation exceeded time limit');
  }

  private find(db: string, collection: string, command: Doc): Doc {
    let documents = this.collection(db, collection).filter((doc) => matches(doc, asDoc(command.filter)));
    if (command.sort !== undefined) documents = sortDocs(documents, asDoc(command.sort));
    const skip = command.skip === undefined ? 0 : num(command.skip);
    const limit = command.limit === undefined ? 0 : Math.abs(num(command.limit));
    documents = documents.slice(skip, limit > 0 ? skip + limit : undefined);
    if (command.projection !== undefined) documents = documents.map((doc) => project(doc, asDoc(command.projection)));
    const batchSize = command.batchSize === undefined ? DEFAULT_BATCH : num(command.batchSize);
    return this.openCursor(`${db}.${collection}`, documents, command.singleBatch === true ? Infinity : batchSize);
  }

  private aggregate(db: string, collection: string, command: Doc): Doc {
    let documents = [...this.collection(db, collection)];
    for (const stage of asDocs(command.pipeline)) documents = this.stage(db, documents, stage);
    const cursor = asDoc(command.cursor);
    const batchSize = cursor.batchSize === undefined ? DEFAULT_BATCH : num(cursor.batchSize);
    return this.openCursor(`${db}.${collection}`, documents, batchSize);
  }

  private stage(db: string, documents: Doc[], stage: Doc): Doc[] {
    const entries = Object.entries(stage);
    const [name, spec] = entries[0] ?? [''];
    if (entries.length !== 1)
      throw new CommandError(40323, 'Location40323', 'A pipeline stage specification object must contain exactly one field.');
    switch (name) {
      case '$match':
        return documents.filter((doc) => matches(doc, asDoc(spec)));
      case '$project':
        return documents.map((doc) => project(doc, asDoc(spec)));
      case '$sort':
        return sortDocs(documents, asDoc(spec));
      case '$skip':
        return documents.slice(num(spec));
      case '$limit':
        return documents.slice(0, num(spec));
      case '$count':
        return documents.length > 0 ? [{ [String(spec)]: documents.length }] : [];
      case '$group':
        return group(documents, asDoc(spec));
      case '$out': {
        const target = typeof spec === 'string' ? { db, coll: spec } : (spec as { db: string; coll: string });
        this.collection(target.db, target.coll).splice(0, Infinity, ...documents.map((doc) => copy(doc) as Doc));
        return [];
      }
      default:
        throw new CommandError(40324, 'Location40324', `Unrecognized pipeline stage name: '${name}'`);
    }
  }

  private openCursor(ns: string, documents: Doc[], batchSize: number): Doc {
    const firstBatch = documents.slice(0, batchSize);
    const remaining = documents.slice(firstBatch.length);
    let id = 0;
    if (remaining.length > 0) {
      id = this.nextId++;
      this.cursors.set(id, { ns, remaining });
    }
    return { cursor: { firstBatch, id: BSON.Long.fromNumber(id), ns } };
  }

  private getMore(command: Doc): Doc {
    const id = num(command.getMore);
    const cursor = this.cursors.get(id);
    if (!cursor) throw new CommandError(43, 'CursorNotFound', `cursor id ${id} not found`);
    const batchSize = command.batchSize === undefined ? cursor.remaining.length : num(command.batchSize);
    const nextBatch = cursor.remaining.splice(0, batchSize);
    if (cursor.remaining.length === 0) this.cursors.delete(id);
    return { cursor: { nextBatch, id: BSON.Long.fromNumber(this.cursors.has(id) ? id : 0), ns: cursor.ns } };
  }

  private killCursors(command: Doc): Doc {
    const ids = (command.cursors as unknown[]).map(num);
    const killed = ids.filter((id) => this.cursors.delete(id));
    const notFound = ids.filter((id) => !killed.includes(id));
    return { cursorsKilled: killed.map(long), cursorsNotFound: notFound.map(long), cursorsAlive: [], cursorsUnknown: [] };
  }

  private count(db: string, collection: string, command: Doc): number {
    const found = this.collection(db, collection).filter((doc) => matches(doc, asDoc(command.query)));
    const skip = command.skip === undefined ? 0 : num(command.skip);
    const limit = command.limit === undefined ? 0 : num(command.limit);
    return found.slice(skip, limit > 0 ? skip + limit : undefined).length;
  }

  private insert(db: string, collection: string, documents: Doc[]): Doc {
    const target = this.collection(db, collection);
    for (const [index, document] of documents.entries()) {
      // _id first, as the server stores it (the driver appends the _id it generates).
      const { _id = new BSON.ObjectId(), ...fields } = document;
      const doc = { _id, ...fields };
      if (target.some((existing) => equal(existing._id, doc._id))) {
        const writeErrors = [
          { index, code: 11000, errmsg: `E11000 duplicate key error collection: ${db}.${collection} index: _id_` },
        ];
        return { n: index, writeErrors };
      }
      target.push(doc);
    }
    return { n: documents.length };
  }

  private update(db: string, collection: string, updates: Doc[]): Doc {
    const target = this.collection(db, collection);
    let matched = 0;
    let modified = 0;
    for (const { q, u, multi } of updates) {
      for (const [index, doc] of target.entries()) {
        if (!matches(doc, asDoc(q))) continue;
        matched += 1;
        const updated = applyUpdate(doc, u);
        if (!equal(updated, doc)) modified += 1;
        target[index] = updated;
        if (multi !== true) break;
      }
    }
    return { n: matched, nModified: modified };
  }

  private delete(db: string, collection: string, deletes: Doc[]): Doc {
    const target = this.collection(db, collection);
    let deleted = 0;
    for (const { q, limit } of deletes) {
      for (let index = 0; index < target.length;) {
        if (matches(target[index] as Doc, asDoc(q))) {
          target.splice(index, 1);
          deleted += 1;
          if (num(limit) === 1) break;
        } else {
          index += 1;
        }
      }
    }
    return { n: deleted };
  }

  private saslStart(connection: Connection, db: string, command: Doc): Doc {
    // The stub keeps SCRAM-SHA-256 credentials only: another mechanism (SCRAM-SHA-1, PLAIN, X.509) is refused as
    // a server refuses credentials it cannot check. An unknown user fails in first(), a wrong password in final().
    if (command.mechanism !== 'SCRAM-SHA-256') throw authenticationFailed();
    const conversation = new ScramConversation((user) => this.users.get(`${db}.${user}`));
    const serverFirst = scram(() => conversation.first(payloadText(command)));
    const id = this.nextId++;
    connection.conversations.set(id, conversation);
    return { conversationId: id, done: false, payload: new BSON.Binary(Buffer.from(serverFirst)) };
  }

  private saslContinue(connection: Connection, command: Doc): Doc {
    const id = num(command.conversationId);
    const conversation = connection.conversations.get(id);
    connection.conversations.delete(id);
    if (!conversation) throw authenticationFailed();
    const serverFinal = scram(() => conversation.final(payloadText(command)));
    return { conversationId: id, done: true, payload: new BSON.Binary(Buffer.from(serverFinal)) };
  }
}

const authenticationFailed = () => new CommandError(18, 'AuthenticationFailed', 'Authentication failed.');
const payloadText = (command: Doc) => Buffer.from((command.payload as BSON.Binary).buffer).toString('utf8');

/** A SCRAM step; any failure of it is the server's AuthenticationFailed (18). */
function scram(step: () => string): string {
  try {
    return step();
  } catch (error) {
    if (error instanceof ScramFailure) throw authenticationFailed();
    throw error;
  }
}

const long = (value: number) => BSON.Long.fromNumber(value);

/** An OP_MSG's sections as one command: the body (kind 0), and each document sequence (kind 1) as an array field. */
function readSections(message: Buffer): Doc {
  let command: Doc = {};
  const sequences: Record<string, Doc[]> = {};
  const end = message.readUInt32LE(16) & 1 ? message.length - 4 : message.length; // checksumPresent
  for (let at = 20; at < end;) {
    const kind = message.readUInt8(at);
    if (kind === 0) {
      const size = message.readInt32LE(at + 1);
      command = BSON.deserialize(message.subarray(at + 1, at + 1 + size), { promoteLongs: false });
      at += 1 + size;
    } else {
      const size = message.readInt32LE(at + 1);
      const nameEnd = message.indexOf(0, at + 5);
      const name = message.toString('utf8', at + 5, nameEnd);
      const documents: Doc[] = [];
      for (let doc = nameEnd + 1; doc < at + 1 + size; doc += message.readInt32LE(doc)) {
        documents.push(BSON.deserialize(message.subarray(doc, doc + message.readInt32LE(doc)), { promoteLongs: false }));
      }
      sequences[name] = documents;
      at += 1 + size;
    }
  }
  return { ...command, ...sequences };
}

const isPlain = (value: unknown): value is Doc =>
  value !== null &&
  typeof value === 'object' &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);

function asDoc(value: unknown): Doc {
  if (value === undefined) return {};
  if (!isPlain(value)) throw badValue('expected an object');
  return value;
}

function asDocs(value: unknown): Doc[] {
  if (!Array.isArray(value)) throw badValue('expected an array');
  return value.map(asDoc);
}

/** A number from any BSON numeric type (the stub reads int64 values as Long). */
function num(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  const bson = value as { _bsontype?: string; toNumber?: () => number; valueOf?: () => unknown };
  if (bson?._bsontype === 'Long') return (bson.toNumber as () => number).call(bson);
  if (bson?._bsontype === 'Int32' || bson?._bsontype === 'Double') return Number(bson.valueOf?.());
  if (bson?._bsontype === 'Decimal128') return Number(String(value));
  throw badValue(`expected a number, got ${String(value)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Values: the server's comparison order across types, equality and sorting

/** [rank in the server's cross-type order, a key comparable within that rank]. */
function sortKey(value: unknown): [number, number | string] {
  if (value === undefined || value === null) return [1, 0];
  if (typeof value === 'number' || typeof value === 'bigint') return [2, Number(value)];
  if (typeof value === 'string') return [3, value];
  if (value instanceof Date) return [9, value.getTime()];
  if (typeof value === 'boolean') return [8, value ? 1 : 0];
  if (value instanceof RegExp) return [11, String(value)];
  const bsontype = (value as { _bsontype?: string })._bsontype;
  if (bsontype === 'ObjectId') return [7, (value as BSON.ObjectId).toHexString()];
  if (bsontype === 'Long' || bsontype === 'Int32' || bsontype === 'Double' || bsontype === 'Decimal128') return [2, num(value)];
  if (bsontype === 'Binary') return [6, Buffer.from((value as BSON.Binary).buffer).toString('hex')];
  if (Array.isArray(value)) return [5, BSON.EJSON.stringify(value, { relaxed: false })];
  return [4, BSON.EJSON.stringify(value as Doc, { relaxed: false })];
}

/** Within one type bracket: negative, zero or positive; undefined across brackets (a $gt never matches them). */
function compare(a: unknown, b: unknown): number | undefined {
  const [rankA, keyA] = sortKey(a);
  const [rankB, keyB] = sortKey(b);
  if (rankA !== rankB) return undefined;
  return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
}

const equal = (a: unknown, b: unknown): boolean => compare(a, b) === 0;

function sortDocs(documents: Doc[], spec: Doc): Doc[] {
  const keys = Object.entries(spec).map(([path, direction]) => [path, num(direction) < 0 ? -1 : 1] as const);
  return [...documents].sort((a, b) => {
    for (const [path, direction] of keys) {
      const [rankA, keyA] = sortKey(valuesAt(a, path)[0]);
      const [rankB, keyB] = sortKey(valuesAt(b, path)[0]);
      const order = rankA !== rankB ? rankA - rankB : keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
      if (order !== 0) return order * direction;
    }
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Filters

/** The values a dotted path reaches: through arrays of documents, and an array's elements as well as itself. */
function valuesAt(value: unknown, path: string): unknown[] {
  const walk = (current: unknown, parts: string[]): unknown[] => {
    if (parts.length === 0) return Array.isArray(current) ? [current, ...current] : [current];
    if (Array.isArray(current)) return current.flatMap((item) => (isPlain(item) ? walk(item, parts) : []));
    if (!isPlain(current)) return [undefined];
    const [head = '', ...rest] = parts;
    return walk(current[head], rest);
  };
  return walk(value, path.split('.'));
}

function matches(doc: Doc, filter: Doc): boolean {
  return Object.entries(filter).every(([key, condition]) => {
    switch (key) {
      case '$and':
        return asDocs(condition).every((part) => matches(doc, part));
      case '$or':
        return asDocs(condition).some((part) => matches(doc, part));
      case '$nor':
        return !asDocs(condition).some((part) => matches(doc, part));
      case '$comment':
        return true;
      default:
        if (key.startsWith('$')) throw badValue(`unknown top level operator: ${key}`);
        return matchesField(valuesAt(doc, key), condition);
    }
  });
}

const isOperators = (value: unknown): value is Doc =>
  isPlain(value) && Object.keys(value).length > 0 && Object.keys(value).every((key) => key.startsWith('$'));

function matchesField(values: unknown[], condition: unknown): boolean {
  if (!isOperators(condition)) return values.some((value) => matchesValue(value, condition));
  return Object.entries(condition).every(([operator, argument]) => {
    switch (operator) {
      case '$eq':
        return values.some((value) => equal(value, argument));
      case '$ne':
        return !values.some((value) => equal(value, argument));
      case '$gt':
        return values.some((value) => (compare(value, argument) ?? 0) > 0);
      case '$gte':
        return values.some((value) => (compare(value, argument) ?? -1) >= 0);
      case '$lt':
        return values.some((value) => (compare(value, argument) ?? 0) < 0);
      case '$lte':
        return values.some((value) => (compare(value, argument) ?? 1) <= 0);
      case '$in':
        return asArray(argument, '$in').some((item) => values.some((value) => matchesValue(value, item)));
      case '$nin':
        return !asArray(argument, '$nin').some((item) => values.some((value) => matchesValue(value, item)));
      case '$exists':
        return values.some((value) => value !== undefined) === Boolean(argument);
      case '$regex': {
        const pattern = regex(argument, condition.$options);
        return values.some((value) => typeof value === 'string' && pattern.test(value));
      }
      case '$options':
        return true;
      case '$not':
        return !matchesField(values, argument);
      case '$size':
        return values.some((value) => Array.isArray(value) && value.length === num(argument));
      default:
        throw badValue(`unknown operator: ${operator}`);
    }
  });
}

function matchesValue(value: unknown, condition: unknown): boolean {
  if (condition instanceof RegExp || (condition as { _bsontype?: string })?._bsontype === 'BSONRegExp') {
    return typeof value === 'string' && regex(condition, undefined).test(value);
  }
  return equal(value, condition);
}

function regex(pattern: unknown, options: unknown): RegExp {
  if (pattern instanceof RegExp) return options === undefined ? pattern : new RegExp(pattern.source, String(options));
  const bson = pattern as { _bsontype?: string; pattern?: string; options?: string };
  if (bson?._bsontype === 'BSONRegExp') return new RegExp(bson.pattern ?? '', String(options ?? bson.options ?? ''));
  if (typeof pattern === 'string') return new RegExp(pattern, typeof options === 'string' ? options : '');
  throw badValue('$regex has to be a string');
}

function asArray(value: unknown, operator: string): unknown[] {
  if (!Array.isArray(value)) throw badValue(`${operator} needs an array`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Projections, groups, updates

function project(doc: Doc, projection: Doc): Doc {
  const flags = Object.entries(projection).map(([key, value]) => {
    if (typeof value !== 'number' && typeof value !== 'boolean') {
      throw badValue(`the stub projects only inclusions and exclusions, not ${key}`);
    }
    return [key, Boolean(value)] as const;
  });
  if (flags.some(([key, on]) => key !== '_id' && on)) {
    const kept = new Set(flags.filter(([, on]) => on).map(([key]) => key));
    if (projection._id === undefined) kept.add('_id');
    return Object.fromEntries(Object.entries(doc).filter(([key]) => kept.has(key)));
  }
  const dropped = new Set(flags.map(([key]) => key));
  return Object.fromEntries(Object.entries(doc).filter(([key]) => !dropped.has(key)));
}

/** `$group` with `_id` a constant or a `$path`, and `$sum` (of 1 or a `$path`) or `$count` accumulators. */
function group(documents: Doc[], spec: Doc): Doc[] {
  const groups = new Map<string, Doc>();
  const resolve = (doc: Doc, expression: unknown) =>
    typeof expression === 'string' && expression.startsWith('$') ? valuesAt(doc, expression.slice(1))[0] : expression;
  for (const doc of documents) {
    const id = resolve(doc, spec._id) ?? null;
    const key = BSON.EJSON.stringify({ id }, { relaxed: false });
    const current = groups.get(key) ?? { _id: id };
    for (const [field, accumulator] of Object.entries(spec)) {
      if (field === '_id') continue;
      const [operator, argument] = Object.entries(asDoc(accumulator))[0] ?? [];
      if (operator !== '$sum' && operator !== '$count')
        throw badValue(`the stub groups only with $sum and $count, not ${operator}`);
      const value = operator === '$count' ? 1 : resolve(doc, argument);
      current[field] = num(current[field] ?? 0) + (typeof value === 'number' ? value : 0);
    }
    groups.set(key, current);
  }
  return [...groups.values()];
}

function applyUpdate(doc: Doc, update: unknown): Doc {
  if (Array.isArray(update)) throw new CommandError(9, 'FailedToParse', 'the stub does not run update pipelines');
  const spec = asDoc(update);
  if (!Object.keys(spec).some((key) => key.startsWith('$'))) return { _id: doc._id, ...spec };
  const updated = copy(doc) as Doc;
  for (const [operator, fields] of Object.entries(spec)) {
    for (const [path, value] of Object.entries(asDoc(fields))) {
      switch (operator) {
        case '$set':
          setPath(updated, path, value);
          break;
        case '$unset':
          setPath(updated, path, undefined);
          break;
        case '$inc':
          setPath(updated, path, num(valuesAt(updated, path)[0] ?? 0) + num(value));
          break;
        default:
          throw new CommandError(
            9,
            'FailedToParse',
            `Unknown modifier: ${operator}. Expected a valid update modifier or pipeline-style update specified as an array`,
          );
      }
    }
  }
  return updated;
}

/** A deep copy of documents and arrays; BSON values (ObjectId, Long, Date) are shared, as nothing mutates them. */
function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy);
  if (isPlain(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, copy(item)]));
  return value;
}

/** Sets (or, with undefined, removes) a dotted path, creating the documents on the way. */
function setPath(doc: Doc, path: string, value: unknown): void {
  const parts = path.split('.');
  const last = parts.pop() as string;
  let current = doc;
  for (const part of parts) {
    if (!isPlain(current[part])) current[part] = {};
    current = current[part] as Doc;
  }
  if (value === undefined) delete current[last];
  else current[last] = value;
}
