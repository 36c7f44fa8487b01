import type { Logger } from 'pino';
import type { Sequelize } from 'sequelize';
import type { Config } from '../config.js';
import type { KeyRing } from '../crypto/key-ring.js';
import type { Models } from '../db/models/index.js';
import { ProviderHarness } from '../providers/harness.js';
import { AccountService } from './account-service.js';
import { AgentRegistryService } from './agent-registry-service.js';
import { AgentService } from './agent-service.js';
import { AttachmentService } from './attachment-service.js';
import { AuditService } from './audit-service.js';
import { ConnectorService } from './connector-service.js';
import { ExecutionService } from './execution-service.js';
import { ReencryptService } from './reencrypt-service.js';

export interface ServiceDeps {
  config: Readonly<Config>;
  sequelize: Sequelize;
  models: Models;
  keyRing: KeyRing;
  log: Logger;
}

/** Wires every service once; the CLI, the HTTP routes and the tests all drive these same objects. */
export function createServices(deps: ServiceDeps) {
  const { config, sequelize, models, keyRing } = deps;
  const harness = new ProviderHarness({
    egress: config.egress,
    poolMax: config.poolMax,
    poolIdleMs: config.poolIdleMs,
    sqliteRoot: config.sqliteRoot,
    logger: deps.log,
  });
  const audit = new AuditService(models);
  const accounts = new AccountService(models, sequelize);
  const agents = new AgentService(models);
  const registry = new AgentRegistryService({ models, sequelize, policysynthUserId: config.policysynthUserId });
  const connectors = new ConnectorService({ models, sequelize, keyRing, harness, audit, config });
  const attachments = new AttachmentService({ models, connectors, agents, audit });
  const execution = new ExecutionService({ connectors, attachments, harness, audit });
  const reencrypt = new ReencryptService(sequelize, keyRing);
  return { harness, audit, accounts, agents, registry, connectors, attachments, execution, reencrypt, keyRing };
}

export type Services = ReturnType<typeof createServices>;
