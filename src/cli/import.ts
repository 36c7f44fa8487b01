import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { importToolbox } from '../provisioning/toolbox.js';
import { CliError, run } from './context.js';

export function register(program: Command): void {
  const imports = program.command('import').description('turn another tool\'s configuration into a provisioning file');
  imports
    .command('toolbox <tools-yaml>')
    .description("MCP Toolbox's sources as connectors (its ${ENV} references kept); what cannot be mapped is listed on stderr")
    .option('--org <slug>', 'the organization the file declares', 'default')
    .option('-o, --output <file>', 'write the file here instead of stdout')
    .action((file: string, options: { org: string; output?: string }) =>
      run(async () => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (error) {
          throw new CliError(`${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
        }
        const result = importToolbox(text, options.org);
        if (options.output) writeFileSync(options.output, result.text);
        else process.stdout.write(result.text);
        process.stderr.write(`imported ${result.imported.length} source(s): ${result.imported.join(', ') || 'none'}\n`);
        for (const s of result.skipped) process.stderr.write(`skipped ${s.name} (${s.kind}): ${s.reason}\n`);
        for (const v of result.variables) process.stderr.write(`set ${v.name}: it held a literal secret in tools.yaml\n`);
        for (const n of result.notes) process.stderr.write(`note: ${n}\n`);
      }),
    );
}
