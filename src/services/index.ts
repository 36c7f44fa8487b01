import type { Logger } from 'pino';
import type { Sequelize } from 'sequelize';
import type { Config } from '../config.js';
import type { KeyRing } from '../crypto/key-ring.js';
import type { Models } from '../db/models/index.js';
import { ProviderHarness } from '../providers/harness.js';
import { AccountService } from './accounts/account-service.js';
import { AgentRegistryService } from './connectors/agent-registry-service.js';
import { AgentService } from './accounts/agent-service.js';
import { AttachmentService } from './connectors/attachment-service.js';
import { AuditService } from './audit-service.js';
import { AuditWriter } from './audit-writer.js';
import { ChangeFeed } from './runtime/change-feed.js';
import { ConnectorService } from './connectors/connector-service.js';
import { ExecutionService } from './runtime/execution-service.js';
import { HealthService } from './health/health-service.js';
import { HotStatements } from './hot-statements.js';
import { McpService } from './runtime/mcp-server.js';
import { Metrics } from './health/metrics.js';
import { PrincipalCache } from './runtime/principal-cache.js';
import { RateLimitService } from './runtime/rate-limit-service.js';
import { ReencryptService } from './connectors/reencrypt-service.js';
import { RetentionService } from './health/retention-service.js';
import { HealthScheduler } from './health/scheduler.js';
import { SessionService } from './accounts/session-service.js';
import { ConsoleService } from './connectors/console-service.js';
import { ToolService } from './runtime/tool-service.js';
import { WebhookService } from './health/webhook-service.js';
import { ProvisioningService } from '../provisioning/service.js';

export interface ServiceDeps {
  config: Readonly<Config>;
  sequelize: Sequelize;
  models: Models;
  keyRing: KeyRing;
  log: Logger;
  /** What health checks, due times, deliveries, retention and rate windows take as "now". @default the system clock (tests pass their own) */
  clock?: () => Date;
}

/** Wires every service once; the CLI, the HTTP routes and the tests all drive these same objects. */
export function createServices(deps: ServiceDeps) {
  const { config, sequelize, models, keyRing, log, clock } = deps;
  // Connector ids label the metrics only behind PATCHBAY_METRICS_TOKEN (DESIGN.md section 3).
  const metrics = new Metrics({ withConnectorIds: config.metricsToken !== undefined });
  const harness = new ProviderHarness({
    egress: config.egress,
    poolMax: config.poolMax,
    poolIdleMs: config.poolIdleMs,
    sqliteRoot: config.sqliteRoot,
    logger: log,
    onCall: (call) => metrics.observeCall(call),
  });
  metrics.watchPools({ sequelize, providerSessions: () => harness.pooledSessions });
  // The run-time path's writes (audit rows, last_used_at, rate counters) go through one group-commit writer; its
  // reads (credentials, attachments) come from a cache that the change feed keeps current. The feed hears other
  // processes once started (`start()`, by whoever serves run-time calls).
  const statements = new HotStatements(sequelize);
  const writer = new AuditWriter({ statements, log });
  const changes = new ChangeFeed({ sequelize, models, databaseUrl: config.database.dialect === 'postgres' ? config.database.url : undefined, log });
  const runtime = new PrincipalCache({ feed: changes, writer, ttlMs: config.cacheTtlMs });
  const audit = new AuditService(models, writer);
  const accounts = new AccountService(models, sequelize, runtime, audit);
  const sessions = new SessionService(models, clock, audit);
  const agents = new AgentService(models, audit, runtime);
  const registry = new AgentRegistryService({ models, sequelize, policysynthUserId: config.policysynthUserId, audit });
  const webhooks = new WebhookService({ models, sequelize, keyRing, audit, config, log, metrics, clock });
  const health = new HealthService({ models, sequelize, audit, webhooks, config, clock });
  const connectors = new ConnectorService({ models, sequelize, keyRing, harness, audit, config, health, webhooks });
  const attachments = new AttachmentService({ models, connectors, agents, audit });
  const rateLimits = new RateLimitService({ sequelize, clock, writer, statements });
  const execution = new ExecutionService({ connectors, attachments, harness, audit, rateLimits, runtime });
  const tools = new ToolService({ attachments, agents, runtime });
  const mcp = new McpService({ tools, execution, attachments, audit });
  const reencrypt = new ReencryptService(sequelize, keyRing, () => changes.invalidate(['connector:*']));
  const consoleViews = new ConsoleService({ sequelize, connectors, harness, audit });
  const provisioning = new ProvisioningService({ sequelize, models, keyRing, accounts, connectors, agents, attachments, webhooks });
  const retention = new RetentionService({ sequelize, config, clock });
  // Built, not started: `patchbay serve` (unless --no-scheduler) and `patchbay scheduler` start it.
  const scheduler = new HealthScheduler({ health, connectors, webhooks, retention, log, metrics, options: { concurrency: config.health.concurrency } });
  return {
    harness,
    writer,
    changes,
    runtime,
    audit,
    accounts,
    sessions,
    consoleViews,
    agents,
    registry,
    connectors,
    attachments,
    execution,
    rateLimits,
    tools,
    mcp,
    reencrypt,
    provisioning,
    keyRing,
    metrics,
    webhooks,
    health,
    retention,
    scheduler,
  };
}

export type Services = ReturnType<typeof createServices>;
