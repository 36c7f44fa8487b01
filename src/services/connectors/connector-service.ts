import { isDeepStrictEqual } from 'node:util';
import { UniqueConstraintError, type Sequelize } from 'sequelize';
import type { Config } from '../../config.js';
import type { KeyRing } from '../../crypto/key-ring.js';
import type { Connector, ConnectorStatus, Models } from '../../db/models/index.js';
import { newId } from '../../db/ids.js';
import { writeTransaction } from '../../db/write-transaction.js';
import { PatchbayError, validationError, type FieldError } from '../../errors.js';
import type { ProviderHarness, TestResult } from '../../providers/harness.js';
import { destinationFieldNames, getProvider, parseConfig, providerIds, secretFieldNames } from '../../providers/registry.js';
import type { Provider, ProviderType } from '../../providers/types.js';
import { assertUnmanaged, managedMark } from '../../provisioning/managed.js';
import { connectorTypes, MASK } from '../../schemas/vocabulary.js';
import type { AuditService } from '../audit-service.js';
import { auditEvent, type RequestContext } from '../context.js';
import { keysetPage } from '../cursor.js';
import { connectorSummary, type HealthService, type RecordOutcome } from '../health/health-service.js';
import type { WebhookService } from '../health/webhook-service.js';

export interface CreateConnectorInput {
  name: string;
  connector_type: string;
  provider: string;
  config: Record<string, unknown>;
  description?: string | null;
  enabled?: boolean;
  health_check_interval_s?: number;
}

export interface UpdateConnectorInput {
  name?: string;
  description?: string | null;
  enabled?: boolean;
  health_check_interval_s?: number;
  /** Merged key by key: MASK keeps a stored secret, null removes an optional field. */
  config?: Record<string, unknown>;
}

export interface ListConnectorsFilter {
  connector_type?: string;
  provider?: string;
  status?: string;
  limit: number;
  cursor?: string;
}


/** Replaces every secret field's value with MASK (absent secrets stay absent). */
export function maskConfig(provider: Provider, config: Record<string, unknown>): Record<string, unknown> {
  const masked = { ...config };
  for (const name of secretFieldNames(provider)) if (masked[name] !== undefined && masked[name] !== null) masked[name] = MASK;
  return masked;
}

/** The provider for a (type, provider) pair, or a 422 naming the field that is wrong. */
export function resolveProvider(connectorType: string, providerId: string): Provider {
  const provider = getProvider(providerId);
  const errors: FieldError[] = [];
  if (!connectorTypes.includes(connectorType as ProviderType)) {
    errors.push({ path: 'connector_type', message: `unknown type; one of ${connectorTypes.join(', ')}` });
  }
  if (!provider) errors.push({ path: 'provider', message: `unknown provider; one of ${providerIds.join(', ')}` });
  else if (errors.length === 0 && provider.type !== connectorType) {
    errors.push({ path: 'provider', message: `${providerId} is a ${provider.type} provider, not ${connectorType}` });
  }
  if (errors.length || !provider) throw validationError(errors);
  return provider;
}

const isEmpty = (value: unknown) =>
  value === undefined || value === null || value === '' || (typeof value === 'object' && Object.keys(value).length === 0);

/**
 * DESIGN.md section 11, "Secrets follow their destination": an update that changes where the connector connects
 * (a field marked `destination()`) must supply every secret the connector holds again, else the stored password
 * or token would be sent to the new server. A secret sent back as MASK is not supplied; null (removing it) is.
 * 422 naming each secret to enter again.
 */
export function refuseSecretsFollowingDestination(
  provider: Provider,
  stored: Record<string, unknown>,
  next: Record<string, unknown>,
  sent: Record<string, unknown>,
): void {
  const moved = destinationFieldNames(provider).filter((name) => !isDeepStrictEqual(next[name], stored[name]));
  if (moved.length === 0) return;
  const missing = secretFieldNames(provider).filter(
    (name) => !isEmpty(stored[name]) && (!Object.hasOwn(sent, name) || sent[name] === MASK),
  );
  if (missing.length === 0) return;
  throw validationError(
    missing.map((name) => ({
      path: `config.${name}`,
      message: `enter it again: ${moved.join(', ')} changed, and a stored secret never follows the connector to a new destination`,
    })),
  );
}

/** Updates one connector tries before a lost version race is answered 409 (only without If-Match). */
const UPDATE_ATTEMPTS = 5;

/** Sequelize's version check found the row updated by someone else between this update's read and its write. */
class LostVersionRace extends PatchbayError {
  constructor() {
    super('conflict', 'the connector changed meanwhile; reload and retry');
  }
}

/** Connectors: create, read, update with merge semantics, delete, test, health history. */
export class ConnectorService {
  /** The last update of each connector being updated in this process, for the next to wait on (inTurn). */
  private readonly turns = new Map<string, Promise<unknown>>();

  constructor(
    private readonly deps: {
      models: Models;
      sequelize: Sequelize;
      keyRing: KeyRing;
      harness: ProviderHarness;
      audit: AuditService;
      config: Readonly<Config>;
      health: HealthService;
      webhooks: WebhookService;
    },
  ) {}

  private get models() {
    return this.deps.models;
  }

  validateInterval(value: number | undefined): void {
    if (value === undefined || value === 0) return;
    const min = this.deps.config.health.minIntervalS;
    if (!Number.isInteger(value) || value < min) {
      throw validationError([{ path: 'health_check_interval_s', message: `0 (off) or at least ${min} seconds` }]);
    }
  }

  /** The validated config, or a 422 listing every wrong field as config.<field>. */
  parseConfigOrThrow(provider: Provider, config: unknown): Record<string, unknown> {
    const parsed = parseConfig(provider, config);
    if (!parsed.success) throw validationError(parsed.errors);
    return parsed.data;
  }

  /** Decrypts a stored config; the binding check makes a token copied from another row fail here. */
  decrypt(connector: Pick<Connector, 'id' | 'organization_id' | 'config_encrypted' | 'key_id'>): Record<string, unknown> {
    return this.deps.keyRing.open(
      { organization_id: connector.organization_id, connector_id: connector.id },
      connector.config_encrypted,
      connector.key_id,
    ) as Record<string, unknown>;
  }

  private seal(organizationId: string, connectorId: string, config: Record<string, unknown>) {
    return this.deps.keyRing.seal({ organization_id: organizationId, connector_id: connectorId }, config);
  }

  /** The API's view of a connector: every secret replaced by MASK. */
  view(connector: Connector) {
    const provider = getProvider(connector.provider);
    let config: Record<string, unknown> | null = null;
    let configError: string | undefined;
    try {
      config = provider ? maskConfig(provider, this.decrypt(connector)) : null;
    } catch (error) {
      configError = error instanceof Error ? error.message : 'cannot decrypt';
    }
    return {
      id: connector.id,
      organization_id: connector.organization_id,
      name: connector.name,
      description: connector.description,
      connector_type: connector.connector_type,
      provider: connector.provider,
      config,
      ...(configError ? { config_error: configError } : {}),
      status: connector.status,
      enabled: connector.enabled,
      health_check_interval_s: connector.health_check_interval_s,
      last_tested_at: connector.last_tested_at?.toISOString() ?? null,
      last_test_result: connector.last_test_result,
      last_error: connector.last_error,
      version: connector.version,
      created_by: connector.created_by,
      created_at: connector.created_at.toISOString(),
      updated_at: connector.updated_at.toISOString(),
      managed_by: connector.managed_by ?? null,
    };
  }

  async create(ctx: RequestContext, input: CreateConnectorInput): Promise<Connector> {
    const provider = resolveProvider(input.connector_type, input.provider);
    const config = this.parseConfigOrThrow(provider, input.config);
    this.validateInterval(input.health_check_interval_s);
    const id = newId();
    const sealed = this.seal(ctx.organizationId, id, config);
    const enabled = input.enabled ?? true;
    const interval = input.health_check_interval_s ?? 300;
    let connector: Connector;
    try {
      connector = await this.models.Connector.create({
        id,
        organization_id: ctx.organizationId,
        name: input.name,
        connector_type: provider.type,
        provider: provider.id,
        config_encrypted: sealed.token,
        key_id: sealed.key_id,
        status: enabled ? 'untested' : 'disabled',
        enabled,
        description: input.description ?? null,
        health_check_interval_s: interval,
        next_check_at: this.deps.health.firstDueAt(interval, enabled),
        last_tested_at: null,
        last_test_result: null,
        last_error: null,
        created_by: ctx.actor.id,
        ...managedMark(ctx),
      });
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', `a connector named "${input.name}" already exists`);
      throw error;
    }
    await this.audit(ctx, 'connector.create', connector.id, 'success', { provider: provider.id });
    return connector;
  }

  /** Another organisation's connector "does not exist". */
  async require(organizationId: string, id: string): Promise<Connector> {
    const connector = await this.models.Connector.findOne({ where: { id, organization_id: organizationId } });
    if (!connector) throw new PatchbayError('not_found', `no connector ${id}`);
    return connector;
  }

  async list(organizationId: string, filter: ListConnectorsFilter) {
    const where: Record<string | symbol, unknown> = { organization_id: organizationId };
    if (filter.connector_type) where.connector_type = filter.connector_type;
    if (filter.provider) where.provider = filter.provider;
    if (filter.status) where.status = filter.status;
    return keysetPage({
      model: this.models.Connector,
      where,
      order: 'ASC',
      limit: filter.limit,
      cursor: filter.cursor,
      map: (c) => this.view(c),
    });
  }

  /**
   * Partial update. `config` merges key by key; MASK keeps a stored secret; null removes a field; the merged
   * config is validated again. A changed config resets healthy/failing to untested and drops pooled sessions.
   */
  async update(ctx: RequestContext, id: string, input: UpdateConnectorInput, ifMatch?: number): Promise<Connector> {
    // Without If-Match the caller asked for the last write to win. Updates of one connector take turns in this
    // process, and one that loses the version race to another process is merged again over the row that won,
    // rather than answered 409.
    return this.inTurn(id, async () => {
      for (let attempt = 1; ; attempt += 1) {
        try {
          return await this.updateOnce(ctx, id, input, ifMatch);
        } catch (error) {
          if (!(error instanceof LostVersionRace) || ifMatch !== undefined || attempt >= UPDATE_ATTEMPTS) throw error;
        }
      }
    });
  }

  /** Runs `work` after every earlier call for the same connector has settled. */
  private inTurn<T>(id: string, work: () => Promise<T>): Promise<T> {
    const turn = (this.turns.get(id) ?? Promise.resolve()).then(work);
    const settled = turn.then(
      () => undefined,
      () => undefined,
    );
    this.turns.set(id, settled);
    void settled.then(() => {
      if (this.turns.get(id) === settled) this.turns.delete(id);
    });
    return turn;
  }

  private async updateOnce(ctx: RequestContext, id: string, input: UpdateConnectorInput, ifMatch?: number): Promise<Connector> {
    const connector = await this.require(ctx.organizationId, id);
    assertUnmanaged(connector, `connector "${connector.name}"`, ctx);
    if (ifMatch !== undefined && ifMatch !== connector.version) {
      throw new PatchbayError('conflict', `the connector changed meanwhile (version ${connector.version}, If-Match ${ifMatch})`);
    }
    const provider = resolveProvider(connector.connector_type, connector.provider);
    this.validateInterval(input.health_check_interval_s);

    let configChanged = false;
    let secretsChanged = false;
    const changes: Partial<Connector> = { ...managedMark(ctx) };
    if (input.config) {
      const stored = this.decrypt(connector);
      const secrets = new Set(secretFieldNames(provider));
      const merged: Record<string, unknown> = { ...stored };
      for (const [key, value] of Object.entries(input.config)) {
        if (value === MASK && secrets.has(key)) continue;
        if (value === null) delete merged[key];
        else merged[key] = value;
      }
      const config = this.parseConfigOrThrow(provider, merged);
      refuseSecretsFollowingDestination(provider, stored, config, input.config);
      configChanged = !isDeepStrictEqual(config, stored);
      secretsChanged = [...secrets].some((name) => !isDeepStrictEqual(config[name], stored[name]));
      if (configChanged) {
        const sealed = this.seal(connector.organization_id, connector.id, config);
        changes.config_encrypted = sealed.token;
        changes.key_id = sealed.key_id;
      }
    }
    if (input.name !== undefined) changes.name = input.name;
    if (input.description !== undefined) changes.description = input.description;
    if (input.health_check_interval_s !== undefined) changes.health_check_interval_s = input.health_check_interval_s;
    if (input.enabled !== undefined) changes.enabled = input.enabled;

    const enabled = input.enabled ?? connector.enabled;
    let status: ConnectorStatus = connector.status;
    if (!enabled) status = 'disabled';
    else if (connector.status === 'disabled' || configChanged) status = 'untested';
    changes.status = status;
    // Disabled: off the schedule. Re-enabled or given a new interval: a fresh, spread-out first due time.
    const interval = input.health_check_interval_s ?? connector.health_check_interval_s;
    if (!enabled) changes.next_check_at = null;
    else if (!connector.enabled || interval !== connector.health_check_interval_s) changes.next_check_at = this.deps.health.firstDueAt(interval);
    // A new config or a return from disabled starts the consecutive-result count again.
    if (configChanged || enabled !== connector.enabled) {
      changes.consecutive_successes = 0;
      changes.consecutive_failures = 0;
    }

    try {
      // The credentials_rotated deliveries commit with the change itself (see WebhookService.enqueue).
      await writeTransaction(this.deps.sequelize, async (transaction) => {
        await connector.update(changes, { transaction });
        if (secretsChanged) {
          await this.deps.webhooks.enqueue(connector.organization_id, 'connector.credentials_rotated', { connector: connectorSummary(connector) }, transaction);
        }
      });
    } catch (error) {
      if (error instanceof UniqueConstraintError) throw new PatchbayError('conflict', `a connector named "${input.name}" already exists`);
      if ((error as Error).name === 'SequelizeOptimisticLockError') throw new LostVersionRace();
      throw error;
    }
    if (configChanged) await this.deps.harness.drop(connector.id);
    await this.audit(ctx, 'connector.update', connector.id, 'success', {
      fields: Object.keys(input),
      config_changed: configChanged,
      credentials_rotated: secretsChanged,
    });
    return connector;
  }

  async delete(ctx: RequestContext, id: string, force: boolean): Promise<void> {
    const connector = await this.require(ctx.organizationId, id);
    assertUnmanaged(connector, `connector "${connector.name}"`, ctx);
    const attached = await this.models.ConnectorInstance.count({ where: { connector_id: connector.id } });
    if (attached > 0 && !force) {
      throw new PatchbayError('connector_in_use', `the connector is attached to ${attached} agent(s): detach them or use ?force=true`);
    }
    await writeTransaction(this.deps.sequelize, async (transaction) => {
      await connector.destroy({ transaction });
      await this.deps.webhooks.enqueue(connector.organization_id, 'connector.deleted', { connector: connectorSummary(connector) }, transaction);
    });
    await this.deps.harness.drop(connector.id);
    await this.audit(ctx, 'connector.delete', connector.id, 'success', { detached: attached });
  }

  /**
   * A manual test: always a result, never an exception. Records the status, the scrubbed last_error and a
   * row of health history. A disabled connector is tested but stays disabled.
   */
  async test(ctx: RequestContext, id: string): Promise<TestResult> {
    const connector = await this.require(ctx.organizationId, id);
    const result = await this.runTest(connector);
    const recorded = await this.recordTest(connector, result, 'manual');
    const changed = recorded && recorded.previous !== recorded.status;
    await this.audit(ctx, 'connector.test', connector.id, result.success ? 'success' : 'failure', {
      ...(result.error_code ? { error_code: result.error_code } : {}),
      latency_ms: result.latency_ms,
      ...(changed ? { status_from: recorded.previous, status_to: recorded.status } : {}),
    });
    return result;
  }

  /** Decrypts the config and tests it with a one-shot connection; like the harness, never throws. Records nothing. */
  async runTest(connector: Pick<Connector, 'id' | 'organization_id' | 'provider' | 'config_encrypted' | 'key_id'>): Promise<TestResult> {
    let config: Record<string, unknown>;
    try {
      config = this.decrypt(connector);
    } catch (error) {
      return { success: false, message: error instanceof Error ? error.message : 'cannot decrypt', latency_ms: 0, error_code: 'internal_error' };
    }
    return this.deps.harness.test(connector.provider, config, { connectorId: connector.id });
  }

  /**
   * Status (section 9: a manual test sets it at once), last_* columns, one health row and the webhook event a
   * status change causes; see HealthService.record. Not a versioned save: a test does not change the config.
   */
  async recordTest(connector: Connector, result: TestResult, source: 'manual' | 'scheduled'): Promise<RecordOutcome | undefined> {
    const recorded = await this.deps.health.record({ connectorId: connector.id, result, source });
    if (recorded) {
      connector.set({
        status: recorded.status,
        last_tested_at: recorded.checkedAt,
        last_test_result: result.success ? 'success' : 'failure',
        last_error: result.success ? null : result.message,
      });
    }
    return recorded;
  }

  /** An unsaved config (admins only: it takes raw addresses). */
  async testUnsaved(ctx: RequestContext, input: { connector_type: string; provider: string; config: Record<string, unknown> }): Promise<TestResult> {
    const provider = resolveProvider(input.connector_type, input.provider);
    this.parseConfigOrThrow(provider, input.config);
    const result = await this.deps.harness.test(provider.id, input.config);
    await this.audit(ctx, 'connector.test_unsaved', undefined, result.success ? 'success' : 'failure', {
      provider: provider.id,
      ...(result.error_code ? { error_code: result.error_code } : {}),
    });
    return result;
  }

  async health(organizationId: string, id: string, page: { limit: number; cursor?: string }) {
    const connector = await this.require(organizationId, id);
    const history = await keysetPage({
      model: this.models.ConnectorHealthCheck,
      where: { connector_id: connector.id },
      order: 'DESC',
      timeColumn: 'checked_at',
      idKind: 'integer',
      limit: page.limit,
      cursor: page.cursor,
      map: (row) => ({
        checked_at: row.checked_at.toISOString(),
        success: row.success,
        latency_ms: row.latency_ms,
        error_code: row.error_code,
        message: row.message,
        source: row.source,
      }),
    });
    return { summary: await this.deps.health.summary(connector.id), ...history };
  }

  private audit(ctx: RequestContext, action: string, targetId: string | undefined, outcome: 'success' | 'failure', detail?: Record<string, unknown>) {
    return this.deps.audit.record(auditEvent(ctx, { action, target_type: 'connector', target_id: targetId, outcome, detail }));
  }
}
