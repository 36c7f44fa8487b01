import type { Command } from 'commander';
import { PatchbayError } from '../errors.js';
import { desiredState } from '../provisioning/desired.js';
import { locateError, ProvisioningFileError, readProvisioningFile, type ReadFile } from '../provisioning/file.js';
import { formatPlan } from '../provisioning/plan.js';
import { RemotePatchbay } from '../provisioning/remote.js';
import type { PlanResult } from '../provisioning/service.js';
import type { Services } from '../services/index.js';
import { describeFailure, loadKeyRing, openContext, servicesFor } from './context.js';

/** How plan, apply and export reach Patchbay: this machine's database as an operator, or a server as an admin. */
export interface RemoteOptions {
  apiKey?: string;
  url?: string;
}

export const addRemoteOptions = (command: Command): Command =>
  command
    .option('--api-key <key>', 'act through the HTTP API of --url with this API key (an admin of the organization)')
    .option('--url <url>', 'the Patchbay server for --api-key, e.g. https://patchbay.example.com');

export function remoteOf(options: RemoteOptions): RemotePatchbay | undefined {
  if (!options.apiKey && !options.url) return undefined;
  if (!options.apiKey || !options.url) throw new PatchbayError('bad_request', '--api-key and --url go together');
  return new RemotePatchbay(options.url, options.apiKey);
}

/** Runs `body` with the services on the configured database, as the operator's CLI does; always closes it. */
export async function withLocalServices<T>(body: (services: Services) => Promise<T>): Promise<T> {
  const context = await openContext();
  try {
    const services = servicesFor(context, loadKeyRing(context.config));
    try {
      return await body(services);
    } finally {
      await services.harness.close();
    }
  } finally {
    await context.sequelize.close();
  }
}

/** One line: a file error names file, line and field; a refusal that points into the file is mapped to its line. */
export function describeProvisioningFailure(error: unknown, read: ReadFile | undefined): string {
  const located = locateError(error, read);
  return located instanceof ProvisioningFileError ? located.message : describeFailure(located);
}

/** The file's plan, here or on the server. */
export async function planFile(read: ReadFile, options: RemoteOptions & { prune?: boolean }): Promise<PlanResult> {
  const prune = options.prune ?? false;
  const remote = remoteOf(options);
  if (remote) return remote.plan(String(read.document.organization ?? ''), read.document, prune);
  const desired = desiredState(read.document);
  return withLocalServices((services) => services.provisioning.plan(desired, { prune }));
}

export function register(program: Command): void {
  addRemoteOptions(
    program
      .command('plan')
      .description('show what applying a provisioning file would change; exit code 0: nothing, 2: changes, 1: error')
      .requiredOption('-f, --file <file>', 'the provisioning file (YAML or JSON)')
      .option('--prune', 'also show the deletions of what the file does not name'),
  ).action(async (options: RemoteOptions & { file: string; prune?: boolean }) => {
    let read: ReadFile | undefined;
    try {
      read = readProvisioningFile(options.file, { env: process.env });
      const result = await planFile(read, options);
      process.stdout.write(formatPlan(result.organization, result.changes));
      process.exitCode = result.changes.length > 0 ? 2 : 0;
    } catch (error) {
      process.stderr.write(`error: ${describeProvisioningFailure(error, read)}\n`);
      process.exitCode = 1;
    }
  });
}
