import type { Connector, Role } from '../db/models/index.js';
import { PatchbayError } from '../errors.js';
import { poolKey, type ExecuteResult, type ProviderHarness } from '../providers/harness.js';
import type { AttachmentService } from './attachment-service.js';
import { effectiveLimits, parseOverride } from './attachment-service.js';
import type { AuditService } from './audit-service.js';
import type { ConnectorService, RequestContext } from './connector-service.js';

/**
 * An execute request: `operation` (or the provider's default) plus that operation's fields, e.g.
 * `{query, params}` or `{operation: "get", key}`. `mode` is only for the direct path.
 */
export type ExecuteBody = Record<string, unknown> & { operation?: string; mode?: 'read' | 'read_write' };

function splitBody(body: ExecuteBody) {
  const { operation, mode, ...input } = body;
  return { operation, mode, input };
}

/** Runs operations through the harness, on the direct path and on an agent's run-time path. */
export class ExecutionService {
  constructor(
    private readonly deps: {
      connectors: ConnectorService;
      attachments: AttachmentService;
      harness: ProviderHarness;
      audit: AuditService;
    },
  ) {}

  private assertEnabled(connector: Connector) {
    if (!connector.enabled) throw new PatchbayError('connector_disabled', `connector ${connector.name} is disabled`);
  }

  /** The reference's execute_query: read mode and default limits unless an admin asks for read_write. */
  async executeDirect(ctx: RequestContext & { role: Role | null }, connectorId: string, body: ExecuteBody): Promise<ExecuteResult> {
    const connector = await this.deps.connectors.require(ctx.organizationId, connectorId);
    const { operation, mode = 'read', input } = splitBody(body);
    if (mode === 'read_write' && ctx.role !== 'admin') throw new PatchbayError('forbidden', 'mode read_write needs an admin');
    return this.run(ctx, connector, { operation, input, mode, override: null, limits: null, boundParams: {}, target: { connector_id: connector.id } });
  }

  /** The run-time path: the attachment's override, mode, limits and bound parameters apply. */
  async executeRuntime(ctx: RequestContext, agentId: string, alias: string, body: ExecuteBody): Promise<ExecuteResult> {
    const { instance, connector } = await this.deps.attachments.byAlias(ctx.organizationId, agentId, alias);
    const { operation, mode, input } = splitBody(body);
    if (mode !== undefined) {
      throw new PatchbayError('validation_failed', 'mode is set by the attachment, not the call', {
        errors: [{ path: 'mode', message: 'not accepted on the run-time path' }],
      });
    }
    return this.run(ctx, connector, {
      operation,
      input,
      mode: instance.mode,
      override: parseOverride(instance),
      limits: instance.limits,
      boundParams: instance.bound_params ?? {},
      instanceId: instance.id,
      target: { connector_id: connector.id, instance_id: instance.id, agent_id: agentId, alias },
    });
  }

  private async run(
    ctx: RequestContext,
    connector: Connector,
    call: {
      operation?: string;
      input: Record<string, unknown>;
      mode: 'read' | 'read_write';
      override: Record<string, unknown> | null;
      limits: Parameters<typeof effectiveLimits>[0];
      boundParams: Record<string, unknown>;
      instanceId?: string;
      target: Record<string, string>;
    },
  ): Promise<ExecuteResult> {
    const audit = (outcome: 'success' | 'failure', detail: Record<string, unknown>) =>
      this.deps.audit.record({
        organization_id: ctx.organizationId,
        actor: ctx.actor,
        action: 'connector.execute',
        target_type: call.instanceId ? 'connector_instance' : 'connector',
        target_id: call.instanceId ?? connector.id,
        outcome,
        detail: { ...call.target, provider: connector.provider, operation: call.operation ?? null, mode: call.mode, ...detail },
        request_id: ctx.requestId,
      });
    try {
      this.assertEnabled(connector);
      const { ratePerMinute: _rate, ...limits } = effectiveLimits(call.limits);
      const config = { ...this.deps.connectors.decrypt(connector), ...(call.override ?? {}) };
      const result = await this.deps.harness.execute({
        providerId: connector.provider,
        poolKey: poolKey(connector.id, connector.version, call.override),
        config,
        operation: call.operation,
        input: call.input,
        call: { mode: call.mode, limits, boundParams: call.boundParams, instanceId: call.instanceId, connectorId: connector.id },
      });
      await audit('success', { latency_ms: result.latency_ms, truncated: result.truncated });
      return result;
    } catch (error) {
      await audit('failure', { error_code: error instanceof PatchbayError ? error.code : 'internal_error' });
      throw error;
    }
  }
}
