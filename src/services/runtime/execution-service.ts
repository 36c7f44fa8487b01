import { performance } from 'node:perf_hooks';
import type { Connector, Role } from '../../db/models/index.js';
import { PatchbayError, validationError } from '../../errors.js';
import { poolKey, type ExecuteResult, type ProviderHarness } from '../../providers/harness.js';
import { getProvider } from '../../providers/registry.js';
import type { AttachmentService } from '../connectors/attachment-service.js';
import { effectiveLimits, runtimeRoleRefusal } from '../connectors/attachment-service.js';
import type { AuditService } from '../audit-service.js';
import type { ConnectorService } from '../connectors/connector-service.js';
import type { RequestContext } from '../context.js';
import type { PrincipalCache, RuntimeAttachment } from './principal-cache.js';
import type { RateLimitService } from './rate-limit-service.js';
import { rememberDataJson } from '../../schemas/execute-result.js';
import { countRows, jsonBytes, summarizeCall } from './use-audit.js';

/**
 * An execute request: `operation` (or the provider's default) plus that operation's fields, e.g.
 * `{query, params}` or `{operation: "get", key}`. `mode` is only for the direct path.
 */
export type ExecuteBody = Record<string, unknown> & { operation?: string; mode?: 'read' | 'read_write' };

/** The program that made a run-time call: an MCP client's `clientInfo`, else the `User-Agent`. */
export interface ClientInfo {
  name: string;
  version?: string;
}

/** A run-time request: where, who, which request, and from which client program (for the audit log). */
export interface RuntimeContext extends RequestContext {
  client?: ClientInfo;
  /** The user's role in the organisation; an agent token has none. */
  role?: Role | null;
}

/**
 * `operation` and `mode` are checked here, as the body schema is open: a mode other than the two (`"READ_WRITE"`,
 * `"write"`) must never reach a provider, which enforces read mode only for `"read"`.
 */
function splitBody(body: ExecuteBody) {
  const { operation, mode, ...input } = body as Record<string, unknown>;
  const errors = [
    ...(operation === undefined || typeof operation === 'string' ? [] : [{ path: 'operation', message: 'must be a string' }]),
    ...(mode === undefined || mode === 'read' || mode === 'read_write' ? [] : [{ path: 'mode', message: 'must be read or read_write' }]),
  ];
  if (errors.length) throw validationError(errors);
  return { operation: operation as string | undefined, mode: mode as ExecuteBody['mode'], input };
}

/**
 * Runs operations through the harness, on the direct path and on an agent's run-time path. The run-time path is
 * the one policy pipeline of REST and MCP alike: the attachment's mode, then the connector's `enabled`, the
 * attachment's `rate_per_minute`, its bound parameters, the harness (deadline, read-only, scrubbing), the byte
 * budget, and one audit event per call.
 */
export class ExecutionService {
  constructor(
    private readonly deps: {
      connectors: ConnectorService;
      attachments: AttachmentService;
      harness: ProviderHarness;
      audit: AuditService;
      rateLimits: RateLimitService;
      runtime: PrincipalCache;
    },
  ) {}

  /** The attachment an agent's alias names, from memory when cached (not_found otherwise). */
  attachment(organizationId: string, agentId: string, alias: string): Promise<RuntimeAttachment> {
    return this.deps.runtime.attachment(this.deps.attachments, organizationId, agentId, alias);
  }

  private assertEnabled(connector: Connector) {
    if (!connector.enabled) throw new PatchbayError('connector_disabled', `connector ${connector.name} is disabled`);
  }

  /** The reference's execute_query: read mode and default limits unless an admin asks for read_write. */
  async executeDirect(ctx: RequestContext & { role: Role | null }, connectorId: string, body: ExecuteBody): Promise<ExecuteResult> {
    const connector = await this.deps.connectors.require(ctx.organizationId, connectorId);
    const { operation, mode = 'read', input } = splitBody(body);
    if (mode === 'read_write' && ctx.role !== 'admin') throw new PatchbayError('forbidden', 'mode read_write needs an admin');
    return this.run(ctx, connector, {
      operation,
      input,
      mode,
      limits: effectiveLimits(null),
      boundParams: {},
      config: () => this.deps.connectors.decrypt(connector),
      poolKey: poolKey(connector.id, connector.version, null),
      target: { connector_id: connector.id },
    });
  }

  /** The run-time path (REST execute and MCP tools/call): the attachment's override, mode, limits and bound parameters apply. */
  async executeRuntime(
    ctx: RuntimeContext,
    agentId: string,
    alias: string,
    body: ExecuteBody,
    /** The attachment when the caller has already looked it up for this request. */
    resolved?: RuntimeAttachment,
  ): Promise<ExecuteResult> {
    const attachment = resolved ?? (await this.attachment(ctx.organizationId, agentId, alias));
    const { instance, connector } = attachment;
    const { operation, mode, input } = splitBody(body);
    return this.run(ctx, connector, {
      operation,
      input,
      mode: instance.mode,
      refusal:
        runtimeRoleRefusal(ctx, instance.mode) ??
        (mode === undefined
          ? undefined
          : new PatchbayError('validation_failed', 'mode is set by the attachment, not the call', {
              errors: [{ path: 'mode', message: 'not accepted on the run-time path' }],
            })),
      limits: attachment.limits,
      boundParams: instance.bound_params ?? {},
      config: () => attachment.config(() => this.deps.connectors.decrypt(connector)),
      poolKey: attachment.poolKey,
      instanceId: instance.id,
      target: { connector_id: connector.id, instance_id: instance.id, agent_id: agentId, alias },
    });
  }

  private async run(
    ctx: RuntimeContext,
    connector: Connector,
    call: {
      operation?: string;
      input: Record<string, unknown>;
      mode: 'read' | 'read_write';
      /** A refusal decided before the call, thrown (and audited) as the pipeline's first step. */
      refusal?: PatchbayError;
      limits: ReturnType<typeof effectiveLimits>;
      boundParams: Record<string, unknown>;
      /** The connector's config with the attachment's override (decrypted on first use, then kept with the attachment). */
      config: () => Record<string, unknown>;
      poolKey: string;
      instanceId?: string;
      target: Record<string, string>;
    },
  ): Promise<ExecuteResult> {
    const started = performance.now();
    const operation = call.operation ?? getProvider(connector.provider)?.defaultOperation ?? null;
    const audit = (outcome: 'success' | 'failure', detail: Record<string, unknown>) =>
      this.deps.audit.record({
        organization_id: ctx.organizationId,
        actor: ctx.actor,
        action: 'connector.execute',
        target_type: call.instanceId ? 'connector_instance' : 'connector',
        target_id: call.instanceId ?? connector.id,
        outcome,
        detail: {
          ...call.target,
          provider: connector.provider,
          operation,
          mode: call.mode,
          token_id: ctx.actor.type === 'agent' ? ctx.actor.id : null,
          ...summarizeCall(connector.provider, operation, call.input),
          client_name: ctx.client?.name ?? null,
          client_version: ctx.client?.version ?? null,
          ...detail,
        },
        request_id: ctx.requestId,
      });
    // Before anything runs: a call whose audit row could not be written now must not reach the upstream system.
    this.deps.audit.assertWritable();
    let shaped: ExecuteResult;
    let json: string;
    try {
      if (call.refusal) throw call.refusal;
      this.assertEnabled(connector);
      const { ratePerMinute, ...limits } = call.limits;
      if (call.instanceId && ratePerMinute) await this.deps.rateLimits.take(call.instanceId, ratePerMinute);
      refuseBoundParams(call.input, call.boundParams);
      const result = await this.deps.harness.execute({
        providerId: connector.provider,
        poolKey: call.poolKey,
        config: call.config(),
        operation: call.operation,
        input: call.input,
        call: {
          mode: call.mode,
          limits,
          boundParams: call.boundParams,
          instanceId: call.instanceId,
          connectorId: connector.id,
        },
      });
      ({ result: shaped, json } = fitRows(result, limits.maxBytes));
    } catch (error) {
      await audit('failure', {
        latency_ms: Math.round(performance.now() - started),
        error_code: error instanceof PatchbayError ? error.code : 'internal_error',
      });
      throw error;
    }
    // Outside the try: a success whose row the database refused is answered `unavailable`, and its row (deferred
    // by the writer) stays the call's one row, never joined by a second one saying it failed.
    await audit('success', {
      latency_ms: shaped.latency_ms,
      truncated: shaped.truncated,
      rows: countRows(shaped.data),
      bytes: Buffer.byteLength(json),
    });
    rememberDataJson(shaped, json);
    return shaped;
  }
}

/**
 * Bound parameters are the admin's: a call that tries to set one is refused (validation_failed at
 * `params.<name>`), rather than silently run with another value than the caller believes.
 */
function refuseBoundParams(input: Record<string, unknown>, boundParams: Record<string, unknown>): void {
  const params = input.params;
  if (params === null || typeof params !== 'object') return;
  const taken = Object.keys(params).filter((name) => Object.hasOwn(boundParams, name));
  if (taken.length > 0) {
    throw new PatchbayError('validation_failed', `bound by the attachment, not the call: ${taken.join(', ')}`, {
      errors: taken.map((name) => ({ path: `params.${name}`, message: 'bound by the attachment (set by an admin); leave it out' })),
    });
  }
}

/**
 * The byte budget of row results (the SQL providers stop at max_rows but read whole rows): rows that do not fit
 * `max_bytes` as JSON are dropped from the end, and the result says it is truncated. Other providers cut their
 * own answers to max_bytes while reading. Also gives the JSON text of the data kept, written once: its size goes
 * to the audit log and the text itself into the answer.
 */
function fitRows(result: ExecuteResult, maxBytes: number): { result: ExecuteResult; json: string } {
  const json = JSON.stringify(result.data) ?? 'null';
  const data = result.data as { rows?: unknown } | null;
  if (data === null || typeof data !== 'object' || !Array.isArray(data.rows) || Buffer.byteLength(json) <= maxBytes) return { result, json };
  const rows: unknown[] = data.rows;
  let size = jsonBytes({ ...data, rows: [] });
  let kept = 0;
  for (const row of rows) {
    const next = size + jsonBytes(row) + (kept > 0 ? 1 : 0);
    if (next > maxBytes) break;
    size = next;
    kept += 1;
  }
  const fitted = { ...data, rows: rows.slice(0, kept), row_count: kept };
  return { result: { ...result, data: fitted, truncated: true }, json: JSON.stringify(fitted) };
}
