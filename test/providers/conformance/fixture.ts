import type { TestContext } from 'node:test';
import type { ErrorCode } from '../../../src/errors.js';
import type { ExecuteResult, HarnessOptions } from '../../../src/providers/harness.js';
import type { Limits } from '../../../src/providers/types.js';
import type { Address } from '../../support/listeners.js';

/**
 * What a provider's test file hands to `describeProvider(provider, fixture)`: how to reach its peer (a real
 * server, a private instance or a stub) and the provider-specific part of each capability. Every capability
 * that needs provider knowledge is a required field: give its settings, or switch it off for this backend
 * with `off('why')` (the reason is printed as the skip message). Capabilities the suite can run on its own
 * (refused, dns, timeout, egress, pooling, lifecycle, the connection test) are on unless switched off.
 */

/** A connector config as stored, before parsing: what `POST /connectors` takes in `config`. */
export type Config = Record<string, unknown>;

/** A capability switched off for this backend, and why: `{ off: 'the wire stub has no authentication' }`. */
export interface Off {
  off: string;
}

/** Switches a capability off for this backend, with the reason shown as the skip message. */
export const off = (reason: string): Off => ({ off: reason });

export const isOff = (value: unknown): value is Off =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as Off).off === 'string';

/** One call through the harness, as an attachment makes it. */
export interface Call {
  /** Operation name. @default the provider's defaultOperation */
  operation?: string;
  /** The operation input before parsing: the execute body without `operation`. */
  input: unknown;
  /** @default 'read' */
  mode?: 'read' | 'read_write';
  /** Replaces some of the suite's limits: maxRows 100, maxBytes 1 MiB, timeoutMs 5,000. */
  limits?: Partial<Limits>;
  /** An attachment's bound_params. @default {} */
  boundParams?: Record<string, unknown>;
}

/** The pooled session a capability exercises, handed to the fixture's hooks and checks. */
export interface Peer {
  /** The config every call of this peer uses: the fixture's `config`. */
  readonly config: Config;
  /** Runs a call on this peer's pooled session: the same harness and pool key as the capability's own calls. */
  execute(call: Call): Promise<ExecuteResult>;
}

/** One operation round-tripped against the peer; the cases run in order, one test each. */
export interface OperationCase extends Call {
  /** Test name, saying what the round trip shows: 'put then get returns the body'. */
  name: string;
  /**
   * Asserts on the result. `peer` runs follow-up calls on the same session, to read back what a write did.
   * The suite itself asserts the envelope (`ok`, an integer `latency_ms >= 0`, a boolean `truncated`).
   */
  check?(result: ExecuteResult, peer: Peer): void | Promise<void>;
  /** The call must fail with this code instead (`scope_denied`, `upstream_not_found`); `check` is then not called. */
  fails?: ErrorCode;
}

/** A call that returns more than `limit` rows (or bytes), run with that limit. */
export interface TruncationCase extends Call {
  /** The `maxRows` (or `maxBytes`) the suite sets on the call. */
  limit: number;
  /** Asserts what was kept, e.g. exactly `limit` rows; the suite asserts `truncated: true` itself. */
  check?(result: ExecuteResult): void | Promise<void>;
  /** Optional counterpart that returns exactly `limit` rows (or bytes): it must come back `truncated: false`. */
  exact?: Call;
}

/** A bad config and the field it must fail at. */
export interface BadConfig {
  /** A complete config with one thing wrong. */
  config: Config;
  /** Where the error must point, relative to the config (`port`, `brokers.0`); the suite prefixes `config.`. */
  path: string;
}

export interface ProviderFixture {
  /** A config that reaches the peer and logs in (egress `private`: loopback allowed). Most capabilities start from it. */
  config: Config;

  /**
   * Called by every test that needs the peer: resolve false after skipping `t` when it is missing, e.g.
   * `(t) => requireServer(t, 'redis')` (which fails instead under CI=true). @default always ready
   */
  ready?(t: TestContext): Promise<boolean>;

  /**
   * Creates what the cases use (a table, a bucket, a queue, under a unique name), once, before the first test
   * that needs the peer. A server the test file starts itself is better started with top-level await, so that
   * its address is known when the fixture is written.
   */
  setup?(): Promise<void>;

  /** Removes what `setup` created; runs after the suite, and only if `setup` ran. */
  teardown?(): Promise<void>;

  /**
   * `config` pointed at another address: the suite calls it with a closed port, `nohost.invalid` and a
   * listener that never answers. Required unless refused, dns and timeout are all switched off.
   */
  at?(address: Address): Config;

  /**
   * The cheapest call that succeeds on `config` (`SELECT 1`, `PING`, a `list`): pooling, restart, lifecycle,
   * auth and secrets run it. Give it a `mode: 'read_write'` if the provider's cheap call writes.
   */
  probe: Call;

  /** Harness settings the provider needs, e.g. `sqliteRoot` for sqlite. The suite uses egress `private`. */
  harness?: Partial<Pick<HarnessOptions, 'sqliteRoot' | 'poolMax' | 'poolIdleMs'>>;

  /** The good config parses with its defaults, an unknown field is refused, and each `bad` config fails at its path. */
  schema: { bad: BadConfig[] } | Off;

  /** `test()` against the peer succeeds with an integer `latency_ms >= 0`; `message` is matched when given. */
  connectionTest?: { message?: RegExp } | Off;

  /**
   * Configs with wrong credentials, produced for real (DESIGN.md section 6: a role that does not exist, an
   * ACL user, a private instance with a password): `test()` and an execute answer `auth_failed`.
   */
  auth: { configs: Config[] } | Off;

  /** A closed port: `connection_refused` (uses `at`). */
  refused?: Off;

  /** The host `nohost.invalid`: `dns_not_found` (uses `at`). */
  dns?: Off;

  /** A listener that accepts and never answers, with `connect_timeout_ms` 500: `timeout`, well within a bound (uses `at`). */
  timeout?: Off;

  /**
   * TLS asked of a plaintext port: `tls_error`. `config` gets the address of a plaintext listener the suite
   * started; it may point at the real peer instead (PostgreSQL with `ssl: true` on its plaintext port).
   */
  tls: { config(plaintext: Address): Config } | Off;

  /** Under `PATCHBAY_EGRESS=public` the loopback peer is refused with `egress_denied`: the provider dials through the guard. */
  egress?: Off;

  /**
   * Configs carrying canary secrets (a password, a connection string, a token) that must never appear in a test
   * result, an error, a log line or an api provider's body. Their secret values are read from the provider's
   * secret fields (`secretFieldNames`, URL passwords included); `values` adds any others (a header value).
   * Switching this off also stops the check every other test makes on what it saw.
   */
  secrets: { configs: Config[]; values?: string[] } | Off;

  /** Each declared operation round-tripped for real; every operation of the provider needs at least one case. */
  operations: OperationCase[] | Off;

  /**
   * In `read` mode each of `writes` is refused with `read_only` (by Patchbay or by the peer) and the data is
   * unchanged: the suite compares `snapshot()` taken before and after the writes, so make it read everything a
   * write could touch (the rows, whether a table it would create exists), preferably over a channel of the
   * test's own rather than through Patchbay.
   */
  readMode: { writes: Call[]; snapshot(peer: Peer): Promise<unknown> } | Off;

  /** `max_rows` and/or `max_bytes` cut the result and report `truncated: true` (give at least one). */
  truncation: { maxRows?: TruncationCase; maxBytes?: TruncationCase } | Off;

  /** Two executes on one pool key share one session; `drop(connectorId)` closes it and the next call reconnects. */
  pooling?: Off;

  /**
   * Breaks the peer's pooled session between two calls: kill its server-side session (`pg_terminate_backend`,
   * `CLIENT KILL`) or stop and start a private instance. `peer` runs calls on that very session (the harness
   * holds one connection, poolMax 1), e.g. to ask for its backend pid. The suite then expects at most one
   * failed call, and the next to succeed.
   */
  restart: { restartPeer(peer: Peer): Promise<void> } | Off;

  /** Parallel executes on one session, `close()` twice, and no connection left open after `harness.close()`. */
  lifecycle?: Off;

  /**
   * The peer's own count of the client connections open to it now (a stub counts its accepted sockets, a proxy
   * the connections it carries). The suite sees every socket a provider dials through the egress guard's
   * `socket()`, `connect()` or `tlsConnect()`; a driver that takes only the guard's `lookup` (mongodb, redis,
   * rabbitmq) dials sockets it cannot see. Given, lifecycle also waits for this count to reach 0 after
   * `harness.close()` (and for it to be above 0 before). Switched off or absent, and no socket seen, lifecycle
   * skips "no connection left open" with the reason.
   */
  openConnections?: (() => Promise<number>) | Off;
}
