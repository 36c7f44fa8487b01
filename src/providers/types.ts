import type { z } from 'zod';
import type { Logger } from 'pino';
import type { ErrorCode, FieldError } from '../errors.js';
import type { EgressGuard } from '../net/egress.js';
import type { SecretKind } from './scrub.js';
import type { ConnectorType } from '../schemas/vocabulary.js';

/**
 * Secret field: encrypted at rest, write-only in OpenAPI, masked in responses, scrubbed from every outward string.
 * `parts` says how a composite value holds secrets of its own (a URL's password), scrubbed alone as well.
 */
export const secret = <T extends z.ZodType>(field: T, parts?: SecretKind): T =>
  field.meta({ writeOnly: true, secret: true, ...(parts && { secretParts: parts }) }) as T;

/** Field an attachment's config_override may set. Never a secret, a host, an endpoint or a URL. */
export const overridable = <T extends z.ZodType>(field: T): T => field.meta({ overridable: true }) as T;

/**
 * How an attachment's value of a boundary field must lie within the connector's: start with it (`prefix`), equal
 * it (`exact`), or be a topic or subject filter it covers (`mqtt_filter`, `nats_filter`: wildcards included).
 */
export type BoundaryRule = 'prefix' | 'exact' | 'mqtt_filter' | 'nats_filter';

/**
 * Field that bounds what the connector reaches (DESIGN.md section 7: a prefix, topic, queue, subject, channel or
 * exchange): overridable, but an attachment's override may only narrow it, by `rule`; where the connector leaves
 * it unset an override may set it freely. src/providers/boundaries.ts checks overrides against it.
 */
export const boundary = <T extends z.ZodType>(rule: BoundaryRule, field: T): T =>
  field.meta({ overridable: true, boundary: rule }) as T;

/**
 * Field that says where the connector connects (host, port, URL, endpoint, connection string, servers, brokers,
 * account): an update that changes one must re-supply every stored secret, so that no secret follows a
 * re-pointed connector to another server.
 */
export const destination = <T extends z.ZodType>(field: T): T => field.meta({ destination: true }) as T;

/** A connector's family, as the API names it (`connector_type`). */
export type ProviderType = ConnectorType;

/**
 * Whether an operation writes, stated outright: `'never'` (a read), `'always'` (a write: a read attachment does
 * not offer it), or a test of the parsed input (SQL, REST, Redis), which also sees the parsed connector config
 * merged with the attachment's override (soap's read_methods). A call in read mode that writes is refused
 * (read_only) before the provider is called.
 */
export type Writes = 'never' | 'always' | ((input: unknown, config: Readonly<Record<string, unknown>>) => boolean);

/**
 * What the audit log keeps of a call besides its outcome (DESIGN.md section 9: never a secret or a literal value).
 */
export interface CallSummary {
  /** The kind of call: a SQL statement's class (`select`, `insert`, … `other`), a Redis command, an HTTP method. */
  statement_class?: string;
  /** A SQL statement's shape: 16 hex digits of SHA-256 over its tokens with every literal as `?`. */
  statement_fingerprint?: string;
}

export interface Operation {
  /** Parsed by the harness before execute() sees it. */
  input: z.ZodType;
  writes: Writes;
  description: string;
  /**
   * The audit summary of a call, from its input as the caller sent it (not parsed yet: a refused call is
   * summarised too, so check each value's type). Absent: the audit keeps the outcome alone.
   */
  summarize?(input: Readonly<Record<string, unknown>>): CallSummary;
  /** The schema of a successful call's `data`, for the output schema of its tool. Absent: any value. */
  output?: z.ZodType;
  /**
   * `'read'`: the call runs in read mode whatever the attachment's mode, on a read session and behind read mode's
   * checks (the SQL providers' describe, a catalogue query). Absent: the attachment's mode.
   */
  mode?: 'read';
  /** Another operation of the provider worth calling first, and what it shows: its tool's description says so. */
  seeAlso?: { operation: string; shows: string };
}

/** Whether this call of `operation` writes: its `writes` applied to the parsed input and config. */
export function writesFor(operation: Operation, input: unknown, config: Readonly<Record<string, unknown>> = {}): boolean {
  const { writes } = operation;
  return writes === 'always' || (writes !== 'never' && writes(input, config));
}

export interface Limits {
  maxRows: number;
  maxBytes: number;
  timeoutMs: number;
}

/** What one call may do: read or read_write, its limits, admin-fixed parameters, and its deadline. */
export interface CallContext {
  mode: 'read' | 'read_write';
  /** `timeoutMs` is for the upstream system to cancel the work itself (e.g. PostgreSQL's statement_timeout). */
  limits: Limits;
  boundParams: Readonly<Record<string, unknown>>;
  /**
   * Aborts at the harness's hard deadline, shortly after `limits.timeoutMs`, so that a server-side
   * cancellation answers first; on abort a session frees what the call holds (e.g. destroys its connection).
   */
  signal: AbortSignal;
  /** Stable identity of the caller's attachment (consumer groups, durable names); undefined on the direct path. */
  instanceId?: string;
  connectorId?: string;
}

/**
 * What an operation returns: `data` goes to the caller as it is; `truncated` says the provider stopped at
 * `maxRows` (it read maxRows+1) or `maxBytes`.
 */
export interface OperationResult {
  data: unknown;
  truncated?: boolean;
}

export interface Session {
  /** The cheapest real round trip; resolves to a short, secret-free detail such as the server version. */
  ping(signal: AbortSignal): Promise<string>;
  execute(operation: string, input: unknown, call: CallContext): Promise<OperationResult>;
  /** Idempotent. */
  close(): Promise<void>;
}

export interface ConnectContext {
  /** Aborts when the connect deadline (`connect_timeout_ms`) passes. */
  signal: AbortSignal;
  /** Bound to provider and connector_id; its lines are scrubbed of the config's secrets. */
  log: Logger;
  /** The only way to the network: every socket is opened through it (src/providers/README.md). */
  egress: EgressGuard;
  /** Most connections one session may hold (PATCHBAY_POOL_MAX). */
  poolMax: number;
  /** The only folder sqlite may open files in (PATCHBAY_SQLITE_ROOT). */
  sqliteRoot: string;
}

export interface Provider<Config extends z.ZodObject = z.ZodObject> {
  /** Wire id and file name, e.g. 'redis_pubsub'. */
  id: string;
  type: ProviderType;
  description: string;
  /** Validation, TypeScript type, OpenAPI and docs table from one schema. */
  config: Config;
  /** Cross-field rules (a connection string or the separate fields, not both); paths relative to the config. */
  refine?(config: z.output<Config>): FieldError[];
  operations: Readonly<Record<string, Operation>>;
  /** Operation used when a request names none. */
  defaultOperation?: string;
  /** Absent while the provider has no driver: tests and operations answer unsupported_operation. */
  connect?(config: z.output<Config>, ctx: ConnectContext): Promise<Session>;
  /** Maps native errors to stable codes; undefined lets the harness's network rules decide. */
  classify(error: unknown): ErrorCode | undefined;
}
