import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { desiredState } from '../provisioning/desired.js';
import { readProvisioningFile, type ReadFile } from '../provisioning/file.js';
import { formatPlan } from '../provisioning/plan.js';
import type { PlanResult } from '../provisioning/service.js';
import { CliError } from './context.js';
import { addRemoteOptions, describeProvisioningFailure, planFile, remoteOf, withLocalServices, type RemoteOptions } from './plan.js';

async function confirmed(): Promise<boolean> {
  if (!process.stdin.isTTY) throw new CliError('not a terminal: add --yes to apply without a confirmation');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question('Apply these changes? [y/N] ')).trim());
  } finally {
    prompt.close();
  }
}

export function register(program: Command): void {
  addRemoteOptions(
    program
      .command('apply')
      .description("make an organization match a provisioning file, in one transaction: all of it or nothing")
      .requiredOption('-f, --file <file>', 'the provisioning file (YAML or JSON)')
      .option('--prune', 'also delete what the organization holds and the file does not name')
      .option('--yes', 'apply without asking'),
  ).action(async (options: RemoteOptions & { file: string; prune?: boolean; yes?: boolean }) => {
    let read: ReadFile | undefined;
    try {
      read = readProvisioningFile(options.file, { env: process.env });
      const prune = options.prune ?? false;
      const plan = await planFile(read, options);
      process.stdout.write(formatPlan(plan.organization, plan.changes));
      if (plan.changes.length === 0) return;
      if (!options.yes && !(await confirmed())) {
        process.stdout.write('nothing applied\n');
        return;
      }
      const remote = remoteOf(options);
      const document = read.document;
      let applied: PlanResult;
      if (remote) applied = await remote.apply(plan.organization, document, prune);
      else applied = await withLocalServices((services) => services.provisioning.apply({ actor: { type: 'system', id: null }, role: 'admin' }, desiredState(document), { prune }));
      const count = (action: string) => applied.changes.filter((c) => c.action === action).length;
      process.stdout.write(`applied to organization ${applied.organization}: ${count('create')} created, ${count('update')} updated, ${count('delete')} deleted\n`);
    } catch (error) {
      process.stderr.write(`error: ${describeProvisioningFailure(error, read)}\n`);
      process.exitCode = 1;
    }
  });
}
