import { closeSync, constants, openSync, realpathSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError, type Config } from './config.js';
import { buildApp } from './app.js';
import { devKeyWarning, loadKeyRing } from './crypto/key-source.js';
import { migrateUp } from './db/migrator.js';
import { createSequelize } from './db/sequelize.js';
import { createLogger } from './logger.js';
import { catalogueForRegistry } from './providers/catalogue.js';
import { applyProvisioningDir } from './provisioning/startup.js';

export const INITIAL_ADMIN_KEY_FILE = 'initial-admin-key';

/** The real path of `target`, or of its nearest existing ancestor joined with the rest (a file not made yet). */
function realPathOf(target: string): string {
  const missing: string[] = [];
  let current = path.resolve(target);
  for (;;) {
    try {
      return path.join(realpathSync(current), ...missing.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return path.resolve(target);
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

const isInside = (folder: string, target: string): boolean => {
  const relative = path.relative(folder, target);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
};

/**
 * `sqlite` connectors may open any file under PATCHBAY_SQLITE_ROOT: if Patchbay's own database folder were in
 * there (the database, `dev-encryption.key`, `initial-admin-key`), a connector could read the API key hashes and
 * encrypted configs, or write them. Compared on real paths, so a symbolic link does not hide it.
 */
export function assertSqliteRootApart(config: Readonly<Config>): void {
  const { database } = config;
  if (database.dialect !== 'sqlite' || database.storage === ':memory:') return;
  const root = realPathOf(config.sqliteRoot);
  const ownFolder = realPathOf(path.dirname(database.storage));
  if (isInside(root, ownFolder)) {
    throw new ConfigError(
      'PATCHBAY_SQLITE_ROOT',
      `${config.sqliteRoot} contains Patchbay's own database folder (${path.dirname(database.storage)}): choose a folder that holds only the databases connectors may open`,
    );
  }
}

/**
 * The first admin's key beside the database, mode 0600. Created exclusively and never through a symbolic link:
 * whatever already sits at that name (a stale file, a link planted to make us write elsewhere) stays untouched,
 * and the key is only printed, with a loud warning.
 */
function writeInitialAdminKey(file: string, key: string, print: (line: string) => void, logger: Logger): void {
  const shown = path.relative(process.cwd(), file) || file;
  let fd: number;
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    const banner = '!'.repeat(100);
    print(banner);
    print(`WARNING: did not write ${shown} (${code === 'EEXIST' ? 'something is already there' : code}): copy the key above now, it is not shown again.`);
    print(banner);
    logger.warn({ file, code }, 'initial admin key file not written');
    return;
  }
  try {
    writeSync(fd, `${key}\n`);
  } finally {
    closeSync(fd);
  }
  print(`Also written to ${shown} (mode 0600).`);
}

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
 * only caller of listen(); SIGTERM and SIGINT close everything gracefully (drainThenClose) and exit 0, or 1 when
 * requests had to be cut.
 */
export async function startServer({
  config,
  print = (line) => process.stdout.write(`${line}\n`),
  scheduler = true,
  env = {},
}: StartOptions): Promise<FastifyInstance> {
  assertSqliteRootApart(config);
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
  } catch (error) {
    await sequelize.close().catch(() => undefined);
    throw error;
  }

  const app = await buildApp({ config, keyRing: keys.ring, sequelize, logger });
  app.addHook('onClose', async () => sequelize.close());
  // Before the database closes: the checks in flight finish (each within its own deadline) and record.
  app.addHook('preClose', async () => app.services.scheduler.stop());
  try {
    // Through the app's own services: start-up builds no second set.
    const { registry, accounts } = app.services;
    await registry.ensureRegistry();
    await registry.mirrorProviders(catalogueForRegistry());
    const first = await accounts.bootstrap();
    if (first) {
      print(`Created organization "default" with admin ${first.email} (an installation operator).`);
      print(`Initial admin API key, shown once: ${first.apiKey.key}`);
      if (config.database.dialect === 'sqlite' && config.database.storage !== ':memory:') {
        writeInitialAdminKey(path.join(path.dirname(config.database.storage), INITIAL_ADMIN_KEY_FILE), first.apiKey.key, print, logger);
      }
    }
    if (config.provisioningDir) await applyProvisioningDir(config.provisioningDir, app.services, { env, log: logger });
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  await app.listen({ host: config.host, port: config.port });
  if (app.hasRoute({ method: 'GET', url: '/console/' })) {
    const { port } = app.server.address() as { port: number };
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
    print(`Web console: http://${host}:${port}/console/ (sign in with an API key)`);
  }
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
