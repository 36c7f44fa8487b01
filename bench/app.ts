/**
 * The app the run-time benchmarks drive: built on a migrated database with the rate limit out of the way, an
 * organisation with one admin (with an API key), and an agent with a token. Each benchmark attaches its own
 * connectors. The encryption key is returned for benchmarks that go on to serve the database from another process.
 */
import pino from 'pino';
import type { Sequelize } from 'sequelize';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { generateKey } from '../src/crypto/fernet.js';
import { KeyRing } from '../src/crypto/key-ring.js';
import { inOrganization } from '../test/support/contexts.js';

export async function benchApp(sequelize: Sequelize, databaseUrl: string, poolMax: number, cleanups: (() => Promise<void>)[]) {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    LOG_LEVEL: 'silent',
    PATCHBAY_RATE_LIMIT_PER_KEY: '100000000',
    PATCHBAY_POOL_MAX: String(poolMax),
  });
  const key = generateKey();
  const app = await buildApp({ config, keyRing: KeyRing.fromKeys([key]), sequelize, logger: pino({ level: 'silent' }) });
  cleanups.unshift(() => app.close());
  const { accounts, agents } = app.services;
  const { organization, user, apiKey } = await accounts.addMember({
    organization: (await accounts.createOrganization({ slug: 'bench' })).slug,
    email: 'bench@example.test',
    role: 'admin',
  });
  const admin = { organizationId: organization.id, actor: { type: 'user' as const, id: user.id }, role: 'admin' as const };
  const agent = await agents.create(inOrganization(organization.id, user.id), { id: 'bench-agent' });
  const token = await agents.issueToken(inOrganization(agent.organization_id, user.id), agent, {});
  return { app, admin, apiKey: apiKey.key, agent, token, key };
}
