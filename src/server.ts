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
import { AccountService } from './services/account-service.js';
import { AgentRegistryService } from './services/agent-registry-service.js';

export const INITIAL_ADMIN_KEY_FILE = 'initial-admin-key';

export interface StartOptions {
  config: Readonly<Config>;
  /** Where to tell a person things (the admin key, the dev-key warning): stdout by default. */
  print?: (line: string) => void;
  /** Run the health scheduler in this process (`patchbay serve --no-scheduler` says false). @default true */
  scheduler?: boolean;
}

/**
 * Start-up in order: keys, database, migrations (under an advisory lock on PostgreSQL), first-start admin,
 * the registry mirror, then listen and start the health scheduler. The only caller of listen(); SIGTERM and
 * SIGINT close everything gracefully (drainThenClose) and exit 0, or 1 when requests had to be cut.
 */
export async function startServer({
  config,
  print = (line) => process.stdout.write(`${line}\n`),
  scheduler = true,
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
  await app.listen({ host: config.host, port: config.port });
  if (scheduler) app.services.scheduler.start();

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal, grace_ms: config.shutdownGraceMs }, 'shutting down');
    drainThenClose(app, config.shutdownGraceMs).then(
      (cut) => process.exit(cut ? 1 : 0),
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

/** How long closing may take once the requests are done or cut, before the process stops waiting for it. */
const CLOSE_TIMEOUT_MS = 10_000;

/**
 * Graceful shutdown, in order: stop accepting connections; let the requests in flight finish (their audit events
 * are written inside them) for up to `graceMs`, then cut the ones left; then app.close(): the scheduler lets its
 * checks in flight finish and record, the pooled connector sessions close, the database closes last. Fastify's
 * own close would run the preClose hooks (scheduler, pools) while requests are still using them, so the server
 * is drained first. Resolves whether requests had to be cut.
 */
async function drainThenClose(app: FastifyInstance, graceMs: number): Promise<boolean> {
  const server = app.server;
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  // A keep-alive connection whose request just finished would otherwise stay open until its timeout.
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  let cut = false;
  let grace: NodeJS.Timeout | undefined;
  await Promise.race([
    drained,
    new Promise<void>((resolve) => {
      grace = setTimeout(() => {
        cut = true;
        app.log.warn({ grace_ms: graceMs }, 'shutdown grace expired; closing the connections still open');
        server.closeAllConnections();
        resolve();
      }, graceMs);
    }),
  ]);
  clearTimeout(grace);
  clearInterval(idle);
  let stuck: NodeJS.Timeout | undefined;
  await Promise.race([
    app.close(),
    new Promise<never>((_resolve, reject) => {
      stuck = setTimeout(() => reject(new Error(`closing took longer than ${CLOSE_TIMEOUT_MS} ms`)), CLOSE_TIMEOUT_MS);
    }),
  ]);
  clearTimeout(stuck);
  return cut;
}
