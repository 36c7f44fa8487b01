import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import { BSON, MongoClient } from 'mongodb';
import type { ExecuteResult } from '../../src/providers/harness.js';
import mongodb from '../../src/providers/mongodb/index.js';
import { MongoStub } from '../support/mongo-stub.js';
import { uniqueIdentifier as unique } from '../support/names.js';
import { describeProvider, expectFailure, off, openPeer, type Call, type Config, type ProviderFixture } from './conformance.js';

const canary = `Canary${randomBytes(6).toString('hex')}`;
const documents = (result: ExecuteResult) => (result.data as { documents: Record<string, unknown>[] }).documents;
const call = (operation: string, input: Record<string, unknown>, mode?: Call['mode']): Call => ({ operation, input, mode });

/** The test's own channel to a MongoDB peer, beside Patchbay: to seed it, look at its data and clean up. */
interface Backend {
  /** Reaches the peer and uses a database of the suite's own. */
  config: Config;
  /** `config` pointed at another address (closed port, nohost.invalid, a silent listener, a plaintext port). */
  at(address: { host: string; port: number }): Config;
  /** Inserts relaxed Extended JSON documents into the suite's database. */
  seed(collection: string, docs: Record<string, unknown>[]): Promise<void>;
  /** Every collection of the suite's database with its documents, as canonical Extended JSON. */
  snapshot(): Promise<string>;
  dropDatabase(): Promise<void>;
}

const PEOPLE = [1, 2, 3, 4, 5].map((n) => ({ name: `person ${n}`, n, born: { $date: `200${n}-01-0${n}T00:00:00Z` } }));
const GRACE_ID = new BSON.ObjectId().toHexString();
const GRACE = {
  _id: { $oid: GRACE_ID },
  name: 'grace',
  at: { $date: '2024-05-01T10:20:30.123Z' },
  big: { $numberLong: '9007199254740993' },
  price: { $numberDecimal: '1.10' },
  tags: ['a', { nested: true }],
};

/** The conformance fixture for one backend; `extra` holds what differs between the stub and a real server. */
function fixture(
  backend: Backend,
  extra: Pick<ProviderFixture, 'ready' | 'auth' | 'secrets' | 'restart' | 'openConnections'>,
): ProviderFixture {
  const { config } = backend;
  return {
    ...extra,
    config,
    setup: () => backend.seed('people', PEOPLE),
    teardown: () => backend.dropDatabase(),
    at: (address) => backend.at(address),
    probe: call('find', { collection: 'people', limit: 1 }),
    schema: {
      bad: [
        { config: { ...config, port: 0 }, path: 'port' },
        { config: { host: '127.0.0.1' }, path: 'database' },
        { config: { host: '127.0.0.1', database: 'a/b' }, path: 'database' },
        { config: { host: '127.0.0.1', database: 'app', password: 'pw-123' }, path: 'username' },
        { config: { connection_string: 'mongodb://h/app', host: 'h' }, path: 'connection_string' },
        { config: { connection_string: 'mongodb://h/app?authMechanism=MONGODB-AWS' }, path: 'connection_string' },
        { config: { connection_string: 'mongodb://h/app?proxyHost=p.example' }, path: 'connection_string' },
        { config: { connection_string: 'mongodb://%2Ftmp%2Fmongodb.sock/app' }, path: 'connection_string' },
        { config: { connection_string: 'mongodb://h' }, path: 'database' },
      ],
    },
    connectionTest: { message: /^Connected to MongoDB \d+/ },
    tls: { config: (plaintext) => ({ ...backend.at(plaintext), tls: true }) },
    operations: [
      {
        name: 'insert keeps $oid, $date, $numberLong and $numberDecimal values and returns the ids',
        ...call('insert', { collection: 'ops', documents: [GRACE, { name: 'linus', n: 2 }] }, 'read_write'),
        check: (result) => {
          const data = result.data as { inserted_count: number; inserted_ids: { $oid: string }[] };
          assert.equal(data.inserted_count, 2);
          assert.deepEqual(data.inserted_ids[0], { $oid: GRACE_ID });
          assert.match(data.inserted_ids[1]?.$oid ?? '', /^[0-9a-f]{24}$/);
        },
      },
      {
        name: 'find by {"$oid": …} returns the document as relaxed Extended JSON, 64-bit integers exact',
        ...call('find', { collection: 'ops', filter: { _id: { $oid: GRACE_ID } } }),
        check: (result) => assert.deepEqual(result.data, { documents: [GRACE] }),
      },
      {
        name: 'find with projection, sort and limit',
        ...call('find', { collection: 'ops', projection: { _id: 0, name: 1 }, sort: { name: -1 }, limit: 5 }),
        check: (result) => assert.deepEqual(documents(result), [{ name: 'linus' }, { name: 'grace' }]),
      },
      {
        name: 'aggregate runs $match and $count',
        ...call('aggregate', {
          collection: 'ops',
          pipeline: [{ $match: { name: { $in: ['grace', 'linus'] } } }, { $count: 'n' }],
        }),
        check: (result) => assert.deepEqual(documents(result), [{ n: 2 }]),
      },
      {
        name: 'count with a {"$date": …} comparison',
        ...call('count', { collection: 'ops', filter: { at: { $gte: { $date: '2024-01-01T00:00:00Z' } } } }),
        check: (result) => assert.deepEqual(result.data, { count: 1 }),
      },
      {
        name: 'update sets a field on the first match',
        ...call('update', { collection: 'ops', filter: { name: 'linus' }, update: { $set: { n: 3 } } }, 'read_write'),
        check: async (result, peer) => {
          assert.deepEqual(result.data, { matched_count: 1, modified_count: 1 });
          const found = await peer.execute(
            call('find', { collection: 'ops', filter: { name: 'linus' }, projection: { _id: 0 } }),
          );
          assert.deepEqual(documents(found), [{ name: 'linus', n: 3 }]);
        },
      },
      {
        name: 'delete with many removes every match',
        ...call('delete', { collection: 'ops', filter: {}, many: true }, 'read_write'),
        check: async (result, peer) => {
          assert.deepEqual(result.data, { deleted_count: 2 });
          assert.deepEqual((await peer.execute(call('count', { collection: 'ops' }))).data, { count: 0 });
        },
      },
    ],
    readMode: {
      writes: [
        call('insert', { collection: 'people', documents: [{ name: 'intruder' }] }),
        call('update', { collection: 'people', filter: {}, update: { $set: { n: 0 } }, many: true }),
        call('delete', { collection: 'people', filter: {}, many: true }),
        call('aggregate', { collection: 'people', pipeline: [{ $match: {} }, { $out: 'refused_out' }] }),
        call('aggregate', { collection: 'people', pipeline: [{ $merge: { into: 'refused_merge' } }] }),
      ],
      snapshot: () => backend.snapshot(),
    },
    truncation: {
      maxRows: {
        ...call('find', { collection: 'people', sort: { n: 1 }, projection: { _id: 0, n: 1 } }),
        limit: 3,
        check: (result) => assert.deepEqual(documents(result), [{ n: 1 }, { n: 2 }, { n: 3 }]),
        exact: call('find', { collection: 'people', filter: { n: { $lte: 3 } } }),
      },
      maxBytes: {
        ...call('aggregate', { collection: 'people', pipeline: [{ $sort: { n: 1 } }, { $project: { _id: 0, name: 1 } }] }),
        limit: 60, // room for {"documents":[…]} and two {"name":"person n"}
        check: (result) => {
          assert.deepEqual(documents(result), [{ name: 'person 1' }, { name: 'person 2' }]);
          assert.ok(Buffer.byteLength(JSON.stringify(result.data)) <= 60);
        },
        exact: call('aggregate', {
          collection: 'people',
          pipeline: [{ $match: { n: { $lte: 2 } } }, { $project: { _id: 0, name: 1 } }],
        }),
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The wire-protocol stub, every capability on, each shown by the stub itself except tls_error:
// - auth_failed: the stub checks SCRAM-SHA-256 proofs (test/support/scram.ts) for the users it is given;
// - tls_error: shown against the suite's plaintext listener, as for every provider; the stub speaks no TLS, so a
//   TLS session that succeeds is not shown for mongodb at all;
// - restart: the stub drops every connection it holds, the session's among them (restartPeer asserts it dropped
//   some), and listens again;
// - lifecycle: the driver dials through the egress guard's lookup only, so the suite sees no socket of it; the
//   stub's own count of open connections shows that none is left open.

const USER = { user: 'pb_user', password: `pw-${randomBytes(6).toString('hex')}` };
const USER_FIELDS = { username: USER.user, password: USER.password };
const stubDatabase = unique('pb_conf');
const stub = await MongoStub.start({ users: [{ db: stubDatabase, ...USER }] });
after(() => stub.stop());

/** Puts relaxed Extended JSON documents straight into the stub's memory, each with an ObjectId _id. */
function stubSeed(database: string, collection: string, docs: Record<string, unknown>[]): void {
  const withIds = docs.map((doc) => ({ _id: { $oid: new BSON.ObjectId().toHexString() }, ...doc }));
  stub.collection(database, collection).push(...withIds.map((doc) => BSON.EJSON.deserialize(doc)));
}

const stubBackend: Backend = {
  config: { host: stub.host, port: stub.port, database: stubDatabase },
  at: ({ host, port }) => ({ host, port, database: stubDatabase }),
  seed: async (collection, docs) => stubSeed(stubDatabase, collection, docs),
  snapshot: async () => stub.dump(stubDatabase),
  dropDatabase: async () => stub.dropDatabase(stubDatabase),
};

const stubConfig = stubBackend.config;

describeProvider(
  mongodb,
  fixture(stubBackend, {
    auth: {
      configs: [
        { ...stubConfig, username: USER.user, password: canary }, // SCRAM-SHA-256 with the wrong password
        { ...stubConfig, username: unique('pb_nobody'), password: canary },
      ],
    },
    secrets: {
      configs: [
        { connection_string: `mongodb://${USER.user}:${canary}@${stub.host}:${stub.port}/${stubDatabase}` },
        { ...stubConfig, username: USER.user, password: canary },
      ],
    },
    // Same port, same data; every open connection breaks, the session's among them.
    restart: {
      restartPeer: async () => assert.ok((await stub.restart()) > 0, 'the restart dropped no connection'),
    },
    openConnections: async () => stub.openConnections,
  }),
);

/** A collection of the test's own in the stub, holding `docs`, removed after the test. */
function ownCollection(t: TestContext, docs: Record<string, unknown>[] = [], database = stubDatabase): string {
  const name = unique('pb_t');
  stubSeed(database, name, docs);
  t.after(() => stub.databases.get(database)?.delete(name));
  return name;
}

describe('mongodb', () => {
  test('the right password authenticates (SCRAM-SHA-256); auth_source names the database that holds the user', async (t) => {
    const other = unique('pb_other');
    const things = ownCollection(t, [{ kept: true }], other);
    const db = openPeer(t, mongodb, { ...stubConfig, database: other, auth_source: stubDatabase, ...USER_FIELDS });
    assert.equal((await db.execute(call('count', { collection: things, filter: { kept: true } }))).ok, true);
    // Without auth_source the user is looked for in `database`, which does not hold it.
    const wrongSource = await db.harness.test('mongodb', { ...stubConfig, database: other, ...USER_FIELDS });
    assert.equal(wrongSource.error_code, 'auth_failed');
  });

  test('a connection string works, and database (overridable) wins over the one in its path', async (t) => {
    const other = unique('pb_other');
    const here = ownCollection(t, [{ where: 'path' }]);
    const there = ownCollection(t, [{ where: 'override' }], other);
    const url = `mongodb://${USER.user}:${USER.password}@${stub.host}:${stub.port}/${stubDatabase}`;
    const viaPath = openPeer(t, mongodb, { connection_string: url });
    const found = await viaPath.execute(call('find', { collection: here, projection: { _id: 0 } }));
    assert.deepEqual(documents(found), [{ where: 'path' }]);
    const overridden = openPeer(t, mongodb, { connection_string: url, database: other });
    const foundThere = await overridden.execute(call('find', { collection: there, projection: { _id: 0 } }));
    assert.deepEqual(documents(foundThere), [{ where: 'override' }]);
  });

  test('a find limit under max_rows returns that many, not truncated', async (t) => {
    const name = ownCollection(t, PEOPLE);
    const db = openPeer(t, mongodb, stubConfig);
    const result = await db.execute({ ...call('find', { collection: name, limit: 2 }), limits: { maxRows: 3 } });
    assert.equal(documents(result).length, 2);
    assert.equal(result.truncated, false);
  });

  test('timeout_ms becomes maxTimeMS: the server cancels the call (timeout) and the session still works', async (t) => {
    const slow = ownCollection(t, PEOPLE);
    stub.delay(stubDatabase, slow, 10_000);
    const db = openPeer(t, mongodb, stubConfig);
    const error = await expectFailure(db.execute({ ...call('find', { collection: slow }), limits: { timeoutMs: 300 } }));
    assert.equal(error.code, 'timeout');
    assert.equal((await db.execute(call('count', { collection: ownCollection(t) }))).ok, true);
  });

  test('a bad operator, an unknown stage and an update without operators: query_failed; the session still works', async (t) => {
    const name = ownCollection(t, PEOPLE);
    const db = openPeer(t, mongodb, stubConfig);
    const refused = [
      call('find', { collection: name, filter: { n: { $bogus: 1 } } }),
      call('aggregate', { collection: name, pipeline: [{ $bogus: {} }] }),
      call('update', { collection: name, filter: {}, update: { n: 1 } }, 'read_write'),
    ];
    for (const item of refused)
      assert.equal((await expectFailure(db.execute(item))).code, 'query_failed', JSON.stringify(item.input));
    assert.deepEqual((await db.execute(call('count', { collection: name }))).data, { count: PEOPLE.length });
  });

  test('input that is not valid Extended JSON: validation_failed at its path', async (t) => {
    const db = openPeer(t, mongodb, stubConfig);
    const error = await expectFailure(
      db.execute(call('find', { collection: ownCollection(t), filter: { _id: { $oid: 'nope' } } })),
    );
    assert.equal(error.code, 'validation_failed');
    assert.deepEqual(
      error.errors?.map((item) => item.path),
      ['filter'],
    );
  });

  test('in read_write mode a pipeline ending in $out writes its result', async (t) => {
    const name = ownCollection(t, PEOPLE);
    const target = ownCollection(t);
    const db = openPeer(t, mongodb, stubConfig);
    const pipeline = [{ $match: { n: { $lte: 2 } } }, { $out: target }];
    const result = await db.execute(call('aggregate', { collection: name, pipeline }, 'read_write'));
    assert.deepEqual(result.data, { documents: [] });
    assert.deepEqual((await db.execute(call('count', { collection: target }))).data, { count: 2 });
  });

  test('a replica set member named by an IP literal outside the egress policy: egress_denied', async (t) => {
    // 192.0.2.1 (TEST-NET-1) is no routable unicast address, so `private` refuses it; nothing answers there.
    const replica = await MongoStub.start({ replicaSet: { name: 'rs0', otherHosts: ['192.0.2.1:27017'] } });
    t.after(() => replica.stop());
    const db = openPeer(t, mongodb, {
      connection_string: `mongodb://${replica.host}:${replica.port}/${stubDatabase}?replicaSet=rs0`,
    });
    assert.equal((await expectFailure(db.execute(call('count', { collection: 'people' })))).code, 'egress_denied');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A real server, when MONGO_URL is set: the same fixture, authentication against the real server included.

const mongoUrl = process.env.MONGO_URL;

describe('mongodb on a real server (MONGO_URL)', { skip: mongoUrl ? undefined : 'MONGO_URL is not set' }, () => {
  if (!mongoUrl) return;
  const database = unique('pb_conf');
  const direct = new MongoClient(mongoUrl);
  after(() => direct.close());
  const db = direct.db(database);
  const backend: Backend = {
    config: { connection_string: mongoUrl, database },
    at: ({ host, port }) => ({ host, port, database }),
    seed: async (collection, docs) =>
      void (await db.collection(collection).insertMany(docs.map((doc) => BSON.EJSON.deserialize(doc)))),
    snapshot: async () => {
      const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map(({ name }) => name).sort();
      const collections = await Promise.all(
        names.map(async (name) => [name, await db.collection(name).find().sort({ _id: 1 }).toArray()]),
      );
      return BSON.EJSON.stringify(Object.fromEntries(collections), { relaxed: false });
    },
    dropDatabase: async () => void (await db.dropDatabase()),
  };
  // Credentials the server refuses: the URL's user with a wrong password, or a user that does not exist.
  const user = /^mongodb(?:\+srv)?:\/\/([^:@/]+)(?::[^@/]*)?@/i.exec(mongoUrl)?.[1] ?? unique('pb_nobody');
  const withPassword = (password: string) =>
    mongoUrl.replace(/^(mongodb(?:\+srv)?:\/\/)(?:[^@/]*@)?/i, `$1${user}:${encodeURIComponent(password)}@`);
  describeProvider(
    mongodb,
    fixture(backend, {
      auth: { configs: [{ connection_string: withPassword(canary), database }] },
      secrets: { configs: [{ connection_string: withPassword(canary), database }] },
      restart: off('a test cannot restart a shared MongoDB server; the stub suite restarts its peer'),
      openConnections: off("a shared server's count of connections includes every other client's"),
    }),
  );
});
