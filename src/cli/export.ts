import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { exportState, type ExportedFile } from '../provisioning/export.js';
import { CliError, run } from './context.js';
import { addRemoteOptions, remoteOf, withLocalServices, type RemoteOptions } from './plan.js';

export function register(program: Command): void {
  addRemoteOptions(
    program
      .command('export')
      .description("write an organization's state as a provisioning file; secrets become ${env:…} references, listed on stderr")
      .option('--org <slug>', 'the organization (slug or id); needed when there are several')
      .option('-o, --output <file>', 'write the file here instead of stdout'),
  ).action((options: RemoteOptions & { org?: string; output?: string }) =>
    run(async () => {
      const remote = remoteOf(options);
      let exported: ExportedFile;
      if (remote) {
        if (!options.org) throw new CliError('--org is needed with --api-key');
        exported = await remote.export(options.org);
      } else {
        exported = await withLocalServices(async (services) => {
          let org = options.org ? await services.accounts.requireOrganization(options.org) : undefined;
          if (!org) {
            const all = await services.accounts.listOrganizations();
            if (all.length !== 1) throw new CliError(`there are ${all.length} organizations: choose one with --org`);
            org = all[0];
          }
          return exportState(org!.slug, await services.provisioning.read(org!.id));
        });
      }
      if (options.output) writeFileSync(options.output, exported.text);
      else process.stdout.write(exported.text);
      for (const variable of exported.variables) process.stderr.write(`set ${variable.name}  (${variable.secret})\n`);
    }),
  );
}
