import { isDeepStrictEqual } from 'node:util';
import { QueryTypes, type Sequelize } from 'sequelize';
import type { ProviderHarness, TestResult } from '../../providers/harness.js';
import type { AuditService } from '../audit-service.js';
import { destinationFieldNames } from '../../providers/registry.js';
import { MASK } from '../../schemas/vocabulary.js';
import { refuseSecretsFollowingDestination, resolveProvider, type ConnectorService } from './connector-service.js';
import { auditEvent, type RequestContext } from '../context.js';

/** How many of a connector's latest checks the list carries, for its badge's sparkline. */
export const RECENT_CHECKS = 20;

export interface RecentCheck {
  checked_at: string;
  success: boolean;
  latency_ms: number;
}

/**
 * What the web console needs beyond the reference endpoints: the connector list's recent health in one query,
 * and a test of an edited draft of a saved connector (a connector's attachments: AttachmentService.listForConnector).
 */
export class ConsoleService {
  constructor(
    private readonly deps: {
      sequelize: Sequelize;
      connectors: ConnectorService;
      harness: ProviderHarness;
      audit: AuditService;
    },
  ) {}

  /** The last RECENT_CHECKS checks of each connector, oldest first, in one query whatever the page size. */
  async recentHealth(connectorIds: string[]): Promise<Map<string, RecentCheck[]>> {
    const byConnector = new Map<string, RecentCheck[]>(connectorIds.map((id) => [id, []]));
    if (connectorIds.length === 0) return byConnector;
    const rows = await this.deps.sequelize.query<{ connector_id: string; checked_at: string | Date; success: boolean | number; latency_ms: number }>(
      `SELECT connector_id, checked_at, success, latency_ms FROM (
         SELECT connector_id, checked_at, success, latency_ms,
                ROW_NUMBER() OVER (PARTITION BY connector_id ORDER BY checked_at DESC, id DESC) AS n
         FROM pb_connector_health_checks WHERE connector_id IN (:ids)) recent
       WHERE n <= :limit ORDER BY connector_id, checked_at ASC`,
      { type: QueryTypes.SELECT, replacements: { ids: connectorIds, limit: RECENT_CHECKS } },
    );
    for (const row of rows) {
      byConnector.get(row.connector_id)?.push({
        checked_at: new Date(row.checked_at).toISOString(),
        success: row.success === true || row.success === 1,
        latency_ms: Number(row.latency_ms),
      });
    }
    return byConnector;
  }

  /** The list page with each connector's recent checks. */
  async withRecentHealth<T extends { id: string }>(page: { data: T[]; next_cursor: string | null }) {
    const recent = await this.recentHealth(page.data.map((connector) => connector.id));
    return { ...page, data: page.data.map((connector) => ({ ...connector, recent_health: recent.get(connector.id) ?? [] })) };
  }

  /**
   * Tests an edited, unsaved draft of a saved connector; records nothing but an audit event. The draft merges
   * over the stored config as PUT does (MASK or an absent secret keeps the stored one, null removes a field), but
   * the stored secrets come along only while no destination field changed (connector-service's rule for PUT).
   */
  async testDraft(ctx: RequestContext, id: string, draft: Record<string, unknown>): Promise<TestResult> {
    const { connectors } = this.deps;
    const connector = await connectors.require(ctx.organizationId, id);
    const provider = resolveProvider(connector.connector_type, connector.provider);
    const stored = connectors.decrypt(connector);
    // Merged as PUT merges (MASK keeps the stored secret, null removes a field), under PUT's rule that a stored
    // secret is never sent to a changed destination unless it is entered again.
    const merged: Record<string, unknown> = { ...stored };
    for (const [key, value] of Object.entries(draft)) {
      if (value === null) delete merged[key];
      else if (value !== MASK) merged[key] = value;
    }
    refuseSecretsFollowingDestination(provider, stored, merged, draft);
    const destinationChanged = destinationFieldNames(provider).some((name) => !isDeepStrictEqual(merged[name], stored[name]));
    const config = connectors.parseConfigOrThrow(provider, merged);
    const result = await this.deps.harness.test(provider.id, config);
    await this.deps.audit.record(
      auditEvent(ctx, {
        action: 'connector.test_draft',
        target_type: 'connector',
        target_id: connector.id,
        outcome: result.success ? 'success' : 'failure',
        detail: { destination_changed: destinationChanged, ...(result.error_code ? { error_code: result.error_code } : {}) },
      }),
    );
    return result;
  }
}
