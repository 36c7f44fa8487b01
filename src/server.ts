import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { buildApp } from './app.js';
import { devKeyWarning, loadKeyRing } from './crypto/key-source.js';
import { migrateUp } from './db/migrator.js';
import { initModels } from './db/models/index.js';
import { createSequelize } from './db/sequelize.js';
import { createLogger } from './logger.js';
import { catalogueForRegistry } from './providers/catalogue.js';
import { applyProvisioningDir } from './provisioning/startup.js';
import { AccountService } from './services/account-service.js';
import { AgentRegistryService } from './services/agent-registry-service.js';

export const INITIAL_ADMIN_KEY_FILE = 'initial-admin-key';

export interface StartOptions {
  config: Readonly<Config>;
  /** Where to tell a person things (the admin key, the dev-key warning): stdout by default. */
  print?: (line: string) => void;
  /** Run the health scheduler in this process (`patchbay serve --no-scheduler` says false). @default true */
  scheduler?: boolean;
  /** Where `${env:NAME}` references of PATCHBAY_PROVISIONING_DIR's files look (`patchbay serve` passes its environment). @default {} */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Start-up in order: keys, database, migrations (under an advisory lock on PostgreSQL), first-start admin,
 * the registry mirror, the files of PATCHBAY_PROVISIONING_DIR, then listen and start the health scheduler. The
 * only caller of listen(); SIGTERM and SIGINT close everything.
 */
export async function startServer({
  config,
  print = (line) => process.stdout.write(`${line}\n`),
  scheduler = true,
  env = {},
}: StartOptions): Promise<FastifyInstance> {
  const logger = createLogger(config);
  const keys = loadKeyRing(config);
  if (keys.devKeyFile) {
    const banner = '!'.repeat(100);
    print(banner);
    print(devKeyWarning(keys.devKeyFile));
    print(banner);
    logger.warn({ file: keys.devKeyFile, created: keys.devKeyCreated }, 'using a development encryption key');
  }

  const sequelize = createSequelize(config.database);
  try {
    await sequelize.authenticate();
    const applied = await migrateUp(sequelize);
    if (applied.length) logger.info({ migrations: applied }, 'migrations applied');

    const models = initModels(sequelize);
    const registry = new AgentRegistryService({ models, sequelize, policysynthUserId: config.policysynthUserId });
    await registry.ensureRegistry();
    await registry.mirrorProviders(catalogueForRegistry());

    const first = await new AccountService(models, sequelize).bootstrap();
    if (first) {
      print(`Created organization "default" with admin ${first.email} (an installation operator).`);
      print(`Initial admin API key, shown once: ${first.apiKey.key}`);
      if (config.database.dialect === 'sqlite' && config.database.storage !== ':memory:') {
        const file = path.join(path.dirname(config.database.storage), INITIAL_ADMIN_KEY_FILE);
        writeFileSync(file, `${first.apiKey.key}\n`, { mode: 0o600 });
        print(`Also written to ${path.relative(process.cwd(), file) || file} (mode 0600).`);
      }
    }
  } catch (error) {
    await sequelize.close().catch(() => undefined);
    throw error;
  }

  const app = await buildApp({ config, keyRing: keys.ring, sequelize, logger });
  app.addHook('onClose', async () => sequelize.close());
  // Before the database closes: the checks in flight finish (each within its own deadline) and record.
  app.addHook('preClose', async () => app.services.scheduler.stop());
  if (config.provisioningDir) {
    try {
      await applyProvisioningDir(config.provisioningDir, app.services, { env, log: logger });
    } catch (error) {
      await app.close().catch(() => undefined);
      throw error;
    }
  }
  await app.listen({ host: config.host, port: config.port });
  if (scheduler) app.services.scheduler.start();

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  return app;
}
