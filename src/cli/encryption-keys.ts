import type { Command } from 'commander';
import { generateKey } from '../crypto/fernet.js';
import { loadKeyRing, run, servicesFor, withContext } from './context.js';

export function register(program: Command): void {
  const keys = program.command('encryption-keys').description('Fernet keys that encrypt connector configs');
  keys
    .command('generate')
    .description('print a new Fernet key (put it first in PATCHBAY_ENCRYPTION_KEYS to make it the primary)')
    .action(() =>
      run(async () => {
        console.log(generateKey());
      }),
    );
  keys
    .command('status')
    .description('how many encrypted values each key id protects')
    .action(() =>
      withContext(async (context) => {
        const rows = await servicesFor(context, loadKeyRing(context.config)).reencrypt.status();
        for (const row of rows) {
          const notes = [row.primary ? 'primary' : '', row.in_ring ? '' : 'NOT IN PATCHBAY_ENCRYPTION_KEYS'].filter(Boolean);
          console.log(`${row.key_id}\t${row.count}${notes.length ? `\t${notes.join(', ')}` : ''}`);
        }
      }),
    );

  program
    .command('reencrypt')
    .description('re-encrypt every value not under the primary key (resumable, safe while servers run)')
    .option('--batch-size <n>', 'rows per batch', '200')
    .action((options: { batchSize: string }) =>
      withContext(async (context) => {
        const batchSize = Number(options.batchSize);
        if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('--batch-size must be a positive whole number');
        const keys = loadKeyRing(context.config);
        const report = await servicesFor(context, keys).reencrypt.reencrypt({ batchSize });
        for (const failure of report.failed) console.error(`cannot re-encrypt ${failure.table} ${failure.id}: ${failure.reason}`);
        console.log(
          `re-encrypted ${report.reencrypted} value(s) under key ${keys.ring.primaryKeyId}` +
            (report.skipped_changed ? `; ${report.skipped_changed} changed meanwhile (run again to check)` : '') +
            (report.failed.length ? `; ${report.failed.length} failed` : ''),
        );
        if (report.failed.length) process.exitCode = 1;
      }),
    );
}
