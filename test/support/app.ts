import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config, type Environment } from '../../src/config.js';
import { generateKey } from '../../src/crypto/fernet.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import type { initModels } from '../../src/db/models/index.js';
import { loggerOptions } from '../../src/logger.js';
import type { AccountService } from '../../src/services/accounts/account-service.js';
import { migratedDatabase, type Dialect } from './db.js';

/** Every log line the app wrote, as text: tests assert no secret ever reaches one. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void) {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    callback();
  }
  get text() {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: FastifyInstance;
  config: Readonly<Config>;
  keyRing: KeyRing;
  logs: LogCapture;
  accounts: AccountService;
  models: ReturnType<typeof initModels>;
  /** Creates an organisation and a user with that role; returns the user's API key and ids. */
  user(role: 'admin' | 'developer' | 'member', options?: { org?: string; operator?: boolean }): Promise<{ key: string; userId: string; orgId: string; orgSlug: string }>;
}

let counter = 0;

export interface BuildOptions {
  dialect?: Dialect;
  env?: Environment;
  /** On PostgreSQL, the server to make the database on (an admin URL). @default the machine's shared server */
  server?: string;
}

/** The app on a fresh migrated database of the given dialect, closed and dropped after the test. */
export async function build(t: TestContext, options: BuildOptions = {}): Promise<TestApp | undefined> {
  const dialect = options.dialect ?? 'sqlite';
  const database = await migratedDatabase(t, dialect, options.server);
  if (!database) return undefined;
  const config = loadConfig({ LOG_LEVEL: 'info', ...options.env, DATABASE_URL: database.db.url });
  const keyRing = KeyRing.fromKeys([generateKey()]);
  const logs = new LogCapture();
  const app = await buildApp({ config, keyRing, sequelize: database.sequelize, logger: pino(loggerOptions(config), logs) });
  t.after(() => app.close());
  // The app's own models and services: writes a test makes behind the API's back then reach the app's caches as
  // any write of the serving process does (the change feed hears its models' hooks).
  const { models } = app.db;
  const { accounts } = app.services;
  return {
    app,
    config,
    keyRing,
    logs,
    accounts,
    models,
    async user(role, { org, operator } = {}) {
      const slug = org ?? `org-${process.pid}-${++counter}`;
      const organization = (await accounts.findOrganization(slug)) ?? (await accounts.createOrganization({ slug }));
      const result = await accounts.addMember({ organization: slug, email: `${role}-${++counter}@example.test`, role, operator });
      return { key: result.apiKey.key, userId: result.user.id, orgId: organization.id, orgSlug: organization.slug };
    },
  };
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
