import type { Command } from 'commander';
import { provisioningJsonSchema } from '../provisioning/json-schema.js';

export function register(program: Command): void {
  program
    .command('schema')
    .description('print the JSON Schema of a provisioning file (patchbay schema > patchbay.schema.json)')
    .action(() => {
      process.stdout.write(`${JSON.stringify(provisioningJsonSchema(), null, 2)}\n`);
    });
}
