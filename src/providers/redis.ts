import { z } from 'zod';
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
import { overridable, type Provider } from './types.js';

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

// Commands that only read data. Anything else writes (refused in read mode), including the unknown. Container
// commands are listed with their subcommand. Admin reads (INFO, CONFIG GET) are not here: allowed_commands.
// prettier-ignore
const READ_COMMANDS = new Set([
  'GET', 'MGET', 'GETRANGE', 'GETBIT', 'STRLEN', 'BITCOUNT', 'BITPOS',
  'EXISTS', 'TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME', 'TYPE', 'RANDOMKEY', 'DBSIZE', 'SCAN',
  'HGET', 'HGETALL', 'HMGET', 'HKEYS', 'HVALS', 'HLEN', 'HEXISTS', 'HSTRLEN', 'HRANDFIELD', 'HSCAN',
  'LRANGE', 'LLEN', 'LINDEX', 'LPOS',
  'SMEMBERS', 'SISMEMBER', 'SMISMEMBER', 'SCARD', 'SRANDMEMBER', 'SINTER', 'SINTERCARD', 'SUNION', 'SDIFF', 'SSCAN',
  'ZRANGE', 'ZRANGEBYSCORE', 'ZRANGEBYLEX', 'ZREVRANGE', 'ZREVRANGEBYSCORE', 'ZREVRANGEBYLEX', 'ZSCORE', 'ZMSCORE',
  'ZCARD', 'ZCOUNT', 'ZLEXCOUNT', 'ZRANK', 'ZREVRANK', 'ZRANDMEMBER', 'ZSCAN',
  'XRANGE', 'XREVRANGE', 'XLEN', 'GEOPOS', 'GEODIST', 'GEOHASH', 'GEOSEARCH', 'PFCOUNT', 'SORT_RO',
  'PING', 'ECHO', 'TIME', 'MEMORY USAGE', 'OBJECT ENCODING', 'OBJECT FREQ', 'OBJECT IDLETIME', 'OBJECT REFCOUNT',
]);

const redis: Provider<typeof config> = {
  id: 'redis',
  type: 'database',
  description: 'Redis key-value store, driven one command at a time.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'url', ['host', 'port', 'username', 'password'], 'host'),
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
    ),
  },
  defaultOperation: 'command',
  classify: () => undefined,
};

export default redis;

/** One-word commands, or container commands with their subcommand (`MEMORY USAGE`). */
function isReadCommand([name = '', subcommand = '']: string[]): boolean {
  const upper = name.toUpperCase();
  return READ_COMMANDS.has(upper) || READ_COMMANDS.has(`${upper} ${subcommand.toUpperCase()}`);
}
