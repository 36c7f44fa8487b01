import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { EgressPolicy } from '../config.js';
import { PatchbayError, type ErrorCode } from '../errors.js';
import { EgressGuard } from '../net/egress.js';
import { networkFailure } from '../net/network-errors.js';
import { fieldErrors, getProvider, parseConfig, secretFieldNames } from './registry.js';
import { scrubDeep, scrubbedLogger, scrubber, secretParts, type Scrub, type SecretKind } from './scrub.js';
import { writesFor, type CallContext, type Provider, type Session } from './types.js';

/**
 * The only caller of providers. Everything every provider would otherwise repeat lives here, once:
 * config parsing, deadlines (which return on time even when a client library ignores its AbortSignal),
 * latency, error mapping, secret scrubbing and session pooling. Providers shape results; they never read
 * a clock or wrap an error.
 */

export interface HarnessOptions {
  egress: EgressPolicy;
  /** Connections one pooled session may hold (PATCHBAY_POOL_MAX). */
  poolMax: number;
  /** A pooled session idle this long is closed (PATCHBAY_POOL_IDLE_MS). */
  poolIdleMs: number;
  sqliteRoot: string;
  logger: Logger;
  /** Where provider ids are looked up. @default getProvider of the registry (tests pass their own providers) */
  providers?: (id: string) => Provider | undefined;
  /** Told of every connection test and every execute that reached a session, for metrics. @default none */
  onCall?: (call: CallObservation) => void;
}

/** What `onCall` hears of a call: never a config, a message or a result. */
export interface CallObservation {
  kind: 'test' | 'execute';
  providerId: string;
  connectorId?: string;
  /** Undefined when the call succeeded. */
  errorCode?: ErrorCode;
  latencyMs: number;
}

/** A connection test's outcome: data, never an exception (STYLE.md section 4). */
export interface TestResult {
  success: boolean;
  message: string;
  latency_ms: number;
  error_code?: ErrorCode;
}

export interface ExecuteRequest {
  providerId: string;
  /** Names the pooled session to use; build it with poolKey() so that a changed config gets a new one. */
  poolKey: string;
  /** The stored config merged with the attachment's config_override, as stored (the harness parses it). */
  config: unknown;
  /** Defaults to the provider's defaultOperation. */
  operation?: string;
  input: unknown;
  call: Omit<CallContext, 'signal'>;
}

/** The execute envelope of DESIGN.md section 6. */
export interface ExecuteResult {
  ok: true;
  data: unknown;
  latency_ms: number;
  truncated: boolean;
}

/** `connect_timeout_ms` when a config has none. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** The hard deadline of an operation trails limits.timeoutMs by this, so that a server-side cancel answers first. */
const HARD_DEADLINE_GRACE_MS = 1_000;

// Codes that mean the upstream system answered, so its session still works. Any other failure (a dropped
// connection, an unclassified error, the hard deadline) discards the session: the next call reconnects.
const ANSWERED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'validation_failed',
  'unsupported_operation',
  'read_only',
  'scope_denied',
  'query_failed',
  'permission_denied',
  'upstream_not_found',
  'timeout',
]);

/**
 * The pool key of a connector's sessions: one per connector, config version and override, so that an
 * update (new version) or another override never reuses a session built from other settings. execute() adds
 * the call's mode: a `read` call never runs on a session (or a pooled connection) a `read_write` call used.
 * drop(connectorId) closes every session of the connector.
 */
export function poolKey(connectorId: string, version: number, override?: Record<string, unknown> | null): string {
  const digest = createHash('sha256').update(stableJson(override ?? {})).digest('hex').slice(0, 16);
  return `${connectorId}:${version}:${digest}`;
}

interface PoolEntry {
  key: string;
  /** The parsed config the session was made from. */
  config: Record<string, unknown>;
  session: Promise<Session>;
  scrub: Scrub;
  active: number;
  retired: boolean;
  idleTimer?: NodeJS.Timeout;
  closing?: Promise<void>;
}

export class ProviderHarness {
  private readonly egress: EgressGuard;
  private readonly log: Logger;
  private readonly providers: (id: string) => Provider | undefined;
  private readonly pool = new Map<string, PoolEntry>();

  constructor(private readonly options: HarnessOptions) {
    this.egress = new EgressGuard(options.egress);
    this.log = options.logger;
    this.providers = options.providers ?? getProvider;
  }

  /**
   * Connects with a one-shot session (never pooled) and makes the provider's cheapest round trip.
   * Returns by the deadline (`timeoutMs`, else the config's connect_timeout_ms) whatever the client does,
   * and never throws.
   */
  async test(
    providerId: string,
    rawConfig: unknown,
    options: { timeoutMs?: number; connectorId?: string } = {},
  ): Promise<TestResult> {
    const result = await this.runTest(providerId, rawConfig, options);
    this.options.onCall?.({ kind: 'test', providerId, connectorId: options.connectorId, errorCode: result.error_code, latencyMs: result.latency_ms });
    return result;
  }

  private async runTest(providerId: string, rawConfig: unknown, options: { timeoutMs?: number; connectorId?: string }): Promise<TestResult> {
    const started = performance.now();
    let scrub: Scrub = (text) => text;
    const failure = (code: ErrorCode, message: string): TestResult => ({
      success: false,
      message: scrub(message),
      latency_ms: elapsedMs(started),
      error_code: code,
    });
    try {
      const provider = this.providers(providerId);
      if (!provider) return failure('validation_failed', `unknown provider ${providerId}`);
      scrub = scrubber(secretValues(provider, rawConfig));
      const parsed = parseConfig(provider, rawConfig);
      if (!parsed.success) {
        return failure('validation_failed', parsed.errors.map(({ path, message }) => `${path}: ${message}`).join('; '));
      }
      if (!provider.connect) return failure('unsupported_operation', `${provider.id}: no driver is available yet`);

      let session: Session | undefined;
      try {
        const detail = await withDeadline(
          options.timeoutMs ?? connectTimeoutMs(parsed.data),
          provider,
          async (signal) => {
            const connected = await this.connect(provider, parsed.data, scrub, signal, options.connectorId);
            if (signal.aborted) {
              // Connected after the deadline: nobody is waiting for it.
              this.closeQuietly(connected, scrub);
              throw signal.reason;
            }
            session = connected;
            return connected.ping(signal);
          },
        );
        return { success: true, message: scrub(detail), latency_ms: elapsedMs(started) };
      } catch (error) {
        const { failure: mapped } = this.mapError(error, provider, scrub);
        return failure(mapped.code, mapped.message);
      } finally {
        if (session) this.closeQuietly(session, scrub);
      }
    } catch (error) {
      this.log.error({ error: scrubDeep(error, scrub) }, 'connection test failed unexpectedly');
      return failure('internal_error', 'internal error');
    }
  }

  /**
   * Runs one operation on the pooled session of `poolKey`. Throws a PatchbayError with a stable code and a
   * scrubbed message: validation_failed, unsupported_operation, read_only, timeout, or the upstream failure.
   */
  async execute(request: ExecuteRequest): Promise<ExecuteResult> {
    const started = performance.now();
    const provider = this.providers(request.providerId);
    if (!provider) {
      throw new PatchbayError('validation_failed', `unknown provider ${request.providerId}`, {
        errors: [{ path: 'provider', message: 'unknown provider' }],
      });
    }
    const name = request.operation ?? provider.defaultOperation;
    const operation = name !== undefined && Object.hasOwn(provider.operations, name) ? provider.operations[name] : undefined;
    if (name === undefined || operation === undefined) {
      throw new PatchbayError(
        'unsupported_operation',
        name === undefined
          ? `${provider.id} needs an operation: ${Object.keys(provider.operations).join(', ')}`
          : `${provider.id} has no operation ${name}`,
      );
    }
    if (!provider.connect) throw new PatchbayError('unsupported_operation', `${provider.id}: no driver is available yet`);
    const input = operation.input.safeParse(request.input);
    if (!input.success) {
      throw new PatchbayError('validation_failed', 'the operation input is not valid', {
        errors: fieldErrors(input.error, ''),
      });
    }
    // Anything but an explicit read_write is a read, whatever a caller let through: providers test for 'read'.
    // An operation that always runs as a read (`mode: 'read'`) does so on a read_write attachment too.
    const readWrite = request.call.mode === 'read_write' && operation.mode !== 'read';
    const call = { ...request.call, mode: readWrite ? 'read_write' : 'read' } as const;
    // `read` and `read_write` calls never share a session (nor its pooled connections and their state).
    const key = `${request.poolKey}:${call.mode}`;
    // What writes may depend on the connector's settings (soap's read_methods): the config of this pool key.
    const config = this.pool.get(key)?.config ?? validConfig(provider, request.config);
    if (call.mode === 'read' && writesFor(operation, input.data, config)) {
      throw new PatchbayError('read_only', `this ${name} writes, and the call is in read mode`);
    }

    const entry = this.acquire(key, provider, request.config, config, request.call.connectorId);
    try {
      const session = await entry.session;
      const result = await withDeadline(request.call.limits.timeoutMs + HARD_DEADLINE_GRACE_MS, provider, (signal) =>
        session.execute(name, input.data, { ...call, signal }),
      );
      // An api provider's body is the remote system's text, which may echo a credential back (DESIGN.md
      // section 8); database rows, stored objects and queue messages are the user's data and pass untouched.
      const data = provider.type === 'api' ? scrubDeep(result.data, entry.scrub) : result.data;
      const latencyMs = elapsedMs(started);
      this.options.onCall?.({ kind: 'execute', providerId: provider.id, connectorId: request.call.connectorId, latencyMs });
      return { ok: true, data, latency_ms: latencyMs, truncated: result.truncated === true };
    } catch (error) {
      const { failure, answered } = this.mapError(error, provider, entry.scrub);
      if (!answered) this.retire(entry);
      this.options.onCall?.({ kind: 'execute', providerId: provider.id, connectorId: request.call.connectorId, errorCode: failure.code, latencyMs: elapsedMs(started) });
      throw failure;
    } finally {
      this.release(entry);
    }
  }

  /** Closes every session of a connector (on update and delete); calls in flight finish first. */
  async drop(connectorId: string): Promise<void> {
    const entries = [...this.pool.values()].filter((entry) => entry.key.startsWith(`${connectorId}:`));
    for (const entry of entries) this.retire(entry);
    await Promise.all(entries.filter((entry) => entry.closing).map((entry) => entry.closing));
  }

  /** Pooled sessions open now, for the pool-size gauge. */
  get pooledSessions(): number {
    return this.pool.size;
  }

  /** Closes every session at once (shutdown). */
  async close(): Promise<void> {
    const entries = [...this.pool.values()];
    for (const entry of entries) this.retire(entry);
    await Promise.all(entries.map((entry) => this.closeEntry(entry)));
  }

  private acquire(
    key: string,
    provider: Provider,
    rawConfig: unknown,
    config: Record<string, unknown>,
    connectorId?: string,
  ): PoolEntry {
    let entry = this.pool.get(key);
    if (!entry) {
      const scrub = scrubber(secretValues(provider, rawConfig));
      const created: PoolEntry = {
        key,
        config,
        scrub,
        active: 0,
        retired: false,
        session: withDeadline(
          connectTimeoutMs(config),
          provider,
          (signal) => this.connect(provider, config, scrub, signal, connectorId),
          (late) => this.closeQuietly(late, scrub),
        ),
      };
      // A failed connect leaves nothing to reuse; the waiting calls see the error themselves.
      created.session.catch(() => this.retire(created));
      this.pool.set(key, created);
      entry = created;
    }
    entry.active += 1;
    clearTimeout(entry.idleTimer);
    return entry;
  }

  private release(entry: PoolEntry): void {
    entry.active -= 1;
    if (entry.active > 0) return;
    if (entry.retired) {
      void this.closeEntry(entry);
    } else {
      entry.idleTimer = setTimeout(() => this.retire(entry), this.options.poolIdleMs);
      entry.idleTimer.unref();
    }
  }

  /** Takes an entry out of the pool; its session closes once no call is using it. */
  private retire(entry: PoolEntry): void {
    if (this.pool.get(entry.key) === entry) this.pool.delete(entry.key);
    clearTimeout(entry.idleTimer);
    entry.retired = true;
    if (entry.active === 0) void this.closeEntry(entry);
  }

  private closeEntry(entry: PoolEntry): Promise<void> {
    entry.closing ??= entry.session.then(
      (session) => this.closeQuietly(session, entry.scrub),
      () => undefined,
    );
    return entry.closing;
  }

  private async closeQuietly(session: Session, scrub: Scrub): Promise<void> {
    try {
      await session.close();
    } catch (error) {
      this.log.warn({ error: scrubDeep(error, scrub) }, 'closing a provider session failed');
    }
  }

  private connect(
    provider: Provider,
    config: Record<string, unknown>,
    scrub: Scrub,
    signal: AbortSignal,
    connectorId?: string,
  ): Promise<Session> {
    const connect = provider.connect as NonNullable<Provider['connect']>;
    return connect(config, {
      signal,
      log: scrubbedLogger(this.log, scrub, { provider: provider.id, connector_id: connectorId }),
      egress: this.egress,
      poolMax: this.options.poolMax,
      sqliteRoot: this.options.sqliteRoot,
    });
  }

  /**
   * One stable code and a scrubbed, driver-free message for any failure: a PatchbayError keeps its code,
   * then the provider's classify, then the network rules every provider shares, else upstream_error.
   * `answered` says whether the upstream system itself answered (its session still works).
   */
  private mapError(error: unknown, provider: Provider, scrub: Scrub): { failure: PatchbayError; answered: boolean } {
    if (error instanceof DeadlineExceeded) {
      return { failure: new PatchbayError('timeout', scrub(error.message)), answered: false };
    }
    if (error instanceof PatchbayError) {
      const failure = new PatchbayError(error.code, scrub(error.message), {
        errors: error.errors?.map(({ path, message }) => ({ path, message: scrub(message) })),
        extra: error.extra && (scrubDeep(error.extra, scrub) as Record<string, unknown>),
      });
      return { failure, answered: ANSWERED.has(error.code) };
    }
    const classified = provider.classify(error);
    if (classified) {
      const failure = new PatchbayError(classified, `${provider.id}: ${scrub(messageOf(error))}`);
      return { failure, answered: ANSWERED.has(classified) };
    }
    const network = networkFailure(error);
    if (network) return { failure: new PatchbayError(network.code, `${provider.id}: ${scrub(network.message)}`), answered: false };
    this.log.warn({ error: scrubDeep(error, scrub), provider: provider.id }, 'unclassified provider error');
    return { failure: new PatchbayError('upstream_error', `${provider.id}: ${scrub(messageOf(error))}`), answered: false };
  }
}

/** The harness deadline passed; distinct from a timeout the upstream system reported itself. */
class DeadlineExceeded extends Error {
  constructor(provider: Provider, ms: number) {
    super(`${provider.id}: no answer within ${ms} ms`);
    this.name = 'DeadlineExceeded';
  }
}

/**
 * Runs `work` with an AbortSignal that fires at the deadline, and stops waiting then even if the work
 * ignores the signal. A result that arrives late goes to `onLate` (to close what it opened).
 */
async function withDeadline<T>(
  ms: number,
  provider: Provider,
  work: (signal: AbortSignal) => Promise<T>,
  onLate?: (value: T) => void,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const reason = new DeadlineExceeded(provider, ms);
      controller.abort(reason);
      reject(reason);
    }, ms);
  });
  const running = (async () => work(controller.signal))();
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
    if (controller.signal.aborted) running.then((value) => onLate?.(value), () => undefined);
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const elapsedMs = (started: number): number => Math.max(0, Math.round(performance.now() - started));

/** The parsed config, or validation_failed listing what is wrong with it. */
function validConfig(provider: Provider, rawConfig: unknown): Record<string, unknown> {
  const parsed = parseConfig(provider, rawConfig);
  if (!parsed.success) {
    throw new PatchbayError('validation_failed', 'the connector config is not valid', { errors: parsed.errors });
  }
  return parsed.data;
}

function connectTimeoutMs(config: Record<string, unknown>): number {
  return typeof config.connect_timeout_ms === 'number' ? config.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
}

/**
 * Every string value of the config's secret fields, nested values included (a headers map), and the secret
 * parts of composite ones as their field declares them (`secret(field, kind)`: a URL's password, a key file's
 * private_key).
 */
function secretValues(provider: Provider, config: unknown): string[] {
  if (config === null || typeof config !== 'object') return [];
  const values: string[] = [];
  const collect = (value: unknown, kind: SecretKind | undefined): void => {
    if (typeof value === 'string') values.push(value, ...(kind ? secretParts(kind, value) : []));
    else if (Array.isArray(value)) value.forEach((item) => collect(item, kind));
    else if (value !== null && typeof value === 'object') Object.values(value).forEach((item) => collect(item, kind));
  };
  for (const name of secretFieldNames(provider)) {
    const field = provider.config.shape[name] as z.ZodType | undefined;
    collect((config as Record<string, unknown>)[name], field?.meta()?.secretParts as SecretKind | undefined);
  }
  return values;
}

/** JSON with sorted keys, so that equal overrides hash equally whatever their key order. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${stableJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
