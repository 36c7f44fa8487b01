import pino, { type Logger } from 'pino';
import type { Sequelize } from 'sequelize';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { KeyRing } from '../crypto/key-ring.js';
import { loadKeyRing, type LoadedKeyRing } from '../crypto/key-source.js';
import { initModels, type Models } from '../db/models/index.js';
import { migrationStatus } from '../db/migrator.js';
import { createSequelize } from '../db/sequelize.js';
import { PatchbayError } from '../errors.js';
import { createLogger } from '../logger.js';
import { createServices, type Services } from '../services/index.js';

/** A failure the CLI reports as one line on stderr with exit code 1. */
export class CliError extends Error {}

export interface CliContext {
  config: Readonly<Config>;
  sequelize: Sequelize;
  models: Models;
}

/** Translates what can go wrong at start-up into one line that says what to fix. Never prints a secret. */
export function describeFailure(error: unknown, config?: Readonly<Config>): string {
  if (error instanceof CliError || error instanceof ConfigError) return error.message;
  if (error instanceof PatchbayError) return error.message;
  const err = error as { name?: string; message?: string; code?: string; parent?: { code?: string; message?: string } };
  const code = err.parent?.code ?? err.code;
  const where = config
    ? config.database.dialect === 'sqlite'
      ? config.database.storage
      : 'the PostgreSQL database in DATABASE_URL'
    : 'the database';
  switch (code) {
    case 'ECONNREFUSED':
      return `cannot reach ${where}: connection refused (is PostgreSQL running?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach ${where}: unknown host`;
    case '3D000':
      return `${where} does not exist: create it first (createdb)`;
    case '28P01':
    case '28000':
      return `cannot log in to ${where}: authentication failed`;
    case 'SQLITE_CANTOPEN':
    case 'EACCES':
    case 'EROFS':
    case 'ENOTDIR':
    case 'EEXIST':
    case 'ENOENT':
      return `cannot write ${where}: the folder is missing or read-only (check permissions or DATABASE_URL)`;
    case 'SQLITE_READONLY':
      return `cannot write ${where}: the file or its folder is read-only`;
    default:
      break;
  }
  if (err.name?.startsWith('Sequelize')) return `database error on ${where}: ${err.parent?.message ?? err.message ?? err.name}`;
  return err.message ?? String(error);
}

/** Opens the database; unless `allowPending`, refuses to run on a schema with pending migrations. */
export async function openContext(options: { allowPending?: boolean } = {}): Promise<CliContext> {
  const config = loadConfig();
  let sequelize: Sequelize | undefined;
  try {
    sequelize = createSequelize(config.database);
    await sequelize.authenticate();
    if (!options.allowPending) {
      const pending = (await migrationStatus(sequelize)).filter((m) => !m.applied);
      if (pending.length)
        throw new CliError(`the database has ${pending.length} pending migration(s): run \`patchbay migrate\` first`);
    }
  } catch (error) {
    await sequelize?.close().catch(() => undefined);
    throw new CliError(describeFailure(error, config));
  }
  return { config, sequelize, models: initModels(sequelize) };
}

/**
 * Every service, from the one composition root the server uses too (services/index.ts). Most commands need no
 * key: without `keyRing` (a command that needs one loads it first, to fail at once when it is missing) the ring
 * is read only if a service asks for a key. Logs go to stderr at `warn` unless the command brings its logger.
 */
export function servicesFor(context: CliContext, keyRing?: LoadedKeyRing, log?: Logger): Services {
  return createServices({
    ...context,
    keyRing: keyRing?.ring ?? KeyRing.deferred(() => loadKeyRing(context.config).ring),
    log: log ?? createLogger({ logLevel: 'warn' }, pino.destination(2)),
  });
}

export { loadKeyRing };

/** Runs one command body: any failure becomes one line on stderr and exit code 1. */
export async function run(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    process.stderr.write(`error: ${describeFailure(error)}\n`);
    process.exitCode = 1;
  }
}

/** One command body with an open database: failures become one line and exit code 1; the database always closes. */
export function withContext(
  body: (context: CliContext) => Promise<void>,
  options: { allowPending?: boolean } = {},
): Promise<void> {
  return run(async () => {
    const context = await openContext(options);
    try {
      await body(context);
    } finally {
      await context.sequelize.close();
    }
  });
}
