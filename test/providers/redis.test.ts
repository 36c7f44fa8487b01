import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { capReply } from '../../src/providers/_shared/redis-reply.js';
import redis from '../../src/providers/redis.js';
import { aclUser, privateRedis, redisCommand, waitUntilGone } from '../support/redis.js';
import { uniqueIdentifier } from '../support/names.js';
import { requireServer } from '../support/servers.js';
import { describeProvider, expectFailure, off, openPeer, type Call } from './conformance.js';

// Database 3 of the shared server, so that what a broken read mode would flush is only this test's.
const DB = 3;
const config = { host: '127.0.0.1', port: 6379, db: DB };
const canary = `Canary${randomBytes(6).toString('hex')}`;
const cmd = (command: string[], mode?: Call['mode'], limits?: Call['limits']): Call => ({ input: { command }, mode, limits });
const direct = (...command: string[]) => redisCommand(command, { db: DB });

const prefix = uniqueIdentifier('pb_redis'); // every key of the suite starts with it
const key = (name: string) => `${prefix}:${name}`;
const user = uniqueIdentifier('pb_x');
const userPassword = `Pw${randomBytes(8).toString('hex')}`;

async function removeKeys(pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = (await direct('SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000')) as [string, string[]];
    if (keys.length > 0) await direct('DEL', ...keys);
    cursor = next;
  } while (cursor !== '0');
}

describeProvider(redis, {
  config,
  ready: (t) => requireServer(t, 'redis'),
  setup: async () => {
    await aclUser(user, userPassword);
    await direct('SET', key('kept'), 'kept');
    await direct('RPUSH', key('list'), 'a', 'b', 'c', 'd', 'e');
    await direct('SET', key('big'), 'x'.repeat(1000));
  },
  teardown: async () => {
    await redisCommand(['ACL', 'DELUSER', user]);
    await removeKeys(`${prefix}:*`);
  },
  at: ({ host, port }) => ({ ...config, host, port }),
  probe: cmd(['PING']),
  schema: {
    bad: [
      { config: { ...config, db: 16 }, path: 'db' },
      { config: { ...config, port: 0 }, path: 'port' },
      { config: { url: 'redis://127.0.0.1:6379/x' }, path: 'url' },
      { config: { url: 'redis://127.0.0.1:6379?timeout=5' }, path: 'url' },
      { config: { ...config, url: 'redis://127.0.0.1:6379' }, path: 'url' },
      { config: { ...config, allowed_commands: ['SELECT'] }, path: 'allowed_commands.0' },
    ],
  },
  connectionTest: { message: /^Connected to Redis \d+\.\d+/ },
  auth: {
    configs: [
      { ...config, username: user, password: `wrong-${canary}` }, // WRONGPASS
      { ...config, password: canary }, // a password for a default user that has none
    ],
  },
  tls: { config: ({ host, port }) => ({ host, port, tls: true }) },
  secrets: {
    configs: [
      { url: `redis://${user}:${canary}@127.0.0.1:6379/${DB}` },
      { ...config, username: user, password: userPassword }, // logs in: the password must still never show
    ],
  },
  operations: [
    {
      name: 'SET writes in read_write mode',
      ...cmd(['SET', key('greeting'), 'héllo wörld'], 'read_write'),
      check: async (result) => {
        assert.equal(result.data, 'OK');
        assert.equal(await direct('GET', key('greeting')), 'héllo wörld');
      },
    },
    {
      name: 'GET reads it back in read mode; MGET gives an array with null for a missing key',
      ...cmd(['GET', key('greeting')]),
      check: async (result, peer) => {
        assert.equal(result.data, 'héllo wörld');
        const mget = await peer.execute(cmd(['MGET', key('greeting'), key('missing')]));
        assert.deepEqual(mget.data, ['héllo wörld', null]);
      },
    },
    {
      name: 'integer replies are numbers, and strings past 2^53 so that no digit is lost',
      ...cmd(['INCRBY', key('counter'), '41'], 'read_write'),
      check: async (result, peer) => {
        assert.equal(result.data, 41);
        const big = await peer.execute(cmd(['INCRBY', key('counter'), '9007199254740952'], 'read_write'));
        assert.equal(big.data, '9007199254740993');
      },
    },
    {
      name: 'DEL removes them again',
      ...cmd(['DEL', key('greeting'), key('counter')], 'read_write'),
      check: async (result) => {
        assert.equal(result.data, 2);
        assert.equal(await direct('EXISTS', key('greeting'), key('counter')), 0);
      },
    },
    {
      name: 'KEYS is an admin command: scope_denied (SCAN lists keys)',
      ...cmd(['KEYS', '*'], 'read_write'),
      fails: 'scope_denied',
    },
    { name: 'SELECT is never sent: scope_denied', ...cmd(['SELECT', '0'], 'read_write'), fails: 'scope_denied' },
    { name: 'an unknown command: query_failed', ...cmd(['NOSUCHCOMMAND', 'x'], 'read_write'), fails: 'query_failed' },
  ],
  readMode: {
    writes: [
      ['SET', key('kept'), 'changed'],
      ['DEL', key('kept')],
      ['RPOP', key('list')],
      ['EXPIRE', key('kept'), '1'],
      ['FLUSHDB'],
      ['EVAL', "return redis.call('DEL', KEYS[1])", '1', key('kept')],
      ['CONFIG', 'SET', 'maxmemory', '1'],
      ['BLPOP', key('list'), '1'],
      ['NOSUCHCOMMAND', key('kept')],
    ].map((command) => cmd(command)),
    snapshot: async () => ({
      kept: await direct('GET', key('kept')),
      ttl: await direct('TTL', key('kept')),
      list: await direct('LRANGE', key('list'), '0', '-1'),
      maxmemory: await redisCommand(['CONFIG', 'GET', 'maxmemory']),
    }),
  },
  truncation: {
    maxRows: {
      ...cmd(['LRANGE', key('list'), '0', '-1']),
      limit: 3,
      check: (result) => assert.deepEqual(result.data, ['a', 'b', 'c']),
      exact: cmd(['LRANGE', key('list'), '0', '2']),
    },
    maxBytes: {
      ...cmd(['GET', key('big')]),
      limit: 100,
      check: (result) => assert.equal(result.data, 'x'.repeat(98)), // 98 characters and two quotes
      exact: cmd(['GETRANGE', key('big'), '0', '97']),
    },
  },
  restart: {
    // Kills the pooled connection from a connection of the test's own, and waits until Redis has let it go.
    restartPeer: async (peer) => {
      const id = String((await peer.execute(cmd(['CLIENT', 'ID']))).data);
      assert.equal(await redisCommand(['CLIENT', 'KILL', 'ID', id]), 1);
      await waitUntilGone('ID', id);
    },
  },
  // The client dials through the egress guard's lookup only (redis_pubsub counts its own ACL user's connections).
  openConnections: off("the suite's connections cannot be told from other clients of the shared server's default user"),
});

/** A pooled session on `settings` for one of the cases below, or undefined when Redis is missing (skipped). */
async function connect(t: TestContext, settings: Record<string, unknown> = config) {
  return (await requireServer(t, 'redis')) ? openPeer(t, redis, settings) : undefined;
}

describe('redis', () => {
  test('allowed_commands unlocks an admin command, or one subcommand, in read_write mode only', async (t) => {
    const db = await connect(t, { ...config, allowed_commands: ['config get', 'KEYS'] });
    if (!db) return;
    const name = key(uniqueIdentifier('listed'));
    await direct('SET', name, '1');
    t.after(() => direct('DEL', name));
    assert.deepEqual((await db.execute(cmd(['CONFIG', 'GET', 'maxmemory'], 'read_write'))).data, [
      'maxmemory',
      await maxmemory(),
    ]);
    assert.deepEqual((await db.execute(cmd(['KEYS', name], 'read_write'))).data, [name]);
    assert.equal((await expectFailure(db.execute(cmd(['CONFIG', 'GET', 'maxmemory'])))).code, 'read_only');
    assert.equal((await expectFailure(db.execute(cmd(['CONFIG', 'SET', 'maxmemory', '1'], 'read_write')))).code, 'scope_denied');
    assert.equal((await expectFailure(db.execute(cmd(['FLUSHDB'], 'read_write')))).code, 'scope_denied');
    assert.equal(await direct('EXISTS', name), 1);
  });

  test('an ACL user without a command: permission_denied, and the session still works', async (t) => {
    if (!(await requireServer(t, 'redis'))) return;
    const limited = await aclUser(uniqueIdentifier('pb_x'), `Pw${randomBytes(8).toString('hex')}`, ['+@all', '-get']);
    const db = openPeer(t, redis, { ...config, username: limited.name, password: limited.password });
    t.after(() => limited.drop()); // after the peer's sessions are closed
    assert.equal((await expectFailure(db.execute(cmd(['GET', key('kept')])))).code, 'permission_denied');
    assert.equal((await db.execute(cmd(['PING']))).data, 'PONG');
  });

  test('blocking commands must end within timeout_ms: 0 (forever) or longer is scope_denied', async (t) => {
    const db = await connect(t);
    if (!db) return;
    const list = key(uniqueIdentifier('empty'));
    const limits = { timeoutMs: 3_000 };
    assert.equal((await db.execute(cmd(['BLPOP', list, '0.2'], 'read_write', limits))).data, null);
    for (const command of [
      ['BLPOP', list, '0'],
      ['BLPOP', list, '3'],
      ['BLMPOP', '10', '1', list, 'LEFT'],
      ['WAIT', '1', '0'],
    ]) {
      assert.equal((await expectFailure(db.execute(cmd(command, 'read_write', limits)))).code, 'scope_denied', command.join(' '));
    }
    // XREAD is a read, so read mode applies the same bound.
    assert.equal(
      (await expectFailure(db.execute(cmd(['XREAD', 'BLOCK', '0', 'STREAMS', list, '$'], 'read', limits)))).code,
      'scope_denied',
    );
    assert.equal((await db.execute(cmd(['XREAD', 'BLOCK', '100', 'STREAMS', list, '$'], 'read', limits))).data, null);
  });

  test('url: its db is used, and the db field wins over it', async (t) => {
    const db = await connect(t, { url: `redis://127.0.0.1:6379/5`, db: DB });
    if (!db) return;
    const name = key(uniqueIdentifier('url'));
    t.after(() => direct('DEL', name));
    await db.execute(cmd(['SET', name, 'here'], 'read_write'));
    assert.equal(await direct('GET', name), 'here');
  });

  test('a private server: requirepass, a db beyond its databases, and a command it does not answer in time', async (t) => {
    const password = `Pw${randomBytes(8).toString('hex')}`;
    const address = await privateRedis(t, ['--requirepass', password, '--databases', '2']);
    if (!address) return;
    const db = openPeer(t, redis, { ...address, password });
    const { harness } = db;
    assert.equal((await harness.test('redis', { ...address, password: `wrong-${canary}` })).error_code, 'auth_failed');
    assert.equal((await harness.test('redis', { ...address })).error_code, 'auth_failed'); // NOAUTH
    assert.equal((await harness.test('redis', { ...address, password, db: 5 })).error_code, 'database_not_found');

    assert.equal((await db.execute(cmd(['PING']))).data, 'PONG');
    // CLIENT PAUSE holds every client's commands for 1.5 s: the call gives up at timeout_ms (had it waited,
    // GET would have answered null), and the next call, on a new connection, is answered after the pause.
    await redisCommand(['CLIENT', 'PAUSE', '1500', 'ALL'], { address, password });
    assert.equal((await expectFailure(db.execute(cmd(['GET', 'x'], 'read', { timeoutMs: 300 })))).code, 'timeout');
    assert.equal((await db.execute(cmd(['PING']))).data, 'PONG');
  });
});

describe('redis replies under max_rows and max_bytes', () => {
  const limits = { maxRows: 1000, maxBytes: 1_048_576 };

  test('every array keeps at most max_rows elements, nested ones included', () => {
    assert.deepEqual(capReply(['0', ['a', 'b', 'c']], { ...limits, maxRows: 2 }), { data: ['0', ['a', 'b']], truncated: true });
    assert.deepEqual(capReply([1, null, 'x'], limits), { data: [1, null, 'x'], truncated: false });
  });

  test('arrays keep the elements that fit whole within max_bytes; a lone string is cut', () => {
    // ["aaa","bbb"] is 13 bytes: 12 keeps only the first element.
    assert.deepEqual(capReply(['aaa', 'bbb'], { ...limits, maxBytes: 12 }), { data: ['aaa'], truncated: true });
    assert.deepEqual(capReply(['aaa', 'bbb'], { ...limits, maxBytes: 13 }), { data: ['aaa', 'bbb'], truncated: false });
    assert.deepEqual(capReply([['aaa', 'bbb'], 'c'], { ...limits, maxBytes: 12 }), { data: [['aaa']], truncated: true });
    assert.deepEqual(capReply('😀😀', { ...limits, maxBytes: 8 }), { data: '😀', truncated: true }); // never half a pair
    assert.deepEqual(capReply(12345, { ...limits, maxBytes: 3 }), { data: null, truncated: true });
  });
});

async function maxmemory(): Promise<string> {
  const reply = (await redisCommand(['CONFIG', 'GET', 'maxmemory'])) as string[];
  return reply[1] ?? '';
}
