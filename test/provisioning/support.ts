import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { generateKey } from '../../src/crypto/fernet.js';
import { KeyRing } from '../../src/crypto/key-ring.js';
import { initModels } from '../../src/db/models/index.js';
import { desiredState } from '../../src/provisioning/desired.js';
import { readProvisioningFile } from '../../src/provisioning/file.js';
import { createServices } from '../../src/services/index.js';
import { patchbay } from '../support/cli.js';
import { migratedDatabase, type Dialect } from '../support/db.js';

let counter = 0;

/**
 * A migrated database of `dialect` with one organization, the services on it (to read what an apply did), a
 * folder for provisioning files, and `cli(args, env)` running `patchbay` on that database as a child process.
 */
export async function provisioningSetup(t: TestContext, dialect: Dialect) {
  const database = await migratedDatabase(t, dialect);
  if (!database) return undefined;
  const key = generateKey();
  const keyRing = KeyRing.fromKeys([key]);
  const config = loadConfig({ DATABASE_URL: database.db.url });
  const models = initModels(database.sequelize);
  const services = createServices({ config, sequelize: database.sequelize, models, keyRing, log: pino({ level: 'silent' }) });
  t.after(() => services.harness.close());
  const slug = `prov-${process.pid}-${++counter}`;
  const organization = await services.accounts.createOrganization({ slug });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-provisioning-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const baseEnv = { DATABASE_URL: database.db.url, PATCHBAY_ENCRYPTION_KEYS: key, LOG_LEVEL: 'warn' };
  return {
    ...database,
    key,
    keyRing,
    models,
    services,
    organization,
    dir,
    baseEnv,
    /** Writes `text` as `name` in the folder; returns its path. */
    write(name: string, text: string): string {
      const file = path.join(dir, name);
      writeFileSync(file, text);
      return file;
    },
    cli: (args: string[], env: Record<string, string> = {}) => patchbay(args, { ...baseEnv, ...env }),
    auditCount: () => models.AuditEvent.count({ where: { organization_id: organization.id } }),
  };
}

/** The config a connector holds now, decrypted (for asserting what an apply stored). */
export async function storedConfig(setup: NonNullable<Awaited<ReturnType<typeof provisioningSetup>>>, name: string, organizationId = setup.organization.id) {
  const row = await setup.models.Connector.findOne({ where: { organization_id: organizationId, name } });
  if (!row) return undefined;
  return { row, config: setup.services.connectors.decrypt(row) };
}

type Setup = NonNullable<Awaited<ReturnType<typeof provisioningSetup>>>;

/** `patchbay plan` in this process: the same reading and service, without a child's start-up time. */
export async function planHere(setup: Setup, file: string, env: Record<string, string>, prune = false) {
  return setup.services.provisioning.plan(desiredState(readProvisioningFile(file, { env }).document), { prune });
}

/** `patchbay apply --yes` in this process, as the operator's CLI acts. */
export async function applyHere(setup: Setup, file: string, env: Record<string, string>, prune = false) {
  return setup.services.provisioning.apply({ actor: { type: 'system', id: null }, role: 'admin' }, desiredState(readProvisioningFile(file, { env }).document), { prune });
}
