import type * as redisModule from 'redis';
import type { RedisClientOptions } from 'redis';
import type { ErrorCode, FieldError } from '../../errors.js';
import type { ConnectContext } from '../types.js';
import { plainReply } from './redis-reply.js';

/**
 * The Redis connection that redis and redis_pubsub share: where to connect (url or the separate fields),
 * a small pool of node-redis clients dialled through the egress guard, the reply conversion and the error
 * classification. node-redis is loaded on the first connect.
 */

/** The config fields both Redis providers take (redis.ts declares them). */
export interface RedisSettings {
  host?: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls: boolean;
  url?: string;
  connect_timeout_ms: number;
  tls_ca?: string;
  tls_cert?: string;
  tls_key?: string;
  tls_reject_unauthorized: boolean;
}

type RedisModule = typeof redisModule;
type Client = ReturnType<RedisModule['createClient']>;
type TypeMapping = NonNullable<Parameters<Client['sendCommand']>[1]>['typeMapping'];
export type RedisArgument = string | Buffer;

// Set by the first connect, so that classify recognises node-redis's error classes without loading it itself.
let loaded: RedisModule | undefined;

/** The client call's own deadline passed (connecting, or one command): answered as `timeout`. */
export class RedisTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = 'RedisTimeoutError';
  }
}

class RedisUrlError extends Error {}

/** A url problem for the config's refine, at `url`. Messages never quote the url: it holds the password. */
export function redisUrlIssues(settings: Pick<RedisSettings, 'url'>): FieldError[] {
  if (settings.url === undefined) return [];
  try {
    parseRedisUrl(settings.url);
    return [];
  } catch (error) {
    if (!(error instanceof RedisUrlError)) throw error;
    return [{ path: 'url', message: error.message }];
  }
}

/**
 * redis[s]://[user[:password]@]host[:port][/db], parsed here rather than by node-redis so that the `db` field
 * (an attachment's override) wins over the url's, and no unknown option is silently ignored.
 */
function parseRedisUrl(text: string) {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new RedisUrlError('is not a valid URL');
  }
  if ([...url.searchParams.keys()].length > 0 || url.hash) {
    throw new RedisUrlError('takes no query parameters or fragment; use the config fields instead');
  }
  const host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new RedisUrlError('must name a host');
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,2}$/.test(path)) throw new RedisUrlError('path must be a database number (/0 … /15)');
  return {
    host,
    port: url.port ? Number(url.port) : 6379,
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: path === '' ? undefined : Number(path),
    tls: url.protocol === 'rediss:',
  };
}

/** Where and as whom to connect: url or the separate fields; the `db` field always wins. */
function clientOptions(settings: RedisSettings, ctx: ConnectContext): RedisClientOptions {
  const url = settings.url === undefined ? undefined : parseRedisUrl(settings.url);
  const host = url?.host ?? settings.host ?? '';
  // node-redis hands its socket options to net/tls.connect, which take a lookup but no socket factory: the
  // guard's lookup checks every address a name resolves to, and an IP literal is checked here.
  ctx.egress.assertHost(host);
  const common = {
    host,
    port: url?.port ?? settings.port,
    connectTimeout: settings.connect_timeout_ms,
    // A broken connection is dropped from the pool and replaced, never retried behind a caller's back.
    reconnectStrategy: false as const,
    lookup: ctx.egress.lookup,
  };
  const tls = settings.tls || url?.tls === true;
  return {
    socket: tls
      ? {
          ...common,
          tls: true,
          ca: settings.tls_ca,
          cert: settings.tls_cert,
          key: settings.tls_key,
          rejectUnauthorized: settings.tls_reject_unauthorized,
        }
      : { ...common, tls: false },
    username: url?.username ?? settings.username,
    password: url === undefined ? settings.password : url.password,
    database: settings.db ?? url?.db ?? 0,
    // CLIENT SETINFO costs two commands per connection and fails before Redis 7.2 anyway.
    disableClientInfo: true,
  };
}

/**
 * At most `max` node-redis clients of one session (one connection each, so that a blocking command or a
 * subscription holds only its own). A client is taken for one call and given back; one that broke, timed
 * out or was aborted is destroyed and replaced on demand, so a killed connection costs at most one call.
 */
export class RedisPool {
  // Every reply as Buffers (strings) and strings (integers), so that plainReply can tell them apart and keep
  // 64-bit integers exact.
  private readonly rawReplies: TypeMapping;
  private readonly idle: Client[] = [];
  private readonly busy = new Set<Client>();
  private readonly waiting: (() => void)[] = [];
  private size = 0;
  private closed = false;

  private constructor(
    private readonly redis: RedisModule,
    private readonly options: RedisClientOptions,
    private readonly max: number,
    private readonly connectTimeoutMs: number,
    private readonly ctx: ConnectContext,
  ) {
    const { BLOB_STRING, SIMPLE_STRING, NUMBER } = redis.RESP_TYPES;
    this.rawReplies = { [BLOB_STRING]: Buffer, [SIMPLE_STRING]: Buffer, [NUMBER]: String } as TypeMapping;
  }

  /** Connects the first client (so that wrong credentials fail here), within ctx.signal. */
  static async open(settings: RedisSettings, ctx: ConnectContext): Promise<RedisPool> {
    const options = clientOptions(settings, ctx);
    loaded ??= await import('redis');
    const pool = new RedisPool(loaded, options, Math.max(1, ctx.poolMax), settings.connect_timeout_ms, ctx);
    pool.release(await pool.acquire(ctx.signal), false);
    return pool;
  }

  /**
   * Runs `work` on a client of its own. `timeoutMs` bounds the work: Redis cannot cancel a command, so at
   * that point (or when `signal` aborts) the client's connection is destroyed, which ends the call.
   */
  async use<T>(signal: AbortSignal, timeoutMs: number, work: (client: RedisClientHandle) => Promise<T>): Promise<T> {
    const client = await this.acquire(signal);
    let broken = false;
    try {
      return await within(
        work(new RedisClientHandle(client, this.rawReplies)),
        { ms: timeoutMs, signal, timeout: () => new RedisTimeoutError('the command', timeoutMs) },
        () => {
          broken = true;
          destroyQuietly(client);
        },
      );
    } catch (error) {
      // An error reply leaves the connection in step; anything else may not.
      if (!(error instanceof this.redis.ErrorReply)) broken = true;
      throw error;
    } finally {
      this.release(client, broken);
    }
  }

  /**
   * `PING`, plus the server version where HELLO (Redis 6+) tells it: "Connected to Redis 7.0.15". Bounded
   * by connect_timeout_ms, as the whole connection test is.
   */
  ping(signal: AbortSignal): Promise<string> {
    return this.use(signal, this.connectTimeoutMs, async (client) => {
      const [, hello] = await Promise.all([client.command(['PING']), client.command(['HELLO']).catch(() => undefined)]);
      // HELLO without arguments answers [server, redis, version, 7.0.15, proto, 2, …] and switches nothing.
      const fields: unknown[] = Array.isArray(hello) ? hello : [];
      const at = fields.indexOf('version');
      const version = at >= 0 ? fields[at + 1] : undefined;
      return typeof version === 'string' ? `Connected to Redis ${version}` : 'Connected to Redis';
    });
  }

  /** Destroys every client, those in use included (their calls end). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    for (const client of [...this.idle.splice(0), ...this.busy]) destroyQuietly(client);
    this.busy.clear();
    for (const wake of this.waiting.splice(0)) wake();
  }

  private async acquire(signal: AbortSignal): Promise<Client> {
    for (;;) {
      if (this.closed) throw new Error('the Redis session is closed');
      signal.throwIfAborted();
      const client = this.idle.pop();
      if (client?.isReady) {
        this.busy.add(client);
        return client;
      }
      if (client) {
        this.discard(client); // killed while idle
        continue;
      }
      if (this.size < this.max) return this.create(signal);
      // Every connection is taken: wait until one is given back or discarded.
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          this.waiting.splice(this.waiting.indexOf(wake), 1);
          reject(signal.reason);
        };
        this.waiting.push(wake);
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }

  /** A new connected client, checked with a PING: connecting and the PING end within connect_timeout_ms. */
  private async create(signal: AbortSignal): Promise<Client> {
    this.size += 1;
    const client = this.redis.createClient(this.options);
    // node-redis reports socket failures as 'error' events as well as on the calls they fail.
    client.on('error', (error: Error) => this.ctx.log.debug({ err: error }, 'Redis connection error'));
    this.busy.add(client); // so that close() ends a connect in flight too
    const ms = this.connectTimeoutMs;
    try {
      await within(
        client.connect().then(() => client.sendCommand(['PING'])),
        { ms, signal, timeout: () => new RedisTimeoutError('connecting', ms) },
        () => destroyQuietly(client),
      );
      if (this.closed) throw new Error('the Redis session is closed');
      return client;
    } catch (error) {
      this.busy.delete(client);
      this.discard(client);
      this.waiting.shift()?.();
      throw error;
    }
  }

  private release(client: Client, broken: boolean): void {
    if (!this.busy.delete(client)) return; // close() took it
    if (broken || !client.isReady) this.discard(client);
    else this.idle.push(client);
    this.waiting.shift()?.();
  }

  private discard(client: Client): void {
    destroyQuietly(client);
    this.size -= 1;
  }
}

/** What a call may do with its client: one raw command, or a subscription for the length of the call. */
export class RedisClientHandle {
  constructor(
    private readonly client: Client,
    private readonly rawReplies: TypeMapping,
  ) {}

  /** One command, its reply converted by plainReply. */
  async command(words: readonly RedisArgument[]): Promise<unknown> {
    return plainReply(await this.client.sendCommand([...words], { typeMapping: this.rawReplies }));
  }

  subscribe(channel: string, listener: (message: Buffer, channel: Buffer) => void): Promise<void> {
    return this.client.subscribe(channel, listener, true);
  }

  unsubscribe(channel: string, listener: (message: Buffer, channel: Buffer) => void): Promise<void> {
    return this.client.unsubscribe(channel, listener, true);
  }
}

/**
 * Waits for `work` until `ms` pass or `signal` aborts, whichever comes first; then `stop` runs (destroying
 * the client's connection, which ends the work) and the wait fails with `timeout()` or the abort reason.
 */
async function within<T>(
  work: Promise<T>,
  bound: { ms: number; signal: AbortSignal; timeout: () => Error },
  stop: () => void,
): Promise<T> {
  const { ms, signal, timeout } = bound;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_resolve, reject) => {
    const fail = (error: unknown) => {
      stop();
      reject(error);
    };
    timer = setTimeout(() => fail(timeout()), ms);
    onAbort = () => fail(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, stopped]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

function destroyQuietly(client: Client): void {
  if (client.isOpen) client.destroy();
}

// Error replies start with a code word (https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors).
const REPLY_CODES: Record<string, ErrorCode | undefined> = {
  WRONGPASS: 'auth_failed',
  NOAUTH: 'auth_failed',
  NOPERM: 'permission_denied',
  READONLY: 'permission_denied', // a write sent to a read-only replica
  // The server's state, not the request: upstream_error, and the session is replaced.
  LOADING: undefined,
  BUSY: undefined,
  MASTERDOWN: undefined,
  MISCONF: undefined,
  OOM: undefined,
  TRYAGAIN: undefined,
  CLUSTERDOWN: undefined,
  MOVED: undefined,
  ASK: undefined,
};

/** node-redis errors and Redis error replies as stable codes; undefined leaves them to the network rules. */
export function classifyRedisError(error: unknown): ErrorCode | undefined {
  if (error instanceof RedisTimeoutError) return 'timeout';
  if (!(error instanceof Error) || loaded === undefined) return undefined;
  if (error instanceof loaded.ConnectionTimeoutError) return 'timeout';
  if (!(error instanceof loaded.ErrorReply)) return undefined;
  const code = error.message.split(' ', 1)[0] ?? '';
  if (Object.hasOwn(REPLY_CODES, code)) return REPLY_CODES[code];
  // A password sent to a server that has none, or the requirepass password of Redis before 6.
  if (/^ERR (AUTH|invalid password|Client sent AUTH)/i.test(error.message)) return 'auth_failed';
  if (/^ERR (DB index is out of range|invalid DB index)/i.test(error.message)) return 'database_not_found';
  return 'query_failed';
}
