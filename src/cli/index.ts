#!/usr/bin/env node
import { Command } from 'commander';
import { packageVersion } from '../version.js';
import { register as apiKeys } from './api-keys.js';
import { register as apply } from './apply.js';
import { register as connectors } from './connectors.js';
import { register as encryptionKeys } from './encryption-keys.js';
import { register as exportState } from './export.js';
import { register as importFile } from './import.js';
import { register as migrate } from './migrate.js';
import { register as orgs } from './orgs.js';
import { register as plan } from './plan.js';
import { register as schema } from './schema.js';
import { register as scheduler } from './scheduler.js';
import { register as serve } from './serve.js';
import { register as users } from './users.js';

const program = new Command()
  .name('patchbay')
  .description('Connector registry and gateway for AI agents')
  .version(packageVersion);
// commander's own errors (unknown command, missing option) are already one line; keep exit code 1.
program.exitOverride((error) => {
  process.exit(error.exitCode === 0 ? 0 : 1);
});

for (const register of [serve, scheduler, migrate, orgs, users, apiKeys, encryptionKeys, connectors, plan, apply, exportState, schema, importFile]) register(program);

await program.parseAsync(process.argv);
