import { z } from 'zod';
import { PatchbayError } from '../errors.js';
import {
  alternativeIssues,
  connectionUrlField,
  hostField,
  networkFields,
  networkIssues,
  operation,
  passwordField,
  portField,
  usernameField,
} from './_shared/common-fields.js';
import { classifyRedisError, RedisPool, redisUrlIssues } from './_shared/redis-client.js';
import { capReply } from './_shared/redis-reply.js';
import { overridable, type CallContext, type OperationResult, type Provider, type Session } from './types.js';

const config = z.strictObject({
  host: hostField('Redis server'),
  port: portField('Redis server', 6379),
  username: usernameField('of a Redis ACL user (Redis 6+); omit for the default user'),
  password: passwordField('of username, or the requirepass password'),
  // No schema default: an unset db means the url's /<db>, else 0; an attachment's override wins over both.
  db: overridable(z.int().min(0).max(15).optional().describe("Logical database index 0–15; the url's, else 0, when unset.")),
  tls: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields); implied by rediss://.'),
  url: connectionUrlField(
    ['redis', 'rediss'],
    'redis://user:password@host:port/db or rediss://…; an alternative to host, port, username and password.',
  ),
  allowed_commands: z
    .array(z.string().trim().min(1))
    .default([])
    .describe(
      'Admin commands (CONFIG, INFO, FLUSHDB…) allowed in read_write mode; never widens read mode. ' +
        'Others answer scope_denied.',
    ),
  ...networkFields,
});

type RedisConfig = z.output<typeof config>;
type CommandInput = { command: string[] };

// Commands that only read data. Anything else writes (refused in read mode), including the unknown. Container
// commands are listed with their subcommand. Admin reads (INFO, CONFIG GET) are not here: allowed_commands.
// prettier-ignore
const READ_COMMANDS = new Set([
  'GET', 'MGET', 'GETRANGE', 'GETBIT', 'STRLEN', 'BITCOUNT', 'BITPOS', 'BITFIELD_RO', 'LCS',
  'EXISTS', 'TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME', 'TYPE', 'RANDOMKEY', 'DBSIZE', 'SCAN',
  'HGET', 'HGETALL', 'HMGET', 'HKEYS', 'HVALS', 'HLEN', 'HEXISTS', 'HSTRLEN', 'HRANDFIELD', 'HSCAN',
  'LRANGE', 'LLEN', 'LINDEX', 'LPOS',
  'SMEMBERS', 'SISMEMBER', 'SMISMEMBER', 'SCARD', 'SRANDMEMBER', 'SINTER', 'SINTERCARD', 'SUNION', 'SDIFF', 'SSCAN',
  'ZRANGE', 'ZRANGEBYSCORE', 'ZRANGEBYLEX', 'ZREVRANGE', 'ZREVRANGEBYSCORE', 'ZREVRANGEBYLEX', 'ZSCORE', 'ZMSCORE',
  'ZCARD', 'ZCOUNT', 'ZLEXCOUNT', 'ZRANK', 'ZREVRANK', 'ZRANDMEMBER', 'ZSCAN', 'ZUNION', 'ZINTER', 'ZDIFF', 'ZINTERCARD',
  'XRANGE', 'XREVRANGE', 'XLEN', 'XREAD', 'GEOPOS', 'GEODIST', 'GEOHASH', 'GEOSEARCH', 'GEORADIUS_RO',
  'GEORADIUSBYMEMBER_RO', 'PFCOUNT', 'SORT_RO',
  'PING', 'ECHO', 'TIME', 'MEMORY USAGE', 'OBJECT ENCODING', 'OBJECT FREQ', 'OBJECT IDLETIME', 'OBJECT REFCOUNT',
  'CLIENT ID',
]);

// Admin and dangerous commands: scope_denied unless allowed_commands lists them (read_write mode only).
// KEYS walks the whole keyspace in one blocking call: SCAN does the same in steps.
// prettier-ignore
const ADMIN_COMMANDS = new Set([
  'ACL', 'BGREWRITEAOF', 'BGSAVE', 'CLIENT', 'CLUSTER', 'CONFIG', 'DEBUG', 'EVAL', 'EVAL_RO', 'EVALSHA', 'EVALSHA_RO',
  'FAILOVER', 'FCALL', 'FCALL_RO', 'FLUSHALL', 'FLUSHDB', 'FUNCTION', 'INFO', 'KEYS', 'LASTSAVE', 'LATENCY', 'MEMORY',
  'MIGRATE', 'MODULE', 'REPLICAOF', 'SAVE', 'SCRIPT', 'SHUTDOWN', 'SLAVEOF', 'SLOWLOG', 'SWAPDB',
]);

// Never sent, whatever allowed_commands says: each would leave the pooled connection in a state the next
// call does not expect (another db, a transaction, a subscription, replies switched off) or never answer.
const NEVER_SENT: Record<string, string> = {
  SELECT: "the database is the connector's db",
  SUBSCRIBE: 'use the redis_pubsub provider',
  PSUBSCRIBE: 'use the redis_pubsub provider',
  SSUBSCRIBE: 'use the redis_pubsub provider',
  UNSUBSCRIBE: 'use the redis_pubsub provider',
  PUNSUBSCRIBE: 'use the redis_pubsub provider',
  SUNSUBSCRIBE: 'use the redis_pubsub provider',
  MONITOR: 'it never returns',
  SYNC: 'it never returns',
  PSYNC: 'it never returns',
  MULTI: 'one command per call',
  EXEC: 'one command per call',
  DISCARD: 'one command per call',
  WATCH: 'one command per call',
  UNWATCH: 'one command per call',
  AUTH: "the login is the connector's",
  HELLO: "the protocol is Patchbay's",
  RESET: "the connection is Patchbay's",
  QUIT: "the connection is Patchbay's",
  'CLIENT REPLY': "the connection is Patchbay's",
  'CLIENT TRACKING': "the connection is Patchbay's",
};

// Where each blocking command takes its timeout: the argument index (negative from the end) and its unit.
const BLOCKING: Record<string, { at: number; unit: 's' | 'ms' }> = {
  BLPOP: { at: -1, unit: 's' },
  BRPOP: { at: -1, unit: 's' },
  BZPOPMIN: { at: -1, unit: 's' },
  BZPOPMAX: { at: -1, unit: 's' },
  BLMOVE: { at: -1, unit: 's' },
  BRPOPLPUSH: { at: -1, unit: 's' },
  BLMPOP: { at: 1, unit: 's' },
  BZMPOP: { at: 1, unit: 's' },
  WAIT: { at: -1, unit: 'ms' },
  WAITAOF: { at: -1, unit: 'ms' },
};

const redis: Provider<typeof config> = {
  id: 'redis',
  type: 'database',
  description: 'Redis key-value store, driven one command at a time.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'url', ['host', 'port', 'username', 'password'], 'host'),
    ...redisUrlIssues(value),
    ...value.allowed_commands.flatMap((entry, index) =>
      neverSentReason(entry.toUpperCase().split(/\s+/)) === undefined
        ? []
        : [{ path: `allowed_commands.${index}`, message: `${entry} is never sent, whatever this list says` }],
    ),
  ],
  operations: {
    command: operation(
      'Run one Redis command given as its words, e.g. ["HGET", "user:1", "name"].',
      z.strictObject({
        command: z
          .array(z.string())
          .min(1)
          .refine((words) => /^[A-Za-z_.|-]+$/.test(words[0] ?? ''), { message: 'must start with a command name' })
          .describe('The command name followed by its arguments.'),
      }),
      (input) => !isReadCommand(input.command),
      // The command's name, never its arguments (keys and values are the user's data).
      {
        summarize: ({ command }) =>
          Array.isArray(command) && typeof command[0] === 'string' ? { statement_class: command[0].toLowerCase().slice(0, 32) } : {},
      },
    ),
  },
  defaultOperation: 'command',

  async connect(settings, ctx) {
    return new RedisSession(await RedisPool.open(settings, ctx), settings);
  },

  classify: classifyRedisError,
};

export default redis;

class RedisSession implements Session {
  private readonly allowed: ReadonlySet<string>;

  constructor(
    private readonly pool: RedisPool,
    settings: RedisConfig,
  ) {
    this.allowed = new Set(settings.allowed_commands.map((entry) => entry.toUpperCase().split(/\s+/).join(' ')));
  }

  ping(signal: AbortSignal): Promise<string> {
    return this.pool.ping(signal);
  }

  async execute(_operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    const words = (input as CommandInput).command;
    this.check(words, call);
    const reply = await this.pool.use(call.signal, call.limits.timeoutMs, (client) => client.command(words));
    return capReply(reply, call.limits);
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  /** Refuses what the connector and the call do not allow, before anything is sent. */
  private check(words: string[], call: CallContext): void {
    const [name = '', subcommand = ''] = words.map((word) => word.toUpperCase());
    if (!isReadCommand(words)) {
      // The harness refuses writes in read mode first; this keeps the rule whoever calls.
      if (call.mode === 'read') throw new PatchbayError('read_only', `${name} is not on the read list`);
      const never = neverSentReason([name, subcommand]);
      if (never !== undefined) throw new PatchbayError('scope_denied', `${name} is never sent: ${never}`);
      if (ADMIN_COMMANDS.has(name) && !this.allowed.has(name) && !this.allowed.has(`${name} ${subcommand}`)) {
        const hint = name === 'KEYS' ? '; use SCAN to list keys' : '';
        throw new PatchbayError(
          'scope_denied',
          `${name} is an admin command the connector's allowed_commands does not list${hint}`,
        );
      }
    }
    const blockMs = blockingMs(words);
    // A block of 0 waits forever; one that outlasts timeout_ms would be cut off, a popped element lost with it.
    // A negative one is left to Redis to refuse; one that is not a number is refused here.
    if (blockMs !== undefined && (blockMs === 0 || !(blockMs < call.limits.timeoutMs))) {
      throw new PatchbayError(
        'scope_denied',
        `${name} must block for more than 0 and less than the call's timeout_ms (${call.limits.timeoutMs} ms)`,
      );
    }
  }
}

/** One-word commands, or container commands with their subcommand (`MEMORY USAGE`). */
function isReadCommand([name = '', subcommand = '']: string[]): boolean {
  const upper = name.toUpperCase();
  return READ_COMMANDS.has(upper) || READ_COMMANDS.has(`${upper} ${subcommand.toUpperCase()}`);
}

function neverSentReason([name = '', subcommand = '']: string[]): string | undefined {
  return NEVER_SENT[name] ?? NEVER_SENT[`${name} ${subcommand}`];
}

/** How long a blocking command may block, in ms (0: forever); undefined for a command that does not block. */
function blockingMs(words: string[]): number | undefined {
  const name = (words[0] ?? '').toUpperCase();
  if (name === 'XREAD' || name === 'XREADGROUP') {
    const streams = words.findIndex((word) => word.toUpperCase() === 'STREAMS');
    const block = words.slice(0, streams < 0 ? undefined : streams).findIndex((word) => word.toUpperCase() === 'BLOCK');
    return block < 0 ? undefined : Number(words[block + 1]);
  }
  const blocking = BLOCKING[name];
  if (blocking === undefined) return undefined;
  const value = Number(words.at(blocking.at));
  return blocking.unit === 's' ? value * 1000 : value;
}
